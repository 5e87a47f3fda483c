import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { SA, type ShardState } from './names';

export interface BatchSettings {
  maxRecords: number;
  maxBytes: number;
  /** How long one pull waits for new records when caught up. */
  idleWaitMs: number;
}

export const DEFAULT_BATCH: BatchSettings = { maxRecords: 200, maxBytes: 512 * 1024, idleWaitMs: 20_000 };

export interface ShardCounters {
  batches: number;
  records: number;
  applied: number;
  stale: number;
  deadLettered: number;
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
  shardId: string;
  state: ShardState;
  checkpoint?: string;
  lagMs: number;
  counters: ShardCounters;
  pausedReason?: string;
}

export const pauseSignal = defineSignal<[{ reason: string }]>('pause');
export const resumeSignal = defineSignal('resume');
export const statusQuery = defineQuery<ShardStatus>('status');

const io = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * One shard of the stream: pull → transform → redact → apply → publish → checkpoint, in a loop,
 * holding the shard on failure (activities retry) so per-key order is kept.
 */
export async function shardReaderWorkflow(input: ShardReaderInput): Promise<ShardStatus> {
  const settings: BatchSettings = { ...DEFAULT_BATCH, ...input.settings };
  const counters: ShardCounters = input.counters ?? {
    batches: 0,
    records: 0,
    applied: 0,
    stale: 0,
    deadLettered: 0,
  };
  let checkpoint = input.checkpoint ?? (await io.loadCheckpoint(input.shardId));
  let pausedReason = input.pausedReason;
  let state: ShardState = pausedReason ? 'PAUSED' : 'RUNNING';
  let lagMs = 0;

  const status = (): ShardStatus => ({
    shardId: input.shardId,
    state,
    ...(checkpoint ? { checkpoint } : {}),
    lagMs,
    counters: { ...counters },
    ...(pausedReason ? { pausedReason } : {}),
  });
  setHandler(statusQuery, status);
  setHandler(pauseSignal, ({ reason }) => {
    pausedReason = reason || 'paused by operator';
  });
  setHandler(resumeSignal, () => {
    pausedReason = undefined;
  });

  let published = '';
  const publishState = (next: ShardState) => {
    state = next;
    const key = `${state}|${checkpoint ?? ''}|${lagMs}`;
    if (key === published) return;
    published = key;
    upsertSearchAttributes([
      { key: SA.state, value: state },
      { key: SA.checkpoint, value: checkpoint ?? 'TRIM_HORIZON' },
      { key: SA.lagMs, value: lagMs },
    ]);
  };
  publishState(state);

  for (;;) {
    if (pausedReason !== undefined) {
      publishState('PAUSED');
      await condition(() => pausedReason === undefined);
      publishState('RUNNING');
    }
    const pull = await io.pullRecords({
      stream: input.stream,
      shardId: input.shardId,
      ...(checkpoint ? { afterSequenceNumber: checkpoint } : {}),
      maxRecords: settings.maxRecords,
      maxBytes: settings.maxBytes,
      waitMs: settings.idleWaitMs,
    });
    lagMs = pull.millisBehindLatest;
    if (pull.records.length === 0) {
      if (pull.shardEnded) {
        if (checkpoint)
          await io.saveCheckpoint({ shardId: input.shardId, sequenceNumber: checkpoint, shardEnded: true });
        publishState('ENDED');
        return status();
      }
      publishState('CAUGHT_UP');
    } else {
      const { events, deadLetters } = await io.transformRecords({
        shardId: input.shardId,
        records: pull.records,
      });
      if (deadLetters.length) await io.deadLetterRecords(deadLetters);
      if (events.length) {
        const redacted = await io.redactEvents(events);
        const { applied, stale } = await io.applyEvents(redacted);
        await io.publishEvents(redacted);
        counters.applied += applied;
        counters.stale += stale;
      }
      checkpoint = pull.records[pull.records.length - 1].sequenceNumber;
      await io.saveCheckpoint({ shardId: input.shardId, sequenceNumber: checkpoint });
      counters.batches++;
      counters.records += pull.records.length;
      counters.deadLettered += deadLetters.length;
      publishState(lagMs > 0 ? 'RUNNING' : 'CAUGHT_UP');
    }
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof shardReaderWorkflow>({
        ...input,
        checkpoint,
        counters,
        pausedReason,
        settings,
      });
    }
  }
}
