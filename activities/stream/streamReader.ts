import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type GetRecordsCommandOutput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { PullInput, PullResult, ShardInfo, StreamRecord } from '../../domain/shards/shardTypes';
import { metrics } from '../../infra/metrics';
import { saveCheckpoint } from '../checkpoints';
import type { ActivityDeps } from '../deps';
import { classified } from '../failures';

type KinesisRecord = NonNullable<GetRecordsCommandOutput['Records']>[number];

const utf8 = new TextDecoder('utf-8', { fatal: true });
const FIRST_IDLE_DELAY_MS = 50;
const MAX_IDLE_DELAY_MS = 250;
/** At least this long between two GetRecords calls on an empty page while behind (5 calls/s per shard). */
export const MIN_GET_RECORDS_GAP_MS = 200;

/** The Kinesis reading activities: the stream's shards, and the next records of one shard. */
export function createStreamReaderActivities(deps: ActivityDeps) {
  return classified({
    listShards: (stream: string) => listShards(deps, stream),
    pullRecords: (input: PullInput) => pullRecords(deps, input),
  });
}

async function listShards({ aws }: ActivityDeps, stream: string): Promise<ShardInfo[]> {
  const shards: Shard[] = [];
  let token: string | undefined;
  do {
    const out = await aws.kinesis.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }),
    );
    shards.push(...(out.Shards ?? []));
    token = out.NextToken;
  } while (token);
  return shards.map((s) => ({
    shardId: s.ShardId!,
    ...(s.ParentShardId ? { parentShardId: s.ParentShardId } : {}),
    ...(s.AdjacentParentShardId ? { adjacentParentShardId: s.AdjacentParentShardId } : {}),
    open: s.SequenceNumberRange?.EndingSequenceNumber === undefined,
  }));
}

/**
 * Reads the next records after the checkpoint, bounded by count and bytes, after writing that
 * checkpoint when the workflow says it is not written yet (`saveCheckpoint`). A fresh iterator is
 * taken from the sequence number each call (iterators expire after five minutes). When caught
 * up it polls with a bounded backoff for up to `waitMs`, heartbeating, instead of returning
 * at once, so an idle shard costs little workflow history.
 */
async function pullRecords(deps: ActivityDeps, input: PullInput): Promise<PullResult> {
  if (input.saveCheckpoint && input.afterSequenceNumber)
    await saveCheckpoint(deps, { shardId: input.shardId, sequenceNumber: input.afterSequenceNumber });
  const retentionMs = deps.config.retention.streamHours * 3_600_000;
  const retention = { retentionMs, lagAlertMs: retentionMs * deps.config.retention.alertFraction };
  const trimmed = (await checkpointTrimmed(deps, input, retentionMs)) ? { trimmed: true as const } : {};
  const read = await readAfterCheckpoint(deps, input);
  metrics.pulled({ ...input, consumer: deps.config.consumer }, read.millisBehindLatest, read.shardEnded);
  return { ...read, retention, ...trimmed };
}

/**
 * Whether records after the checkpoint may have been trimmed: only asked when the checkpointed
 * record is older than the retention (a shard paused or STUCK that long). Trimming goes in
 * order, so if the checkpointed record itself is still readable, nothing after it is lost.
 */
async function checkpointTrimmed(
  deps: ActivityDeps,
  input: PullInput,
  retentionMs: number,
): Promise<boolean> {
  const checkpoint = input.afterSequenceNumber;
  if (!checkpoint || input.checkpointArrivalMs === undefined) return false;
  if (Date.now() - input.checkpointArrivalMs < retentionMs) return false;
  try {
    const it = await deps.aws.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: input.stream,
        ShardId: input.shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: checkpoint,
      }),
    );
    const page = await deps.aws.kinesis.send(
      new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 1 }),
    );
    return page.Records?.[0]?.SequenceNumber !== checkpoint;
  } catch (err) {
    if ((err as Error).name === 'InvalidArgumentException') return true; // the sequence number is gone
    throw err;
  }
}

async function readAfterCheckpoint(deps: ActivityDeps, input: PullInput): Promise<PullResult> {
  const ctx = Context.current();
  const deadline = Date.now() + input.waitMs;
  let iterator = await iteratorFor(deps, input);
  let idleDelay = FIRST_IDLE_DELAY_MS;
  let waited = false;
  const result = (r: PullResult): PullResult => (waited ? { ...r, waited: true } : r);
  for (;;) {
    if (!iterator) return result({ records: [], millisBehindLatest: 0, shardEnded: true });
    const out = await getRecords(deps, iterator, input.maxRecords);
    if (!out) {
      iterator = await iteratorFor(deps, input); // expired: take a fresh one from the checkpoint
      continue;
    }
    const records = leadingRecords(out.Records ?? [], input.maxBytes);
    const behind = out.MillisBehindLatest ?? 0;
    if (records.length > 0) return result({ records, millisBehindLatest: behind, shardEnded: false });
    if (!out.NextShardIterator) return result({ records: [], millisBehindLatest: 0, shardEnded: true });
    iterator = out.NextShardIterator;
    if (behind > 0) {
      // An empty page with data ahead: keep reading, but at most 5 GetRecords a second per shard
      // (Kinesis' limit), heartbeating while doing so.
      ctx.heartbeat();
      waited = true;
      await sleep(MIN_GET_RECORDS_GAP_MS);
      continue;
    }
    if (Date.now() >= deadline || ctx.cancellationSignal.aborted) {
      return result({ records: [], millisBehindLatest: 0, shardEnded: false });
    }
    ctx.heartbeat();
    waited = true;
    await sleep(idleDelay);
    idleDelay = Math.min(idleDelay * 2, MAX_IDLE_DELAY_MS);
  }
}

async function iteratorFor({ aws }: ActivityDeps, input: PullInput): Promise<string | undefined> {
  const out = await aws.kinesis.send(
    new GetShardIteratorCommand({
      StreamName: input.stream,
      ShardId: input.shardId,
      ...(input.afterSequenceNumber
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: input.afterSequenceNumber }
        : { ShardIteratorType: 'TRIM_HORIZON' }),
    }),
  );
  return out.ShardIterator;
}

/** One GetRecords page; undefined when the iterator expired. */
async function getRecords(
  { aws }: ActivityDeps,
  iterator: string,
  limit: number,
): Promise<GetRecordsCommandOutput | undefined> {
  try {
    return await aws.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
  } catch (err) {
    if (err instanceof ExpiredIteratorException) return undefined;
    throw err;
  }
}

/** The page's leading records within `maxBytes` (at least one): the rest is read next time. */
function leadingRecords(page: KinesisRecord[], maxBytes: number): StreamRecord[] {
  const records: StreamRecord[] = [];
  let bytes = 0;
  for (const r of page) {
    const rec = toStreamRecord(r);
    const size = Buffer.byteLength(rec.data) + rec.partitionKey.length + rec.sequenceNumber.length;
    if (records.length > 0 && bytes + size > maxBytes) break;
    records.push(rec);
    bytes += size;
  }
  return records;
}

/** A Kinesis record as the pipeline carries it: UTF-8 text, or base64 when the bytes are not UTF-8. */
export function toStreamRecord(r: KinesisRecord): StreamRecord {
  const bytes = r.Data ?? new Uint8Array();
  let data: string;
  let encoding: StreamRecord['encoding'] = 'utf8';
  try {
    data = utf8.decode(bytes);
  } catch {
    data = Buffer.from(bytes).toString('base64');
    encoding = 'base64';
  }
  return {
    sequenceNumber: r.SequenceNumber!,
    partitionKey: r.PartitionKey ?? '',
    data,
    encoding,
    arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
  };
}
