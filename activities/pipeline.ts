import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ApplicationFailure } from '@temporalio/common';
import { chunkEntries, toEventEntry, type EventEntry } from '../domain/eventBridge';
import type { PipelineEvent } from '../domain/pipelineEvent';
import { redactEvent } from '../domain/redact';
import type { DeadLetter, StreamRecord } from '../domain/shardTypes';
import { shardCheckpointKey, sortableSequence } from '../domain/shardTypes';
import { decodeRecord } from '../domain/streamRecord';
import { ConfigurationError } from '../domain/tables';
import { PoisonRecordError, transformChange } from '../domain/transform';
import { awsClients } from '../infra/aws';
import type { PipelineConfig } from '../infra/config';

const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;
const APPLY_CONCURRENCY = 32;
const PUBLISH_CONCURRENCY = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface TransformResult {
  events: PipelineEvent[];
  deadLetters: DeadLetter[];
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(workers);
}

/** Conditional put guarded by the source version: never moves state backwards. Returns false when stale. */
async function guardedPut(table: string, item: Record<string, unknown>): Promise<boolean> {
  try {
    await awsClients().doc.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
        ExpressionAttributeValues: { ':v': item.version },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

export function createPipelineActivities(config: PipelineConfig) {
  return {
    /** Decode and transform records; undecodable or unconfigured records become dead letters with a reason. */
    async transformRecords(input: { shardId: string; records: StreamRecord[] }): Promise<TransformResult> {
      const events: PipelineEvent[] = [];
      const deadLetters: DeadLetter[] = [];
      for (const record of input.records) {
        const decoded =
          record.encoding === 'utf8'
            ? decodeRecord(record.data)
            : { ok: false as const, reason: 'record data is not UTF-8' };
        if (!decoded.ok) {
          deadLetters.push({ record, shardId: input.shardId, category: 'poison', reason: decoded.reason });
          continue;
        }
        try {
          events.push(
            transformChange(decoded.event, { shardId: input.shardId, sequenceNumber: record.sequenceNumber }),
          );
        } catch (err) {
          if (err instanceof ConfigurationError || err instanceof PoisonRecordError) {
            const category = err instanceof ConfigurationError ? 'configuration' : 'poison';
            deadLetters.push({ record, shardId: input.shardId, category, reason: err.message });
          } else throw err;
        }
      }
      return { events, deadLetters };
    },

    async redactEvents(events: PipelineEvent[]): Promise<PipelineEvent[]> {
      return events.map((e) => redactEvent(e, config.redactionSecret));
    },

    /**
     * Version-guarded, idempotent writes: the current row per entity in cdc_entities (tombstone on
     * delete) and, for inventory rows, the per-(sku, warehouse) view. Order does not matter: an
     * older version never overwrites a newer one, so writes run concurrently.
     */
    async applyEvents(events: PipelineEvent[]): Promise<{ applied: number; stale: number }> {
      let applied = 0;
      let stale = 0;
      const nowSeconds = Math.floor(Date.now() / 1000);
      await mapLimit(events, APPLY_CONCURRENCY, async (e) => {
        if (!e.redactionPolicy)
          throw ApplicationFailure.nonRetryable(`event ${e.eventId} was not redacted`, 'Unredacted');
        const deleted = e.op === 'd';
        const base = { version: e.version, eventId: e.eventId, lastChangeAt: e.commitTs, deleted };
        const tombstone = deleted ? { ttl: nowSeconds + TOMBSTONE_TTL_SECONDS } : {};
        const ok = await guardedPut(config.tables.entities, {
          pk: `${e.table}#${e.entityId}`,
          table: e.table,
          entityId: e.entityId,
          ...base,
          ...tombstone,
          ...(deleted ? {} : { row: e.after }),
        });
        if (e.table === 'inventory') {
          const row = (e.after ?? e.before ?? {}) as Record<string, unknown>;
          const onHand = Number(row.on_hand ?? 0);
          const reserved = Number(row.reserved ?? 0);
          await guardedPut(config.tables.inventory, {
            pk: `${String(row.sku)}#${String(row.warehouse_id)}`,
            sku: row.sku,
            warehouseId: row.warehouse_id,
            ...base,
            ...tombstone,
            ...(deleted
              ? {}
              : {
                  onHand,
                  reserved,
                  available: onHand - reserved,
                  lowStockThreshold: Number(row.low_stock_threshold ?? 0),
                }),
          });
        }
        if (ok) applied++;
        else stale++;
      });
      return { applied, stale };
    },

    /** PutEvents in requests of at most 10 entries within the size limit; only failed entries are re-sent. */
    async publishEvents(events: PipelineEvent[]): Promise<{ published: number }> {
      const processedAt = new Date().toISOString();
      const entries: EventEntry[] = events.map((e) => toEventEntry(e, config.eventBus, processedAt));
      const { chunks, oversized } = chunkEntries(entries);
      if (oversized.length) {
        throw ApplicationFailure.nonRetryable(
          `${oversized.length} events exceed the EventBridge entry size limit`,
          'EventTooLarge',
        );
      }
      // EventBridge gives no order across entries, so requests run concurrently.
      await mapLimit(chunks, PUBLISH_CONCURRENCY, async (chunk) => {
        let pending = chunk;
        for (let attempt = 1; pending.length; attempt++) {
          const out = await awsClients().events.send(new PutEventsCommand({ Entries: pending }));
          const failed = pending.filter((_, i) => out.Entries?.[i]?.ErrorCode || !out.Entries?.[i]?.EventId);
          if (!failed.length) break;
          if (attempt >= 5) {
            const code = out.Entries?.find((x) => x.ErrorCode)?.ErrorCode ?? 'unknown';
            throw new Error(
              `PutEvents: ${failed.length} entries still failing after ${attempt} attempts (${code})`,
            );
          }
          await sleep(100 * 2 ** attempt);
          pending = failed;
        }
      });
      return { published: entries.length };
    },

    async deadLetterRecords(letters: DeadLetter[]): Promise<void> {
      const now = new Date().toISOString();
      await mapLimit(letters, APPLY_CONCURRENCY, async (l) => {
        await awsClients().doc.send(
          new PutCommand({
            TableName: config.tables.dlq,
            Item: {
              pk: `${config.stream}#${l.shardId}#${l.record.sequenceNumber}`,
              stream: config.stream,
              shardId: l.shardId,
              sequenceNumber: l.record.sequenceNumber,
              partitionKey: l.record.partitionKey,
              raw: l.record.data,
              rawEncoding: l.record.encoding,
              category: l.category,
              reason: l.reason,
              attempts: 1,
              status: 'PARKED',
              parkedAt: now,
            },
          }),
        );
      });
    },

    async loadCheckpoint(shardId: string): Promise<string | undefined> {
      const out = await awsClients().doc.send(
        new GetCommand({
          TableName: config.tables.state,
          Key: { pk: shardCheckpointKey(config.consumer, config.stream, shardId) },
          ConsistentRead: true,
        }),
      );
      return out.Item?.sequenceNumber as string | undefined;
    },

    /** Checkpoints only move forward (conditional write on the sortable sequence number). */
    async saveCheckpoint(input: {
      shardId: string;
      sequenceNumber: string;
      shardEnded?: boolean;
    }): Promise<boolean> {
      const sortable = sortableSequence(input.sequenceNumber);
      try {
        await awsClients().doc.send(
          new PutCommand({
            TableName: config.tables.state,
            Item: {
              pk: shardCheckpointKey(config.consumer, config.stream, input.shardId),
              sequenceNumber: input.sequenceNumber,
              sortable,
              shardEnded: input.shardEnded ?? false,
              updatedAt: new Date().toISOString(),
            },
            ConditionExpression:
              'attribute_not_exists(pk) OR sortable < :s OR (sortable = :s AND shardEnded = :f)',
            ExpressionAttributeValues: { ':s': sortable, ':f': false },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false;
        throw err;
      }
    },
  };
}
