import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { captureDeadLetterAlert, type CaptureDeadLetter } from '../domain/capture/captureDeadLetter';
import {
  captureDeadLetterKey,
  captureDeadLetterObjectKey,
  deadLetterKey,
  deadLetterObjectKey,
} from '../domain/core/itemKeys';
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

/**
 * Parks records in cdc_dlq with their raw data and reason, and raises a dead-letter alert for each
 * newly parked one. A record whose letter was already closed (REDRIVEN or DISCARDED) stays closed
 * and raises no alert.
 */
async function deadLetterRecords(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  letters: DeadLetter[],
): Promise<void> {
  const now = new Date().toISOString();
  const raised: Alert[] = [];
  const { consumer, stream } = deps.config;
  await mapLimit(letters, WRITE_CONCURRENCY, async (l) => {
    const seq = l.record.sequenceNumber;
    const raw = await keepRaw(
      deps,
      deadLetterObjectKey(consumer, stream, l.shardId, seq),
      Buffer.from(l.record.data, l.record.encoding),
      l.record.encoding,
    );
    const parkedAt = await park(deps, deadLetterKey(consumer, stream, l.shardId, seq), now, {
      source: 'shard',
      consumer,
      stream,
      shardId: l.shardId,
      sequenceNumber: seq,
      partitionKey: l.record.partitionKey,
      category: l.category,
      reason: l.reason,
      ...raw,
      ...(l.appliedNotPublished ? { appliedNotPublished: true } : {}),
    });
    if (parkedAt === undefined) return;
    // Keyed by the first parking time, so a retried dead-lettering raises the same alert.
    raised.push(
      deadLetterAlert({
        stream,
        shardId: l.shardId,
        sequenceNumber: seq,
        category: l.category,
        reason: l.reason,
        at: parkedAt,
      }),
    );
  });
  await alerts.publishAlerts(raised);
}

/**
 * Parks a change capture could not put on the stream (`CAPTURE#<slot>#<lsn>#<index>`), with its raw
 * data, and raises its `alert.dead_letter`. Idempotent: capture re-reading the same WAL after a
 * crash writes the same item again (counting attempts) and raises the same alert.
 */
export async function parkCaptureDeadLetter(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  slot: string,
  l: CaptureDeadLetter,
): Promise<void> {
  const raw = await keepRaw(deps, captureDeadLetterObjectKey(slot, l.lsn, l.index), l.raw, 'utf8');
  const parkedAt = await park(deps, captureDeadLetterKey(slot, l.lsn, l.index), new Date().toISOString(), {
    source: 'capture',
    slot,
    lsn: l.lsn,
    index: l.index,
    txId: l.txId,
    commitTs: l.commitTs,
    table: `${l.schema}.${l.table}`,
    op: l.op,
    ...(l.partitionKey ? { partitionKey: l.partitionKey } : {}),
    category: l.category,
    reason: l.reason,
    ...raw,
  });
  if (parkedAt === undefined) return;
  await alerts.publishAlerts([
    captureDeadLetterAlert({ stream: deps.config.stream, slot, letter: l }, parkedAt),
  ]);
}

/**
 * Where the raw record is kept (claim check). Up to `deadLetters.inlineMaxBytes` it is in the item
 * (`raw`, as text in `rawEncoding`); larger (a DynamoDB item holds at most 400 KB) it is an object
 * in the DLQ bucket, written before the item so a reference never dangles, and the item holds
 * `rawS3Bucket`, `rawS3Key`. Either way the item has `rawBytes` and `rawSha256` of the bytes.
 */
async function keepRaw(
  { aws, config }: ActivityDeps,
  objectKey: string,
  bytes: Buffer,
  encoding: 'utf8' | 'base64',
): Promise<Record<string, string | number>> {
  const rawBytes = bytes.length;
  const rawSha256 = createHash('sha256').update(bytes).digest('hex');
  if (rawBytes <= config.deadLetters.inlineMaxBytes)
    return { raw: bytes.toString(encoding), rawEncoding: encoding, rawBytes, rawSha256 };
  await aws.s3.send(
    new PutObjectCommand({
      Bucket: config.deadLetters.bucket,
      Key: objectKey,
      Body: bytes,
      ContentType: 'application/octet-stream',
      Metadata: { sha256: rawSha256, encoding },
    }),
  );
  return {
    rawS3Bucket: config.deadLetters.bucket,
    rawS3Key: objectKey,
    rawEncoding: encoding,
    rawBytes,
    rawSha256,
  };
}

/**
 * Writes (or re-writes) a DLQ item as PARKED, counting attempts; returns when it was first parked.
 * A letter already closed (REDRIVEN or DISCARDED) is never turned back into PARKED: the write is
 * conditional, and then only the attempt is counted and undefined returned.
 */
async function park(
  { aws, config }: ActivityDeps,
  pk: string,
  now: string,
  attrs: Record<string, unknown>,
): Promise<string | undefined> {
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = { ':parked': 'PARKED', ':now': now, ':one': 1 };
  const sets = Object.entries(attrs).map(([name, value], i) => {
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    return `#a${i} = :a${i}`;
  });
  try {
    const out = await aws.doc.send(
      new UpdateCommand({
        TableName: config.tables.dlq,
        Key: { pk },
        UpdateExpression: `SET ${sets.join(', ')}, #status = :parked, parkedAt = if_not_exists(parkedAt, :now) ADD attempts :one`,
        ConditionExpression: 'attribute_not_exists(pk) OR #status = :parked',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return String(out.Attributes?.parkedAt ?? now);
  } catch (err) {
    if (!(
      err instanceof ConditionalCheckFailedException ||
      (err as Error)?.name === 'ConditionalCheckFailedException'
    ))
      throw err;
  }
  await aws.doc.send(
    new UpdateCommand({
      TableName: config.tables.dlq,
      Key: { pk },
      UpdateExpression: 'SET lastSeenAgainAt = :now ADD attempts :one',
      ExpressionAttributeValues: { ':now': now, ':one': 1 },
    }),
  );
  return undefined;
}
