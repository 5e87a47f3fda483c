import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { createBatchActivities, type BatchSteps } from '../../activities/batches';
import type { ActivityDeps } from '../../activities/deps';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { PullInput, PullResult, StreamRecord } from '../../domain/shards/shardTypes';
import type { DeadLetter } from '../../domain/shards/shardTypes';
import type { HoldChange } from '../../domain/reservations/hold';

/**
 * Stub activities for fast workflow tests on the time-skipping test server: a fake stream of
 * records per shard, applies that fail on demand, and everything the workflows asked for kept
 * for assertions. No AWS, no PostgreSQL: the integration tests cover those.
 */
export interface FakeShard {
  records: StreamRecord[];
  /** Closed shard: SHARD_END once every record was read. */
  closed?: boolean;
  /** The shard it was split from (resharding): read only once that one reached SHARD_END. */
  parentShardId?: string;
}

export class StubPipeline {
  shards = new Map<string, FakeShard>();
  checkpoints = new Map<string, string>();
  ended = new Set<string>();
  deadLetters: DeadLetter[] = [];
  applied: PipelineEvent[] = [];
  published: PipelineEvent[] = [];
  pulls = 0;
  /** saveCheckpoint activities run (a pull writing the checkpoint is not one). */
  checkpointSaves = 0;
  /** Per pull after a checkpoint: where it read from, and the checkpoint written when it read. */
  pullReads: { after: string; written: string | undefined }[] = [];
  /** apply fails (transient) while this returns true for a batch; a string names the failing record (failure details). */
  failApply: (events: PipelineEvent[]) => boolean | string = () => false;
  /** transform and redact fail (transient) while this returns true for a batch's records. */
  failPrepare: (records: StreamRecord[]) => boolean = () => false;
  /** publish fails (transient) while this returns true for a batch. */
  failPublish: (events: PipelineEvent[]) => boolean = () => false;
  /** Added to every pull's result (e.g. the retention, a trimmed checkpoint). */
  pullExtras: (input: PullInput) => Partial<PullResult> = () => ({});
  /** The shard alerts raised (retention). */
  shardAlerts: { kind: string; lagMs: number; checkpoint: string | null }[] = [];
  /** Called at the start of every listShards, with the number of calls so far. */
  onListShards: (calls: number) => Promise<void> = async () => undefined;
  listShardsCalls = 0;
  /** Called at the start of every apply (e.g. to send a signal mid-batch). */
  onApply: (events: PipelineEvent[]) => Promise<void> = async () => undefined;
  /** The event a record decodes to (default: an inventory update of the record's key). */
  eventOf: (shardId: string, r: StreamRecord) => PipelineEvent = event;
  /** Event ids apply reports as outdated (older than what the sink held). */
  outdatedOf: (events: PipelineEvent[]) => string[] = () => [];
  /** signalHoldChanges fails (transient) while this returns true. */
  failHolds: (holds: HoldChange[]) => boolean = () => false;
  /** The hold changes told to reservation-expiry workflows. */
  holds: HoldChange[] = [];

  addShard(shardId: string, count: number, opts: { closed?: boolean } = {}): StreamRecord[] {
    const records = Array.from({ length: count }, (_, i) => record(shardId, i + 1));
    this.shards.set(shardId, { records, ...(opts.closed ? { closed: true } : {}) });
    return records;
  }

  activities(): Partial<Activities> {
    const stub: Partial<Activities> = {
      listShards: async () => {
        await this.onListShards(++this.listShardsCalls);
        return [...this.shards.entries()].map(([shardId, s]) => ({
          shardId,
          ...(s.parentShardId ? { parentShardId: s.parentShardId } : {}),
          open: !s.closed,
        }));
      },
      endedShards: async (ids) => ids.filter((id) => this.ended.has(id)),
      loadCheckpoint: async (shardId) => this.checkpoints.get(shardId),
      saveCheckpoint: async ({ shardId, sequenceNumber }) => {
        this.checkpointSaves++;
        this.checkpoints.set(shardId, sequenceNumber);
        return true;
      },
      markShardEnded: async (shardId) => {
        this.ended.add(shardId);
      },
      pullRecords: async (input: PullInput): Promise<PullResult> => {
        this.pulls++;
        if (input.saveCheckpoint && input.afterSequenceNumber)
          this.checkpoints.set(input.shardId, input.afterSequenceNumber); // as the activity: written before reading
        if (input.afterSequenceNumber)
          this.pullReads.push({
            after: input.afterSequenceNumber,
            written: this.checkpoints.get(input.shardId),
          });
        const shard = this.shards.get(input.shardId);
        const all = shard?.records ?? [];
        const from = input.afterSequenceNumber
          ? all.findIndex((r) => r.sequenceNumber === input.afterSequenceNumber) + 1
          : 0;
        const records = all.slice(from, from + input.maxRecords);
        const extras = this.pullExtras(input);
        if (records.length) return { records, millisBehindLatest: 0, shardEnded: false, ...extras };
        if (shard?.closed) return { records: [], millisBehindLatest: 0, shardEnded: true, ...extras };
        await new Promise((r) => setTimeout(r, 100)); // caught up: a short real wait, like the activity's poll
        return { records: [], millisBehindLatest: 0, shardEnded: false, ...extras };
      },
      transformRecords: async ({ shardId, records }) => ({
        events: records.map((r) => this.eventOf(shardId, r)),
        deadLetters: [],
      }),
      redactEvents: async (events) => events.map((e) => ({ ...e, redactionPolicy: 'test' })),
      prepareRecords: async ({ shardId, records }) => {
        if (this.failPrepare(records))
          throw ApplicationFailure.create({ type: 'transient', message: 'transform failed (stub)' });
        return {
          events: records.map((r) => ({ ...this.eventOf(shardId, r), redactionPolicy: 'test' })),
          deadLetters: [],
        };
      },
      applyEvents: async (events) => {
        await this.onApply(events);
        const failing = this.failApply(events);
        if (failing)
          throw ApplicationFailure.create({
            type: 'transient',
            message: 'DynamoDB unavailable (stub)',
            ...(typeof failing === 'string'
              ? { details: [{ sequenceNumber: failing, table: 'inventory' }] }
              : {}),
          });
        this.applied.push(...events);
        const outdated = this.outdatedOf(events);
        return {
          applied: events.length - outdated.length,
          stale: outdated.length,
          coalesced: 0,
          rejected: [],
          ...(outdated.length ? { outdated } : {}),
        };
      },
      signalHoldChanges: async (holds) => {
        if (this.failHolds(holds))
          throw ApplicationFailure.create({ type: 'transient', message: 'Temporal unavailable (stub)' });
        this.holds.push(...holds);
        return { delivered: holds.length, ignored: 0 };
      },
      publishEvents: async (events) => {
        if (this.failPublish(events))
          throw ApplicationFailure.create({ type: 'transient', message: 'EventBridge unavailable (stub)' });
        this.published.push(...events);
        return { published: events.length, alerts: 0, rejected: [] };
      },
      raiseShardAlert: async (d) => {
        this.shardAlerts.push({ kind: d.kind, lagMs: d.lagMs, checkpoint: d.checkpoint });
        return `alt_${this.shardAlerts.length}`;
      },
      deadLetterRecords: async (letters) => {
        this.deadLetters.push(...letters);
      },
    };
    // The by-reference steps (the shard reader's default) over these stubs: the records stay in this process.
    return { ...stub, ...createBatchActivities(STUB_DEPS, stub as BatchSteps) };
  }
}

/** Enough of the activities' dependencies for the by-reference steps over stubs (no I/O: the cache always hits). */
const STUB_DEPS = { config: { consumer: 'test' } } as unknown as ActivityDeps;

export function record(shardId: string, n: number): StreamRecord {
  return {
    sequenceNumber: `${shardId.replace(/\D/g, '') || '0'}${String(n).padStart(6, '0')}`,
    partitionKey: `inventory:SKU-${n}`,
    data: '{}',
    encoding: 'utf8',
    arrivalMs: 0,
  };
}

export function event(shardId: string, r: StreamRecord): PipelineEvent {
  return {
    eventId: `evt_${r.sequenceNumber}`,
    table: 'inventory',
    entityType: 'inventory',
    entityId: r.partitionKey.split(':')[1],
    key: { sku: r.partitionKey.split(':')[1] },
    op: 'u',
    eventType: 'inventory.updated',
    version: '0000000000000001.0000000000',
    commitTs: '2026-01-01T00:00:00.000Z',
    lsn: '0/1',
    index: 0,
    before: null,
    after: {},
    changes: {},
    position: { shardId, sequenceNumber: r.sequenceNumber },
  };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflows bundled once per test run (bundling takes a second or two). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
  return bundle;
}

let queues = 0;
/** Runs `fn` with a worker hosting the real workflows and the stub's activities on a fresh task queue. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  stub: { activities(): Partial<Activities> },
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const taskQueue = `wf-test-${++queues}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: stub.activities(),
  });
  return worker.runUntil(fn(taskQueue));
}
