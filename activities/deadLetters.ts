import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { deadLetterKey } from '../domain/core/itemKeys';
import { deadLetterAlert, type Alert } from '../domain/publishing/alerts';
import type { DeadLetter } from '../domain/shards/shardTypes';
import { mapLimit } from './concurrency';
import type { ActivityDeps } from './deps';
import { classified } from './failures';
import type { AlertPublisher } from './publishing/alertPublisher';

const WRITE_CONCURRENCY = 32;

/** The `deadLetterRecords` activity. */
export function createDeadLetterActivities(deps: ActivityDeps, alerts: AlertPublisher) {
  return classified({
    deadLetterRecords: (letters: DeadLetter[]) => deadLetterRecords(deps, alerts, letters),
  });
}

/** Parks records in cdc_dlq with their raw data and reason, and raises a dead-letter alert for each. */
async function deadLetterRecords(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  letters: DeadLetter[],
): Promise<void> {
  const now = new Date().toISOString();
  const raised: Alert[] = [];
  await mapLimit(letters, WRITE_CONCURRENCY, async (letter) => {
    const parkedAt = await park(deps, letter, now);
    // Keyed by the first parking time, so a retried dead-lettering raises the same alert.
    raised.push(
      deadLetterAlert({
        stream: deps.config.stream,
        shardId: letter.shardId,
        sequenceNumber: letter.record.sequenceNumber,
        category: letter.category,
        reason: letter.reason,
        at: parkedAt,
      }),
    );
  });
  await alerts.publishAlerts(raised);
}

/** Writes (or re-writes) the record's DLQ item, counting attempts; returns when it was first parked. */
async function park({ aws, config }: ActivityDeps, l: DeadLetter, now: string): Promise<string> {
  const out = await aws.doc.send(
    new UpdateCommand({
      TableName: config.tables.dlq,
      Key: { pk: deadLetterKey(config.stream, l.shardId, l.record.sequenceNumber) },
      UpdateExpression:
        'SET #stream = :stream, shardId = :shard, sequenceNumber = :seq, partitionKey = :pkey, #raw = :raw, rawEncoding = :enc, category = :cat, reason = :reason, #status = :status, parkedAt = if_not_exists(parkedAt, :now) ADD attempts :one',
      ExpressionAttributeNames: { '#stream': 'stream', '#status': 'status', '#raw': 'raw' },
      ExpressionAttributeValues: {
        ':stream': config.stream,
        ':shard': l.shardId,
        ':seq': l.record.sequenceNumber,
        ':pkey': l.record.partitionKey,
        ':raw': l.record.data,
        ':enc': l.record.encoding,
        ':cat': l.category,
        ':reason': l.reason,
        ':status': 'PARKED',
        ':now': now,
        ':one': 1,
      },
      ReturnValues: 'ALL_NEW',
    }),
  );
  return String(out.Attributes?.parkedAt ?? now);
}
