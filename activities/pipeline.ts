import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  alertEntry,
  deadLetterAlert,
  inventoryAlerts,
  replicationLagAlert,
  type Alert,
} from '../domain/publishing/alerts';
import { decodeChange } from '../domain/formats/decodeChange';
import { classifyError, ConfigurationError, PoisonRecordError } from '../domain/core/errors';
import { chunkEntries, toEventEntry, type EventEntry } from '../domain/publishing/eventEntry';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import { redactEvent } from '../domain/processing/redact';
import type { DeadLetter, Rejection, StreamRecord } from '../domain/shards/shardTypes';
import { sortableSequence } from '../domain/shards/shardTypes';
import { splitKeyChange, transformChange } from '../domain/processing/transform';
import { awsClients } from '../infra/aws';
import type { PipelineConfig } from '../infra/config';
import { classified } from './failures';
import { shardCheckpointKey } from '../domain/core/itemKeys';

const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;
const ALERT_MARKER_TTL_SECONDS = 7 * 24 * 3600;
const WRITE_CONCURRENCY = 32;
const PUBLISH_CONCURRENCY = 8;
/** PutEvents error codes that re-sending the same entry cannot fix. */
const PERMANENT_ENTRY_ERRORS = new Set([
  'MalformedDetail',
  'InvalidArgument',
  'ValidationException',
  'NotAuthorizedForSourceException',
]);

export interface TransformResult {
  events: PipelineEvent[];
  deadLetters: DeadLetter[];
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
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

function numberOf(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function createPipelineActivities(config: PipelineConfig) {
  const stateKey = (shardId: string) => shardCheckpointKey(config.consumer, config.stream, shardId);

  /** Puts entries (≤10 per request, within the size limit), re-sending only failed ones; returns entries that cannot succeed. */
  async function putEntries<T>(
    items: { entry: EventEntry; ref: T }[],
  ): Promise<{ ref: T; reason: string }[]> {
    const refOf = new Map(items.map((i) => [i.entry, i.ref]));
    const rejected: { ref: T; reason: string }[] = [];
    const { chunks, oversized } = chunkEntries(items.map((i) => i.entry));
    for (const o of oversized)
      rejected.push({ ref: refOf.get(o)!, reason: 'event exceeds the 256 KiB EventBridge entry limit' });
    await mapLimit(chunks, PUBLISH_CONCURRENCY, async (chunk) => {
      let pending = chunk;
      for (let attempt = 1; pending.length; attempt++) {
        const out = await awsClients().events.send(new PutEventsCommand({ Entries: pending }));
        const retry: EventEntry[] = [];
        pending.forEach((entry, i) => {
          const result = out.Entries?.[i];
          if (result?.EventId && !result.ErrorCode) return;
          if (result?.ErrorCode && PERMANENT_ENTRY_ERRORS.has(result.ErrorCode)) {
            rejected.push({
              ref: refOf.get(entry)!,
              reason: `PutEvents ${result.ErrorCode}: ${result.ErrorMessage ?? ''}`,
            });
          } else retry.push(entry);
        });
        if (retry.length && attempt >= 5) {
          const code = out.Entries?.find((x) => x.ErrorCode)?.ErrorCode ?? 'unknown';
          throw Object.assign(
            new Error(`PutEvents: ${retry.length} entries still failing after ${attempt} attempts (${code})`),
            {
              name: code === 'ThrottlingException' ? 'ThrottlingException' : 'InternalFailure',
            },
          );
        }
        if (retry.length) await sleep(100 * 2 ** attempt);
        pending = retry;
      }
    });
    return rejected;
  }

  /** Publishes alerts at least once, each once per alertId: published first, then marked, so a crash can only repeat one. */
  async function publishAlerts(alerts: Alert[]): Promise<number> {
    const { doc } = awsClients();
    const fresh: Alert[] = [];
    for (const a of alerts) {
      const seen = await doc.send(
        new GetCommand({ TableName: config.tables.state, Key: { pk: `ALERT#${a.alertId}` } }),
      );
      if (!seen.Item) fresh.push(a);
    }
    if (!fresh.length) return 0;
    const rejected = await putEntries(
      fresh.map((a) => ({ entry: alertEntry(a, config.eventBus), ref: a.alertId })),
    );
    if (rejected.length)
      throw new Error(`alerts rejected by EventBridge: ${rejected.map((r) => r.reason).join('; ')}`);
    const ttl = Math.floor(Date.now() / 1000) + ALERT_MARKER_TTL_SECONDS;
    await mapLimit(fresh, WRITE_CONCURRENCY, async (a) => {
      await doc.send(
        new PutCommand({
          TableName: config.tables.state,
          Item: { pk: `ALERT#${a.alertId}`, kind: a.kind, ttl },
        }),
      );
    });
    return fresh.length;
  }

  return classified({
    /** Decode and transform records; undecodable or unconfigured records become dead letters with a reason. */
    async transformRecords(input: { shardId: string; records: StreamRecord[] }): Promise<TransformResult> {
      const events: PipelineEvent[] = [];
      const deadLetters: DeadLetter[] = [];
      for (const record of input.records) {
        const decoded =
          record.encoding === 'utf8'
            ? decodeChange(record.data, { sequenceNumber: record.sequenceNumber })
            : { ok: false as const, reason: 'record data is not UTF-8' };
        if (!decoded.ok) {
          deadLetters.push({ record, shardId: input.shardId, category: 'poison', reason: decoded.reason });
          continue;
        }
        try {
          const position = { shardId: input.shardId, sequenceNumber: record.sequenceNumber };
          events.push(...splitKeyChange(decoded.event).map((c) => transformChange(c, position)));
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
     * older version never overwrites a newer one, so writes run concurrently. A write that fails
     * for its record alone (e.g. item too large) is returned as rejected; other failures fail the batch.
     */
    async applyEvents(
      events: PipelineEvent[],
    ): Promise<{ applied: number; stale: number; rejected: Rejection[] }> {
      let applied = 0;
      let stale = 0;
      const rejected: Rejection[] = [];
      const nowSeconds = Math.floor(Date.now() / 1000);
      // Keys are written concurrently; the changes of one key in stream order, so the version
      // guard only rejects true replays and duplicates (the stale count means something).
      const byKey = new Map<string, PipelineEvent[]>();
      for (const e of events) {
        const k = `${e.table}#${e.entityId}`;
        const changes = byKey.get(k);
        if (changes) changes.push(e);
        else byKey.set(k, [e]);
      }
      await mapLimit([...byKey.values()], WRITE_CONCURRENCY, async (changes) => {
        for (const e of changes) await applyOne(e);
      });
      return { applied, stale, rejected };

      async function applyOne(e: PipelineEvent): Promise<void> {
        if (!e.redactionPolicy) throw new ConfigurationError(`event ${e.eventId} was not redacted`);
        const deleted = e.op === 'd';
        const base = { version: e.version, eventId: e.eventId, lastChangeAt: e.commitTs, deleted };
        const tombstone = deleted ? { ttl: nowSeconds + TOMBSTONE_TTL_SECONDS } : {};
        try {
          const writes = [
            guardedPut(config.tables.entities, {
              pk: `${e.table}#${e.entityId}`,
              table: e.table,
              entityId: e.entityId,
              ...base,
              ...tombstone,
              ...(deleted ? {} : { row: e.after }),
            }),
          ];
          if (e.table === 'inventory') {
            const row = (e.after ?? e.before ?? {}) as Record<string, unknown>;
            const onHand = numberOf(row.on_hand);
            const reserved = numberOf(row.reserved);
            writes.push(
              guardedPut(config.tables.inventory, {
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
                      lowStockThreshold: numberOf(row.low_stock_threshold),
                    }),
              }),
            );
          }
          // Both items are guarded by the same version, so they can be written at once.
          const [ok] = await Promise.all(writes);
          if (ok) applied++;
          else stale++;
        } catch (err) {
          const category = classifyError(err);
          // Infrastructure configuration (missing table, no access) holds the shard; only record-level failures are rejected.
          if (category !== 'poison' && category !== 'permanent') throw err;
          rejected.push({
            sequenceNumber: e.position.sequenceNumber,
            category,
            reason: `DynamoDB: ${(err as Error).message}`,
          });
        }
      }
    },

    /**
     * Publishes the events (only failed entries re-sent) and the inventory alerts they trigger
     * (low stock crossing, abnormal drop), each alert once per alertId.
     */
    async publishEvents(
      events: PipelineEvent[],
    ): Promise<{ published: number; alerts: number; rejected: Rejection[] }> {
      const processedAt = new Date().toISOString();
      const rejectedEntries = await putEntries(
        events.map((e) => ({ entry: toEventEntry(e, config.eventBus, processedAt), ref: e })),
      );
      const alerts = await publishAlerts(events.flatMap((e) => inventoryAlerts(e)));
      return {
        published: events.length - rejectedEntries.length,
        alerts,
        rejected: rejectedEntries.map((r) => ({
          sequenceNumber: r.ref.position.sequenceNumber,
          category: 'permanent',
          reason: r.reason,
        })),
      };
    },

    /** Parks records in cdc_dlq with their raw data and reason, and raises a dead-letter alert for each. */
    async deadLetterRecords(letters: DeadLetter[]): Promise<void> {
      const now = new Date().toISOString();
      const alerts: Alert[] = [];
      await mapLimit(letters, WRITE_CONCURRENCY, async (l) => {
        const out = await awsClients().doc.send(
          new UpdateCommand({
            TableName: config.tables.dlq,
            Key: { pk: `${config.stream}#${l.shardId}#${l.record.sequenceNumber}` },
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
        // Keyed by the first parking time, so a retried dead-lettering raises the same alert.
        const at = String(out.Attributes?.parkedAt ?? now);
        alerts.push(
          deadLetterAlert({
            stream: config.stream,
            shardId: l.shardId,
            sequenceNumber: l.record.sequenceNumber,
            category: l.category,
            reason: l.reason,
            at,
          }),
        );
      });
      await publishAlerts(alerts);
    },

    /** Raises `alert.replication_lag` (the capture workflow calls it when the lag crosses its threshold). */
    async raiseReplicationLagAlert(d: {
      slot: string;
      lagBytes: number;
      walRetainedBytes: number;
      thresholdBytes: number;
      at: string;
    }): Promise<string> {
      const alert = replicationLagAlert(d);
      await publishAlerts([alert]);
      return alert.alertId;
    },

    async loadCheckpoint(shardId: string): Promise<string | undefined> {
      const out = await awsClients().doc.send(
        new GetCommand({
          TableName: config.tables.state,
          Key: { pk: stateKey(shardId) },
          ConsistentRead: true,
        }),
      );
      return out.Item?.sequenceNumber as string | undefined;
    },

    /** Checkpoints only move forward (conditional write on the sortable sequence number). */
    async saveCheckpoint(input: { shardId: string; sequenceNumber: string }): Promise<boolean> {
      const sortable = sortableSequence(input.sequenceNumber);
      try {
        await awsClients().doc.send(
          new UpdateCommand({
            TableName: config.tables.state,
            Key: { pk: stateKey(input.shardId) },
            UpdateExpression: 'SET sequenceNumber = :seq, sortable = :s, updatedAt = :now',
            ConditionExpression: 'attribute_not_exists(sortable) OR sortable < :s',
            ExpressionAttributeValues: {
              ':seq': input.sequenceNumber,
              ':s': sortable,
              ':now': new Date().toISOString(),
            },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException) return false;
        throw err;
      }
    },

    /** Records that a shard was read to SHARD_END and checkpointed: its children may start. */
    async markShardEnded(shardId: string): Promise<void> {
      await awsClients().doc.send(
        new UpdateCommand({
          TableName: config.tables.state,
          Key: { pk: stateKey(shardId) },
          UpdateExpression: 'SET shardEnded = :t, endedAt = if_not_exists(endedAt, :now)',
          ExpressionAttributeValues: { ':t': true, ':now': new Date().toISOString() },
        }),
      );
    },

    async endedShards(shardIds: string[]): Promise<string[]> {
      const ended: string[] = [];
      for (let i = 0; i < shardIds.length; i += 100) {
        const keys = shardIds.slice(i, i + 100).map((id) => ({ pk: stateKey(id) }));
        let request:
          Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
          [config.tables.state]: { Keys: keys, ConsistentRead: true },
        };
        while (request && Object.keys(request).length) {
          const out = await awsClients().doc.send(new BatchGetCommand({ RequestItems: request }));
          for (const item of out.Responses?.[config.tables.state] ?? []) {
            if (item.shardEnded) ended.push(String(item.pk).split('#').at(-1)!);
          }
          request = out.UnprocessedKeys as typeof request;
        }
      }
      return ended;
    },
  });
}
