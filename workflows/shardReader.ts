import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { holdBackoffMs, NON_RETRYABLE_FAILURE_TYPES, type FailureType } from '../domain/core/errors';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import type { DeadLetter, PullResult, Rejection, StreamRecord } from '../domain/shards/shardTypes';
import { SA, type ShardState } from './names';

export interface BatchSettings {
  /** Records per batch (GetRecords Limit). */
  maxRecords: number;
  /** Bytes of record data per batch; keeps every payload far below Temporal's 2 MB limit. */
  maxBytes: number;
  /** How long one pull waits for new records when caught up. */
  idleWaitMs: number;
  /** Failed attempts of one step after which the shard shows STUCK. */
  stuckAfterAttempts: number;
  /** Run the pure CPU steps (transform, redact) as local activities (see docs/architecture.md). */
  localPureSteps: boolean;
  /** Continue-as-new after this many history events even if the server has not suggested it yet. */
  maxHistoryEvents: number;
}

export const DEFAULT_BATCH: BatchSettings = {
  maxRecords: 500,
  maxBytes: 512 * 1024,
  idleWaitMs: 10_000,
  stuckAfterAttempts: 2,
  localPureSteps: true,
  maxHistoryEvents: 10_000,
};

export interface ShardCounters {
  batches: number;
  records: number;
  applied: number;
  stale: number;
  published: number;
  alerts: number;
  deadLettered: number;
  skipped: number;
}

export interface LastError {
  step: string;
  category: FailureType | 'unknown';
  message: string;
  attempts: number;
  at: string;
}

export interface ShardReaderInput {
  stream: string;
  consumer: string;
  shardId: string;
  /** Carried across continue-as-new; loaded from cdc_state on first start. */
  checkpoint?: string;
  counters?: ShardCounters;
  pausedReason?: string;
  settings?: Partial<BatchSettings>;
}

export interface ShardStatus {
  stream: string;
  consumer: string;
  shardId: string;
  state: ShardState;
  checkpoint?: string;
  lagMs: number;
  counters: ShardCounters;
  pausedReason?: string;
  lastError?: LastError;
  /** The batch being processed: first and last sequence numbers and size. */
  batch?: { first: string; last: string; size: number };
  /** While STUCK: the record in trouble, redacted (never row data). */
  trouble?: TroubleRecord;
  notes: string[];
}

export interface TroubleRecord {
  sequenceNumber: string;
  table?: string;
  entityId?: string;
  op?: string;
  version?: string;
}

export interface SkipRequest {
  sequenceNumber: string;
  reason: string;
}

export const pauseSignal = defineSignal<[{ reason: string }]>('pause');
export const resumeSignal = defineSignal('resume');
export const skipRecordSignal = defineSignal<[SkipRequest]>('skipRecord');
export const statusQuery = defineQuery<ShardStatus>('status');

const ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
};
const io = proxyActivities<Activities>(ACTIVITY_OPTIONS);
const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: ACTIVITY_OPTIONS.retry,
});

class SkipRecord {
  constructor(readonly request: SkipRequest) {}
}

/**
 * One shard of the stream: pull → transform → redact → apply → publish → checkpoint, in a loop.
 * A failing step holds the shard (per-key order) and is retried with backoff; after a few
 * attempts the shard shows STUCK with the record in trouble, until the cause goes away, an
 * operator pauses it, or skips the record to the dead-letter table.
 */
export async function shardReaderWorkflow(input: ShardReaderInput): Promise<ShardStatus> {
  const settings: BatchSettings = { ...DEFAULT_BATCH, ...input.settings };
  const counters: ShardCounters = {
    batches: 0,
    records: 0,
    applied: 0,
    stale: 0,
    published: 0,
    alerts: 0,
    deadLettered: 0,
    skipped: 0,
    ...input.counters,
  };
  const pure = settings.localPureSteps ? local : io;
  let checkpoint = input.checkpoint;
  let pausedReason = input.pausedReason;
  let state: ShardState = pausedReason ? 'PAUSED' : 'RUNNING';
  let lagMs = 0;
  let lastError: LastError | undefined;
  let batch: ShardStatus['batch'];
  let trouble: TroubleRecord | undefined;
  const skipRequests: SkipRequest[] = [];
  const notes: string[] = [];
  const note = (n: string) => {
    notes.push(n);
    if (notes.length > 5) notes.shift();
  };

  const status = (): ShardStatus => ({
    stream: input.stream,
    consumer: input.consumer,
    shardId: input.shardId,
    state,
    ...(checkpoint ? { checkpoint } : {}),
    lagMs,
    counters: { ...counters },
    ...(pausedReason !== undefined ? { pausedReason } : {}),
    ...(lastError ? { lastError } : {}),
    ...(batch ? { batch } : {}),
    ...(trouble ? { trouble } : {}),
    notes: [...notes],
  });
  setHandler(statusQuery, status);
  setHandler(pauseSignal, ({ reason }) => {
    pausedReason = reason || 'paused by operator';
  });
  setHandler(resumeSignal, () => {
    pausedReason = undefined;
  });
  setHandler(skipRecordSignal, (req) => {
    skipRequests.push(req);
  });

  let published = '';
  const publishState = (next: ShardState) => {
    state = next;
    const key = `${state}|${checkpoint ?? ''}|${Math.round(lagMs / 1000)}`;
    if (key === published) return;
    published = key;
    upsertSearchAttributes([
      { key: SA.state, value: state },
      { key: SA.checkpoint, value: checkpoint ?? 'TRIM_HORIZON' },
      { key: SA.lagMs, value: lagMs },
    ]);
    if (state !== 'STUCK') setCurrentDetails(state === 'PAUSED' ? `**PAUSED**: ${pausedReason ?? ''}` : '');
  };

  const waitWhilePaused = async () => {
    if (pausedReason === undefined) return;
    const before = state;
    publishState('PAUSED');
    await condition(() => pausedReason === undefined);
    publishState(before === 'PAUSED' ? 'RUNNING' : before);
  };

  const showStuck = (step: string) => {
    publishState('STUCK');
    const t = trouble;
    setCurrentDetails(
      [
        `**STUCK** in \`${step}\` after ${lastError?.attempts ?? 0} attempts`,
        `- error (${lastError?.category}): ${lastError?.message ?? ''}`,
        batch ? `- batch: ${batch.size} records, ${batch.first} … ${batch.last}` : '',
        t
          ? `- record: seq ${t.sequenceNumber}${t.table ? `, ${t.table}` : ''}${t.entityId ? ` #${t.entityId}` : ''}${t.op ? `, op ${t.op}` : ''}${t.version ? `, version ${t.version}` : ''}`
          : '',
        `- act: signal \`pause\`, or \`skipRecord\` {"sequenceNumber": "${t?.sequenceNumber ?? '…'}", "reason": "…"} to park it in the DLQ`,
      ]
        .filter(Boolean)
        .join('\n'),
    );
  };

  /**
   * Runs one step until it succeeds. Between attempts it waits with backoff, interruptible by
   * pause and by a skip request for a record of the current batch (thrown as SkipRecord).
   */
  async function step<T>(
    name: string,
    run: () => Promise<T>,
    inTrouble: () => TroubleRecord | undefined,
    skippable = true,
  ): Promise<T> {
    for (let failures = 0; ;) {
      try {
        const result = await run();
        if (failures > 0) {
          note(`${name} recovered after ${failures} failed attempts`);
          trouble = undefined;
          publishState('RUNNING');
        }
        return result;
      } catch (err) {
        if (isCancellation(err) || !(err instanceof ActivityFailure)) throw err;
        failures++;
        const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
        const category = (cause?.type ?? 'unknown') as LastError['category'];
        lastError = {
          step: name,
          category,
          message: (cause?.message ?? err.message).slice(0, 500),
          attempts: failures,
          at: new Date().toISOString(),
        };
        trouble = inTrouble();
        if (failures >= settings.stuckAfterAttempts) showStuck(name);
        const inBatch = () =>
          skippable
            ? skipRequests.find((s) => batchRecords.some((r) => r.sequenceNumber === s.sequenceNumber))
            : undefined;
        await condition(
          () => pausedReason !== undefined || skipRequests.length > 0,
          holdBackoffMs(category === 'unknown' ? 'transient' : category, failures),
        );
        const skip = inBatch();
        for (const s of skipRequests.splice(0)) {
          if (s !== skip) note(`skip of ${s.sequenceNumber} ignored: not in the current batch`);
        }
        if (skip) throw new SkipRecord(skip);
        if (pausedReason !== undefined) {
          await waitWhilePaused();
          if (failures >= settings.stuckAfterAttempts) showStuck(name);
        }
      }
    }
  }

  let batchRecords: StreamRecord[] = [];
  const firstTrouble = (events?: PipelineEvent[]): TroubleRecord | undefined => {
    const e = events?.[0];
    if (e)
      return {
        sequenceNumber: e.position.sequenceNumber,
        table: e.table,
        entityId: e.entityId,
        op: e.op,
        version: e.version,
      };
    const r = batchRecords[0];
    return r ? { sequenceNumber: r.sequenceNumber, table: r.partitionKey.split(':')[0] } : undefined;
  };

  const deadLetter = async (letters: DeadLetter[]) => {
    if (!letters.length) return;
    await step(
      'deadLetter',
      () => io.deadLetterRecords(letters),
      () => firstTrouble(),
      false,
    );
    counters.deadLettered += letters.length;
  };
  const lettersFor = (rejected: Rejection[]): DeadLetter[] =>
    rejected.map((r) => ({
      record: batchRecords.find((b) => b.sequenceNumber === r.sequenceNumber)!,
      shardId: input.shardId,
      category: r.category,
      reason: r.reason,
    }));

  /** Transform → redact → apply → publish for the current batch records. */
  async function processBatch(): Promise<void> {
    const records = batchRecords;
    const { events, deadLetters } = await step(
      'transform',
      () => pure.transformRecords({ shardId: input.shardId, records }),
      () => firstTrouble(),
    );
    await deadLetter(deadLetters);
    if (!events.length) return;
    const redacted = await step(
      'redact',
      () => pure.redactEvents(events),
      () => firstTrouble(),
    );
    const applied = await step(
      'apply',
      () =>
        io.applyEvents.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: `apply ${redacted.length} events, seq …${tail(batch?.last)}` },
          [redacted],
        ),
      () => firstTrouble(redacted),
    );
    counters.applied += applied.applied;
    counters.stale += applied.stale;
    await deadLetter(lettersFor(applied.rejected));
    const rejectedSeq = new Set(applied.rejected.map((r) => r.sequenceNumber));
    const toPublish = redacted.filter((e) => !rejectedSeq.has(e.position.sequenceNumber));
    const pub = await step(
      'publish',
      () =>
        io.publishEvents.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: `publish ${toPublish.length} events, seq …${tail(batch?.last)}` },
          [toPublish],
        ),
      () => firstTrouble(toPublish),
    );
    counters.published += pub.published;
    counters.alerts += pub.alerts;
    await deadLetter(lettersFor(pub.rejected));
  }

  if (checkpoint === undefined)
    checkpoint = await step(
      'loadCheckpoint',
      () => io.loadCheckpoint(input.shardId),
      () => undefined,
    );
  publishState(state);

  // The checkpoint of a batch is written while the next batch is pulled (it is awaited before
  // that batch is processed): one round trip less per batch, same guarantee.
  let saving: Promise<unknown> | undefined;
  for (;;) {
    await waitWhilePaused();
    const pulled = await pullUnlessPaused();
    await saving;
    saving = undefined;
    if (!pulled) continue; // paused while waiting for records
    lagMs = pulled.millisBehindLatest;
    if (pulled.records.length === 0) {
      if (pulled.shardEnded) {
        await step(
          'markShardEnded',
          () => io.markShardEnded(input.shardId),
          () => undefined,
        );
        batch = undefined;
        publishState('ENDED');
        return status();
      }
      publishState('CAUGHT_UP');
    } else {
      batchRecords = pulled.records;
      const last = batchRecords[batchRecords.length - 1].sequenceNumber;
      batch = { first: batchRecords[0].sequenceNumber, last, size: batchRecords.length };
      for (;;) {
        try {
          await processBatch();
          break;
        } catch (err) {
          if (!(err instanceof SkipRecord)) throw err;
          const rec = batchRecords.find((r) => r.sequenceNumber === err.request.sequenceNumber)!;
          await deadLetter([
            { record: rec, shardId: input.shardId, category: 'operator-skip', reason: err.request.reason },
          ]);
          counters.skipped++;
          note(`skipped ${rec.sequenceNumber} to the DLQ: ${err.request.reason}`);
          batchRecords = batchRecords.filter((r) => r !== rec);
          trouble = undefined;
          publishState('RUNNING');
        }
      }
      saving = step(
        'checkpoint',
        () => io.saveCheckpoint({ shardId: input.shardId, sequenceNumber: last }),
        () => ({ sequenceNumber: last }),
        false,
      );
      checkpoint = last;
      counters.batches++;
      counters.records += pulled.records.length;
      batch = undefined;
      batchRecords = [];
      publishState(lagMs > 0 ? 'RUNNING' : 'CAUGHT_UP');
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= settings.maxHistoryEvents) {
      await saving;
      await continueAsNew<typeof shardReaderWorkflow>({
        ...input,
        checkpoint,
        counters,
        pausedReason,
        settings: input.settings,
      });
    }
  }

  /** Pulls the next batch; a pause signal cancels a pull that is waiting for records. */
  async function pullUnlessPaused(): Promise<PullResult | undefined> {
    const scope = new CancellationScope();
    const pull = scope.run(() =>
      step(
        'pull',
        () =>
          io.pullRecords({
            stream: input.stream,
            shardId: input.shardId,
            ...(checkpoint ? { afterSequenceNumber: checkpoint } : {}),
            maxRecords: settings.maxRecords,
            maxBytes: settings.maxBytes,
            waitMs: settings.idleWaitMs,
          }),
        () => (checkpoint ? { sequenceNumber: checkpoint } : undefined),
        false,
      ),
    );
    const paused = scope.run(() => condition(() => pausedReason !== undefined));
    paused.catch(() => undefined); // cancelled below when the pull wins
    pull.catch(() => undefined); // awaited below
    const pausedFirst = await Promise.race([pull.then(() => false), paused.then(() => true)]).catch(
      () => false,
    );
    scope.cancel();
    try {
      const result = await pull; // it may have finished just before the cancel
      return pausedFirst && result.records.length === 0 ? undefined : result;
    } catch (err) {
      if (isCancellation(err)) return undefined;
      throw err;
    }
  }
}

const tail = (seq?: string) => (seq ? seq.slice(-8) : '');
