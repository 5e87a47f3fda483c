/**
 * The non-durable baseline: the shard reader's steps in a plain loop, no Temporal. The same
 * activity functions the worker hosts (`createActivities(config)`), called directly, one loop per
 * shard, in the shard reader's order: pull → prepare (transform + redact, `prepareRecords`) →
 * apply → publish (dead letters as the workflow sends them), then the checkpoint, written while the
 * next batch is pulled (as the workflow does). Every call runs inside a MockActivityEnvironment, so
 * activities that use the activity context (the pull heartbeats) work as in a worker.
 */
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import type { ActivityDeps } from '../../activities/deps';
import type { PipelineConfig } from '../../infra/config';
import type { DeadLetter, PullResult, Rejection, StreamRecord } from '../../domain/shards/shardTypes';

export type DirectStep = 'pull' | 'prepare' | 'apply' | 'publish' | 'checkpoint' | 'deadLetter';

export interface DirectStats {
  records: number;
  batches: number;
  deadLettered: number;
  /** Milliseconds spent in each step, summed over the shards. */
  stepMs: Record<DirectStep, number>;
  shards: number;
  errors: number;
  lastError?: string;
}

export interface DirectSettings {
  maxRecords: number;
  maxBytes: number;
  /** How long a pull waits for records when caught up (the test pipeline's idleWaitMs). */
  waitMs: number;
}

/** Runs one activity function in the environment's activity context, keeping its types. */
function run<A, R>(env: MockActivityEnvironment, fn: (arg: A) => Promise<R>, arg: A): Promise<R> {
  return env.run(fn, arg) as Promise<R>;
}

export class DirectConsumer {
  private readonly acts: ReturnType<typeof createActivities>;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly stats: DirectStats = {
    records: 0,
    batches: 0,
    deadLettered: 0,
    stepMs: { pull: 0, prepare: 0, apply: 0, publish: 0, checkpoint: 0, deadLetter: 0 },
    shards: 0,
    errors: 0,
  };

  constructor(
    private readonly config: PipelineConfig,
    private readonly settings: DirectSettings,
    /** The activities' clients (default: the process's; the simulated benchmark passes its fakes). */
    io?: Omit<ActivityDeps, 'config'>,
  ) {
    this.acts = createActivities(config, io);
  }

  snapshot(): DirectStats {
    return { ...this.stats, stepMs: { ...this.stats.stepMs } };
  }

  async start(): Promise<void> {
    const shards = await this.acts.listShards(this.config.stream);
    this.running = true;
    this.stats.shards = shards.filter((s) => s.open).length;
    this.loops = shards.filter((s) => s.open).map((s) => this.readShard(s.shardId));
  }

  /** Stops after the batches in progress (a waiting pull returns within `waitMs`). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async timed<T>(step: DirectStep, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.stats.stepMs[step] += performance.now() - t0;
    }
  }

  private async readShard(shardId: string): Promise<void> {
    const env = new MockActivityEnvironment(
      { activityType: 'directConsumer', heartbeatTimeoutMs: 20_000 },
      { logger: new DefaultLogger('WARN') },
    );
    const a = this.acts;
    let checkpoint = await a.loadCheckpoint(shardId);
    let saving: Promise<unknown> | undefined;
    while (this.running) {
      try {
        const pulled: PullResult = await this.timed('pull', () =>
          run(env, a.pullRecords, {
            stream: this.config.stream,
            shardId,
            ...(checkpoint ? { afterSequenceNumber: checkpoint } : {}),
            maxRecords: this.settings.maxRecords,
            maxBytes: this.settings.maxBytes,
            waitMs: this.settings.waitMs,
          }),
        );
        await saving;
        saving = undefined;
        if (!pulled.records.length) {
          if (pulled.shardEnded) break;
          continue;
        }
        await this.processBatch(env, shardId, pulled.records);
        const last = pulled.records[pulled.records.length - 1].sequenceNumber;
        saving = this.timed('checkpoint', () =>
          run(env, a.saveCheckpoint, { shardId, sequenceNumber: last }),
        );
        saving.catch(() => undefined); // awaited after the next pull
        checkpoint = last;
        this.stats.batches++;
        this.stats.records += pulled.records.length;
      } catch (err) {
        // The baseline has no holds: an error is counted and the batch is pulled again.
        this.stats.errors++;
        this.stats.lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        saving = undefined;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await saving;
  }

  private async processBatch(env: MockActivityEnvironment, shardId: string, records: StreamRecord[]) {
    const a = this.acts;
    const { events: redacted, deadLetters } = await this.timed('prepare', () =>
      run(env, a.prepareRecords, { shardId, records }),
    );
    await this.deadLetter(env, deadLetters);
    if (!redacted.length) return;
    const applied = await this.timed('apply', () => run(env, a.applyEvents, redacted));
    const letters = (rejected: Rejection[], extra: Pick<DeadLetter, 'appliedNotPublished'> = {}) =>
      rejected.map((r) => ({
        record: records.find((rec) => rec.sequenceNumber === r.sequenceNumber)!,
        shardId,
        category: r.category,
        reason: r.reason,
        ...extra,
      }));
    await this.deadLetter(env, letters(applied.rejected));
    const rejectedSeq = new Set(applied.rejected.map((r) => r.sequenceNumber));
    const toPublish = redacted.filter((e) => !rejectedSeq.has(e.position.sequenceNumber));
    const pub = await this.timed('publish', () => run(env, a.publishEvents, toPublish));
    await this.deadLetter(env, letters(pub.rejected, { appliedNotPublished: true }));
  }

  private async deadLetter(env: MockActivityEnvironment, letters: DeadLetter[]): Promise<void> {
    if (!letters.length) return;
    await this.timed('deadLetter', () => run(env, this.acts.deadLetterRecords, letters));
    this.stats.deadLettered += letters.length;
  }
}
