/**
 * The ceiling of each sink, measured directly (no pipeline code in the way), each for a few
 * seconds, shaped like the pipeline's own calls:
 * - EventBridge PutEvents: 10 entries of ~1 KB details per request, on the provisioned bus with its
 *   rules (SQS targets) and archive, `concurrency` requests in flight (the publisher's);
 * - DynamoDB: version-guarded PutItem (`attribute_not_exists(pk) OR version < :v`, as
 *   activities/sinks/dynamoDbSink.ts guardedPut) of entity-like items, the apply's concurrency;
 * - Kinesis PutRecords: 500-record requests of the workload's own records (taken from the stream),
 *   one request at a time like the capture producer; every partition key once per request;
 * - Kinesis GetRecords: reading those records back, `limit` per call, one reader per shard.
 */
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  PutRecordsCommand,
  type KinesisClient,
  type PutRecordsRequestEntry,
} from '@aws-sdk/client-kinesis';
import { sortableSequence } from '../../domain/shards/shardTypes';

export interface Ceiling {
  name: string;
  /** What is counted: PutEvents entries, DynamoDB items, Kinesis records. */
  unit: 'entries' | 'items' | 'records';
  perSecond: number;
  count: number;
  seconds: number;
  concurrency: number;
  errors: number;
  /** Mean size of what was sent (bytes). */
  meanBytes: number;
  note?: string;
}

const ceiling = (c: Omit<Ceiling, 'perSecond'>): Ceiling => ({
  ...c,
  perSecond: c.count / Math.max(0.001, c.seconds),
});

/**
 * Runs `worker` on `concurrency` loops for a short warm-up (connections, JIT; not counted), then
 * until `seconds` passed; `worker(counted)` is told whether its result counts. Returns the counted
 * wall time.
 */
async function forSeconds(
  seconds: number,
  concurrency: number,
  worker: (counted: boolean) => Promise<void>,
): Promise<number> {
  const warmEnd = Date.now() + Math.min(1000, seconds * 250);
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < warmEnd) await worker(false);
    }),
  );
  const start = Date.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) await worker(true);
    }),
  );
  return (Date.now() - start) / 1000;
}

const SOURCES = ['inventory', 'orders', 'users'] as const;

export async function putEventsCeiling(
  events: EventBridgeClient,
  bus: string,
  opts: { seconds: number; concurrency: number; detailBytes?: number; tag: string },
): Promise<Ceiling> {
  const pad = 'x'.repeat(Math.max(0, (opts.detailBytes ?? 1000) - 420));
  let n = 0;
  let sent = 0;
  let count = 0;
  let errors = 0;
  let bytes = 0;
  const seconds = await forSeconds(opts.seconds, opts.concurrency, async (counted) => {
    const entries = Array.from({ length: 10 }, () => {
      const i = n++;
      const table = SOURCES[i % SOURCES.length];
      const detail = JSON.stringify({
        eventId: `evt_ceiling_${opts.tag}_${i}`,
        eventType: `${table}.updated`,
        entityId: `ceiling-${i}`,
        entityType: table,
        operation: 'UPDATE',
        timestamp: new Date().toISOString(),
        changes: { on_hand: { old: 10, new: 9 }, padding: { old: null, new: pad } },
        metadata: {
          sourceTable: table,
          sequenceNumber: String(49650000000000000000000000000000000000000000000000000n + BigInt(i)),
          sourcePosition: '0/16C4460',
          processedAt: new Date().toISOString(),
          version: `000000000016C4460.${String(i).padStart(10, '0')}`,
          redactionPolicy: 'pii-policy-v2@bench',
        },
      });
      if (counted) bytes += detail.length;
      return {
        Source: `cdc-pipeline.${table}`,
        DetailType: `${table}.updated`,
        Detail: detail,
        EventBusName: bus,
        Time: new Date(),
      };
    });
    const ok = await events.send(new PutEventsCommand({ Entries: entries })).then(
      (out) => entries.length - (out.FailedEntryCount ?? 0),
      () => 0,
    );
    if (!counted) return;
    sent += entries.length;
    count += ok;
    errors += entries.length - ok;
  });
  return ceiling({
    name: 'EventBridge PutEvents (bus with rules, SQS targets, archive)',
    unit: 'entries',
    count,
    seconds,
    concurrency: opts.concurrency,
    errors,
    meanBytes: bytes / Math.max(1, sent),
    note: '10 entries per request',
  });
}

export async function guardedPutCeiling(
  doc: DynamoDBDocumentClient,
  table: string,
  opts: { seconds: number; concurrency: number; keys?: number; tag: string },
): Promise<Ceiling> {
  const keys = opts.keys ?? 2000;
  const row = {
    sku: 'SKU',
    warehouse_id: 1,
    on_hand: 100,
    reserved: 0,
    low_stock_threshold: 5,
    updated_at: new Date().toISOString(),
    description: 'y'.repeat(300),
  };
  let n = 0;
  let sent = 0;
  let count = 0;
  let stale = 0;
  let errors = 0;
  let bytes = 0;
  const seconds = await forSeconds(opts.seconds, opts.concurrency, async (counted) => {
    const i = n++;
    const item = {
      pk: `ceiling#${opts.tag}#${i % keys}`,
      table: 'ceiling',
      entityId: `${i % keys}`,
      version: `${String(Date.now()).padStart(16, '0')}.${String(i).padStart(10, '0')}`,
      eventId: `evt_ceiling_${i}`,
      lastChangeAt: new Date().toISOString(),
      deleted: false,
      row: { ...row, on_hand: i },
    };
    let outcome: 'ok' | 'stale' | 'error' = 'ok';
    try {
      await doc.send(
        new PutCommand({
          TableName: table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
          ExpressionAttributeValues: { ':v': item.version },
        }),
      );
    } catch (err) {
      outcome = err instanceof ConditionalCheckFailedException ? 'stale' : 'error';
    }
    if (!counted) return;
    sent++;
    bytes += JSON.stringify(item).length;
    if (outcome === 'ok') count++;
    else if (outcome === 'stale') stale++;
    else errors++;
  });
  return ceiling({
    name: 'DynamoDB version-guarded PutItem',
    unit: 'items',
    count,
    seconds,
    concurrency: opts.concurrency,
    errors,
    meanBytes: bytes / Math.max(1, sent),
    note: `${keys} keys, versions rising${stale ? `, ${stale} refused as stale` : ''}`,
  });
}

export interface RecordTemplate {
  data: Uint8Array;
  partitionKey: string;
}

/** Where a PutRecords loop left each shard: the first and last sequence number it wrote. */
export interface ShardRange {
  first: string;
  last: string;
  count: number;
}

export async function putRecordsCeiling(
  kinesis: KinesisClient,
  stream: string,
  templates: readonly RecordTemplate[],
  opts: { seconds: number; maxRecords: number; perRequest?: number },
): Promise<{ ceiling: Ceiling; shards: Map<string, ShardRange> }> {
  if (!templates.length) throw new Error('no record templates for the PutRecords ceiling');
  const perRequest = opts.perRequest ?? 500;
  const shards = new Map<string, ShardRange>();
  let n = 0;
  let count = 0;
  let errors = 0;
  let bytes = 0;
  let retry: PutRecordsRequestEntry[] = [];
  const start = Date.now();
  const end = start + opts.seconds * 1000;
  while (Date.now() < end && count < opts.maxRecords) {
    const entries: PutRecordsRequestEntry[] = retry;
    while (entries.length < perRequest) {
      const t = templates[n % templates.length];
      // A key of its own per record: every key at most once per request, as the producer does.
      entries.push({ Data: t.data, PartitionKey: `${t.partitionKey}#raw${n}`.slice(0, 256) });
      bytes += t.data.length;
      n++;
    }
    let out;
    try {
      out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
    } catch {
      errors += entries.length;
      retry = entries;
      continue;
    }
    retry = [];
    (out.Records ?? []).forEach((r, i) => {
      if (r.ErrorCode || !r.SequenceNumber || !r.ShardId) {
        errors++;
        retry.push(entries[i]);
        return;
      }
      count++;
      const range = shards.get(r.ShardId);
      if (!range) shards.set(r.ShardId, { first: r.SequenceNumber, last: r.SequenceNumber, count: 1 });
      else {
        range.count++;
        if (sortableSequence(r.SequenceNumber) > sortableSequence(range.last)) range.last = r.SequenceNumber;
        if (sortableSequence(r.SequenceNumber) < sortableSequence(range.first))
          range.first = r.SequenceNumber;
      }
    });
  }
  const seconds = (Date.now() - start) / 1000;
  return {
    ceiling: ceiling({
      name: 'Kinesis PutRecords (raw loop, same stream)',
      unit: 'records',
      count,
      seconds,
      concurrency: 1,
      errors,
      meanBytes: bytes / Math.max(1, n),
      note: `${perRequest} records per request, one request at a time`,
    }),
    shards,
  };
}

export async function getRecordsCeiling(
  kinesis: KinesisClient,
  stream: string,
  shards: Map<string, ShardRange>,
  opts: { limit: number; seconds: number },
): Promise<Ceiling> {
  let count = 0;
  let bytes = 0;
  let errors = 0;
  let calls = 0;
  const start = Date.now();
  const end = start + opts.seconds * 1000;
  await Promise.all(
    [...shards].map(async ([ShardId, range]) => {
      let it = (
        await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: stream,
            ShardId,
            ShardIteratorType: 'AT_SEQUENCE_NUMBER',
            StartingSequenceNumber: range.first,
          }),
        )
      ).ShardIterator;
      let read = 0;
      while (it && read < range.count && Date.now() < end) {
        try {
          const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: opts.limit }));
          calls++;
          const records = page.Records ?? [];
          read += records.length;
          for (const r of records) bytes += r.Data?.length ?? 0;
          it = page.NextShardIterator;
          if (!records.length) break;
        } catch {
          errors++;
          break;
        }
      }
      count += Math.min(read, range.count);
    }),
  );
  const seconds = (Date.now() - start) / 1000;
  return ceiling({
    name: 'Kinesis GetRecords',
    unit: 'records',
    count,
    seconds,
    concurrency: shards.size,
    errors,
    meanBytes: bytes / Math.max(1, count),
    note: `Limit ${opts.limit}, one reader per shard, ${calls} calls`,
  });
}
