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
import { backoff } from '../retryWaits';
import { cursorsOf } from './shardCursors';

type KinesisRecord = NonNullable<GetRecordsCommandOutput['Records']>[number];

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** At least this long between two GetRecords calls on an empty page while behind (5 calls/s per shard). */
export const MIN_GET_RECORDS_GAP_MS = 200;
/** What GetRecords says of an iterator it will not take (other than expired): a stream deleted since. */
const REFUSED_ITERATOR = new Set(['InvalidArgumentException', 'ResourceNotFoundException']);
/** A heartbeat goes out this long before the heartbeat timeout would pass (`heartbeatWhenDue`). */
const HEARTBEAT_MARGIN_MS = 10_000;

/**
 * What reading a shard needs: the Kinesis client, the linger (`CDC_PULL_LINGER_MS`), the consumer,
 * and how to wait between idle polls (`retryWaits`, tests inject).
 */
export type ReaderDeps = Pick<ActivityDeps, 'aws' | 'retryWaits'> & {
  config: Pick<ActivityDeps['config'], 'pullLingerMs' | 'consumer'>;
};

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
 * checkpoint when the workflow says it is not written yet (`saveCheckpoint`). The iterator is
 * carried from the pull before when it ended at that position in this worker, with the records it
 * read beyond its budget (`shardCursors.ts`); else a fresh one is taken. When caught
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
    metrics.getRecordsCalled({ ...input, consumer: deps.config.consumer });
    const page = await deps.aws.kinesis.send(
      new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 1 }),
    );
    return page.Records?.[0]?.SequenceNumber !== checkpoint;
  } catch (err) {
    if ((err as Error).name === 'InvalidArgumentException') return true; // the sequence number is gone
    throw err;
  }
}

/**
 * The records after the checkpoint, bounded by `maxRecords` and `maxBytes`. Caught up, it polls
 * with a bounded backoff for up to `waitMs` (`RETRY_BACKOFF.streamPoll`: 200 ms, then 200–300 ms,
 * jittered so that readers do not poll in step) and returns as soon as a page has records. With
 * `deps.config.pullLingerMs` > 0 it then keeps reading (at most 5 GetRecords a second per shard)
 * until the batch is full or that long has passed since the first records came, so that at low
 * rates one batch carries several changes (fewer batches, fewer Temporal actions per change).
 * It heartbeats only when the heartbeat timeout requires it (`keepAlive`): an idle pull within
 * its heartbeat timeout costs one action, not one per heartbeat.
 */
export async function readAfterCheckpoint(deps: ReaderDeps, input: PullInput): Promise<PullResult> {
  const ctx = Context.current();
  const superseded = waitingPulls.enter(`${deps.config.consumer}/${input.stream}/${input.shardId}`);
  try {
    const pull = new ShardPull(deps, input, {
      ctx,
      deadline: Date.now() + Math.min(input.waitMs, longestWaitMs(ctx)),
      keepAlive: heartbeatWhenDue(ctx),
      superseded,
    });
    for (;;) {
      const done = await pull.step();
      if (done) return done;
    }
  } finally {
    superseded.leave();
  }
}

/** What a pull answers to besides its input: its activity, deadline, heartbeats and successor. */
interface PullContext {
  ctx: Context;
  deadline: number;
  keepAlive: ReturnType<typeof heartbeatWhenDue>;
  superseded: { readonly now: boolean };
}

/**
 * One pull of one shard, a step at a time (`step` until it returns the result): records kept by
 * the pull before are served first; then pages are read from the carried (or a fresh) iterator
 * until the batch is full, the linger is spent, the shard ends, or, caught up, the wait is over.
 * Whatever ends it leaves the iterator and the records read beyond the budget for the next pull
 * after its last record (`shardCursors.ts`).
 */
class ShardPull {
  private readonly cursors;
  private readonly shard;
  private kept: StreamRecord[];
  private readonly keptBehind: number;
  private iterator: string | undefined;
  private iteratorAt: number;
  private ended: boolean;
  /** The next GetRecords uses the carried iterator. */
  private carriedInUse: boolean;
  private idlePolls = 0;
  private readonly batch: StreamRecord[] = [];
  private bytes = 0;
  private lingerUntil = 0;

  constructor(
    private readonly deps: ReaderDeps,
    private readonly input: PullInput,
    private readonly pc: PullContext,
  ) {
    this.cursors = cursorsOf(deps.aws.kinesis);
    this.shard = { stream: input.stream, shardId: input.shardId, consumer: deps.config.consumer };
    // Where the pull after the same position left off in this worker: its iterator and what it read
    // beyond its budget (none: a fresh iterator from the position, as always).
    const carried = this.cursors.take({ ...this.shard, after: input.afterSequenceNumber ?? '' });
    this.kept = carried?.kept ?? [];
    this.keptBehind = carried?.behindMs ?? 0;
    this.iterator = carried?.iterator;
    this.iteratorAt = carried?.iteratorAt ?? 0;
    this.ended = carried?.ended ?? false;
    this.carriedInUse = this.iterator !== undefined;
  }

  /** One round: the result when the pull is over, undefined to go on. */
  async step(): Promise<PullResult | undefined> {
    if (this.kept.length > 0) {
      const done = this.serveKept();
      if (done) return done;
    }
    if (!this.iterator && !this.ended) {
      // No carried iterator (or it expired): a fresh one after the last record in hand.
      this.iterator = await iteratorFor(
        this.deps,
        this.input,
        this.batch.at(-1)?.sequenceNumber ?? this.input.afterSequenceNumber,
      );
      this.iteratorAt = Date.now();
      this.ended = !this.iterator;
    }
    if (!this.iterator) return this.result({ millisBehindLatest: 0, shardEnded: this.batch.length === 0 });
    const lastGetAt = Date.now();
    const out = await this.getPage(this.iterator);
    if (!out) {
      this.iterator = undefined; // expired or refused: a fresh one from the position
      return this.batch.length > 0 ? this.result({ millisBehindLatest: 0, shardEnded: false }) : undefined;
    }
    return this.afterPage(out, lastGetAt);
  }

  /** Records the pull before read beyond its budget: served first, without a GetRecords. */
  private serveKept(): PullResult | undefined {
    const { input } = this;
    const taken = leadingRecords(
      this.kept,
      input.maxBytes - this.bytes,
      input.maxRecords - this.batch.length,
      this.batch.length === 0,
    );
    this.kept = this.kept.slice(taken.records.length);
    this.add(taken);
    // All served: while an average record still fits, GetRecords fills the rest of the batch
    // (the page that comes back decides, as for any page: linger, full, behind).
    if (
      this.kept.length > 0 ||
      this.batch.length >= input.maxRecords ||
      !this.cursors.roomFor(input.stream, input.shardId, input.maxBytes - this.bytes) ||
      this.pc.ctx.cancellationSignal.aborted
    )
      return this.result({ millisBehindLatest: this.keptBehind, shardEnded: false });
    return undefined;
  }

  /** One GetRecords, its Limit by the byte budget; undefined when the iterator is no longer taken. */
  private async getPage(iterator: string): Promise<GetRecordsCommandOutput | undefined> {
    const { input } = this;
    const limit = this.cursors.limitFor(
      input.stream,
      input.shardId,
      input.maxRecords - this.batch.length,
      input.maxBytes - this.bytes,
    );
    const out = await getRecords(this.deps, this.shard, iterator, limit).catch((err: unknown) => {
      // A carried iterator Kinesis no longer takes (as an expired one) is dropped for a fresh one.
      if (this.carriedInUse && REFUSED_ITERATOR.has((err as Error).name)) return undefined;
      throw err;
    });
    this.carriedInUse = false;
    return out;
  }

  /** Takes what fits of a page, keeps the rest, and decides: return, read again, or wait. */
  private async afterPage(out: GetRecordsCommandOutput, lastGetAt: number): Promise<PullResult | undefined> {
    const { input } = this;
    this.iterator = out.NextShardIterator;
    this.iteratorAt = Date.now();
    this.ended = !this.iterator;
    const page = (out.Records ?? []).map(toStreamRecord);
    this.cursors.sawRecords(
      input.stream,
      input.shardId,
      page.length,
      page.reduce((n, r) => n + recordSize(r), 0),
    );
    const taken = leadingRecords(
      page,
      input.maxBytes - this.bytes,
      input.maxRecords - this.batch.length,
      this.batch.length === 0,
    );
    const behind = out.MillisBehindLatest ?? 0;
    this.add(taken);
    if (taken.records.length < page.length) {
      // Read beyond the budget: kept for the next pull (up to one batch's bytes; past that, the
      // iterator is dropped and the next pull reads after the last record kept).
      this.kept = leadingRecords(page.slice(taken.records.length), input.maxBytes, Infinity, false).records;
      if (this.kept.length < page.length - taken.records.length) {
        this.iterator = undefined;
        this.ended = false;
      }
    }
    const { ctx, keepAlive, deadline, superseded } = this.pc;
    if (this.batch.length > 0) {
      // A full batch, a page cut by the byte bound, the shard's end, the linger spent, or a
      // cancellation: return what is in hand (the rest is read after it next time).
      const full = this.batch.length >= input.maxRecords || taken.records.length < page.length;
      const nextGet = lastGetAt + MIN_GET_RECORDS_GAP_MS;
      if (full || !this.iterator || nextGet > this.lingerUntil || ctx.cancellationSignal.aborted)
        return this.result({ millisBehindLatest: behind, shardEnded: false });
      // Read again as soon as allowed while behind; caught up, the last read as late as the linger allows.
      await sleepUntil(
        behind > 0 || nextGet + MIN_GET_RECORDS_GAP_MS <= this.lingerUntil ? nextGet : this.lingerUntil,
      );
      keepAlive();
      return undefined;
    }
    if (!this.iterator) return this.result({ millisBehindLatest: 0, shardEnded: true });
    if (behind > 0) {
      // An empty page with data ahead: keep reading, but at most 5 GetRecords a second per shard
      // (Kinesis' limit).
      keepAlive();
      await sleepUntil(lastGetAt + MIN_GET_RECORDS_GAP_MS);
      return undefined;
    }
    if (Date.now() >= deadline || ctx.cancellationSignal.aborted || superseded.now)
      return this.result({ millisBehindLatest: 0, shardEnded: false });
    keepAlive();
    // Never past the pull's deadline (the last wait of a pull may be shorter than the floor).
    await backoff('streamPoll', ++this.idlePolls, this.deps.retryWaits, deadline - Date.now());
    return undefined;
  }

  private add(taken: { records: StreamRecord[]; bytes: number }): void {
    if (taken.records.length === 0) return;
    if (this.batch.length === 0)
      this.lingerUntil = lingerEnd(taken.records[0].arrivalMs, Date.now(), this.deps.config.pullLingerMs);
    this.batch.push(...taken.records);
    this.bytes += taken.bytes;
  }

  /** The pull's answer; the next pull after its last record goes on from here. */
  private result(r: Omit<PullResult, 'records'>): PullResult {
    this.cursors.keep(
      { ...this.shard, after: this.batch.at(-1)?.sequenceNumber ?? this.input.afterSequenceNumber ?? '' },
      {
        kept: this.kept,
        keptBytes: this.kept.reduce((n, k) => n + recordSize(k), 0),
        ...(this.iterator ? { iterator: this.iterator } : {}),
        iteratorAt: this.iteratorAt,
        ended: this.ended,
        behindMs: r.millisBehindLatest,
      },
    );
    return { records: this.batch, ...r, ...(this.pc.keepAlive.beats > 0 ? { waited: true as const } : {}) };
  }
}

/**
 * The pulls waiting in this process, one per consumer and shard: a new pull ends the wait of the one
 * before it. A pause cancels a waiting pull in the workflow at once, but the pull itself hears of
 * it only at a heartbeat, which an idle pull does not send; without this, the pull after a resume
 * would poll the shard beside the cancelled one (Kinesis allows 5 GetRecords a second per shard).
 */
const waitingPulls = {
  byShard: new Map<string, { now: boolean }>(),
  enter(key: string) {
    const before = this.byShard.get(key);
    if (before) before.now = true;
    const mine = { now: false };
    this.byShard.set(key, mine);
    return {
      get now() {
        return mine.now;
      },
      leave: () => {
        if (waitingPulls.byShard.get(key) === mine) waitingPulls.byShard.delete(key);
      },
    };
  },
};

/**
 * When lingering ends: `lingerMs` after the first record reached the stream (its arrival time),
 * but never before it was read nor more than `lingerMs` after (clocks may differ).
 */
export function lingerEnd(arrivalMs: number, readAtMs: number, lingerMs: number): number {
  const sinceArrival = arrivalMs > 0 ? arrivalMs + lingerMs - readAtMs : lingerMs;
  return readAtMs + Math.min(lingerMs, Math.max(0, sinceArrival));
}

async function sleepUntil(ms: number): Promise<void> {
  const wait = ms - Date.now();
  if (wait > 0) await sleep(wait);
}

/**
 * The longest a pull may wait for records: its start-to-close timeout less a margin for the
 * checkpoint write and the last page (a larger `waitMs` would make the pull time out).
 */
function longestWaitMs(ctx: Context): number {
  const timeout = ctx.info.startToCloseTimeoutMs;
  return timeout - Math.min(HEARTBEAT_MARGIN_MS, timeout / 4);
}

/**
 * A heartbeat only when one is needed to stay within the heartbeat timeout: once
 * max(timeout / 2, timeout − 10 s) passed since the start or the last one. Each heartbeat that
 * reaches the server is a billed action; with a heartbeat timeout longer than the idle wait, an
 * idle pull sends none. A lost worker is still noticed within the heartbeat timeout. (A
 * cancellation reaches a waiting pull at its next heartbeat, or when its wait ends; the workflow
 * does not wait for it: the pull is cancelled with TRY_CANCEL.)
 */
export function heartbeatWhenDue(ctx: Pick<Context, 'heartbeat' | 'info'>, now = () => Date.now()) {
  const timeout = ctx.info.heartbeatTimeoutMs;
  const every = timeout ? Math.max(timeout / 2, timeout - HEARTBEAT_MARGIN_MS) : Infinity;
  let last = now();
  const beat = Object.assign(
    () => {
      if (now() - last < every) return;
      ctx.heartbeat();
      last = now();
      beat.beats++;
    },
    { beats: 0 },
  );
  return beat;
}

/** A fresh iterator after `after` (the shard's start when absent). */
async function iteratorFor(
  { aws }: Pick<ActivityDeps, 'aws'>,
  input: Pick<PullInput, 'stream' | 'shardId'>,
  after: string | undefined,
): Promise<string | undefined> {
  const out = await aws.kinesis.send(
    new GetShardIteratorCommand({
      StreamName: input.stream,
      ShardId: input.shardId,
      ...(after
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
        : { ShardIteratorType: 'TRIM_HORIZON' }),
    }),
  );
  return out.ShardIterator;
}

/** One GetRecords page (counted in `cdc_getrecords_calls_total`); undefined when the iterator expired. */
async function getRecords(
  { aws }: Pick<ActivityDeps, 'aws'>,
  shard: { stream: string; shardId: string; consumer: string },
  iterator: string,
  limit: number,
): Promise<GetRecordsCommandOutput | undefined> {
  metrics.getRecordsCalled(shard);
  try {
    return await aws.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
  } catch (err) {
    if (err instanceof ExpiredIteratorException) return undefined;
    throw err;
  }
}

/**
 * The leading records within `maxBytes` and `maxRecords` (at least one when `atLeastOne`, so that
 * a record larger than the bound is still read).
 */
function leadingRecords(
  records: readonly StreamRecord[],
  maxBytes: number,
  maxRecords: number,
  atLeastOne: boolean,
): { records: StreamRecord[]; bytes: number } {
  const out: StreamRecord[] = [];
  let bytes = 0;
  for (const rec of records) {
    if (out.length >= maxRecords) break;
    const size = recordSize(rec);
    if ((out.length > 0 || !atLeastOne) && bytes + size > maxBytes) break;
    out.push(rec);
    bytes += size;
  }
  return { records: out, bytes };
}

/** A record's bytes as the batch's byte bound counts them. */
function recordSize(rec: StreamRecord): number {
  return Buffer.byteLength(rec.data) + rec.partitionKey.length + rec.sequenceNumber.length;
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
