/**
 * One replay chunk (`replayChunk`): the next records of one shard from the replay's start (an
 * AT_TIMESTAMP or sequence-number iterator, then after the last record read), up to the replay's
 * end, through the same transform → redact → apply → publish path. Every event is published,
 * stale or not: its id is the original one (derived from the change), so consumers deduplicate;
 * the version guard keeps DynamoDB from moving back. Its position is its own metric
 * (`cdc_backfill_lag_ms{backfill}`): the live shard reader's lag and last pull are never touched.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { ReplayChunkInput, ReplayChunkResult } from '../../domain/backfill/chunks';
import type { StreamRecord } from '../../domain/shards/shardTypes';
import { metrics } from '../../infra/metrics';
import type { ActivityDeps } from '../deps';
import { redactEvents, redactionKeyOf, transformRecords } from '../processing';
import type { DeliveryPorts } from '../delivery/deliver';
import { toStreamRecord } from '../stream/streamReader';
import { deliver } from './deliver';
import { heartbeat } from './postgres';

/** At least this long between two GetRecords calls on an empty page while behind (5 calls/s per shard). */
const EMPTY_PAGE_GAP_MS = 200;

export async function replayChunk(
  deps: ActivityDeps,
  ports: DeliveryPorts,
  input: ReplayChunkInput,
): Promise<ReplayChunkResult> {
  const page = await readPage(deps, input);
  const inWindow = page.records.filter((r) => r.arrivalMs <= input.untilMs);
  const ended = inWindow.length < page.records.length;
  const caughtUp = page.records.length === 0 && !page.shardEnded;
  const done = ended || page.shardEnded || (caughtUp && Date.now() >= input.untilMs);
  metrics.backfillPulled(input, page.millisBehindLatest, done);
  const last = inWindow.at(-1)?.sequenceNumber;
  const base = { read: inWindow.length, done, ...(last ? { lastSequenceNumber: last } : {}) };
  if (!inWindow.length)
    return { ...base, applied: 0, stale: 0, published: 0, rejected: 0, tombstoned: 0, skipped: 0 };

  const transformed = transformRecords({ shardId: input.shardId, records: inWindow });
  const wanted = input.tables ? new Set(input.tables) : undefined;
  const events = transformed.events.filter((e) => !wanted || wanted.has(e.table));
  const redacted = redactEvents(events, redactionKeyOf(deps.config));
  const d = await deliver(ports, redacted, 'all');
  const lastEvent = redacted.at(-1);
  return {
    ...base,
    applied: d.applied,
    stale: d.stale,
    published: d.published,
    rejected: d.rejected,
    tombstoned: 0,
    // Records that do not decode were dead-lettered by the shard reader when it read them.
    skipped: transformed.deadLetters.length + (transformed.events.length - events.length),
    ...(lastEvent ? { lastKeyLabel: `${lastEvent.table} ${lastEvent.entityRef ?? lastEvent.entityId}` } : {}),
    ...(d.reasons.length ? { reasons: d.reasons } : {}),
  };
}

/**
 * The next records from where the chunk starts (AT_TIMESTAMP, AT_/AFTER_SEQUENCE_NUMBER: a fresh
 * iterator each chunk), empty pages skipped while behind, and how far behind the tip they are.
 */
async function readPage(
  deps: ActivityDeps,
  input: ReplayChunkInput,
): Promise<{ records: StreamRecord[]; shardEnded: boolean; millisBehindLatest: number }> {
  const { kinesis } = deps.aws;
  const start = input.start;
  let iterator = (
    await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: input.stream,
        ShardId: input.shardId,
        ShardIteratorType: start.type,
        ...(start.type === 'AT_TIMESTAMP'
          ? { Timestamp: new Date(start.timestamp) }
          : { StartingSequenceNumber: start.sequenceNumber }),
      }),
    )
  ).ShardIterator;
  for (;;) {
    if (!iterator) return { records: [], shardEnded: true, millisBehindLatest: 0 };
    const out: GetRecordsCommandOutput = await kinesis.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: input.limit }),
    );
    const records = (out.Records ?? []).map(toStreamRecord);
    const millisBehindLatest = out.MillisBehindLatest ?? 0;
    if (records.length) return { records, shardEnded: false, millisBehindLatest };
    if (!out.NextShardIterator) return { records: [], shardEnded: true, millisBehindLatest: 0 };
    if (!millisBehindLatest) return { records: [], shardEnded: false, millisBehindLatest: 0 };
    iterator = out.NextShardIterator;
    heartbeat();
    await new Promise((r) => setTimeout(r, EMPTY_PAGE_GAP_MS));
  }
}
