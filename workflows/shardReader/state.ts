/**
 * The shard reader's whole state in one object (as PeerDB's flow state): signals change it, the
 * loop reacts to it, and what must survive continue-as-new is carried in the next run's input.
 */
import type { BatchRef } from '../../domain/shards/batchRef';
import type { StreamRecord } from '../../domain/shards/shardTypes';
import type { ShardState } from '../names';
import type {
  BatchRange,
  BatchSettings,
  HeldStep,
  LastError,
  RetentionWatch,
  ShardCounters,
  ShardReaderInput,
  ShardStatus,
  SkipRequest,
  TroubleRecord,
} from './definitions';
import { DEFAULT_BATCH } from './definitions';

export interface ShardReaderState {
  readonly input: ShardReaderInput;
  readonly settings: BatchSettings;
  /** Last sequence number whose batch was applied and published. */
  checkpoint?: string;
  /** `checkpoint` is not written yet: the next pull writes it (or a checkpoint activity, before a pause). */
  checkpointUnsaved?: boolean;
  counters: ShardCounters;
  /** Set while an operator holds the shard (signal `pause`). */
  pausedReason?: string;
  state: ShardState;
  lagMs: number;
  lastError?: LastError;
  /** The batch in progress and its records (not carried: pulled again after continue-as-new). */
  batch?: BatchRange;
  records: StreamRecord[];
  /** The batch in progress by reference (patch `batch-references`; `records` stays empty). */
  batchRef?: BatchRef;
  /** Records of `batchRef` skipped by an operator: left out of every step. */
  excluded: string[];
  /** `batchRef` was kept in S3 (held long): carried across continue-as-new instead of pulled again. */
  batchKept?: boolean;
  /** The stream's retention, as the last pull said. */
  retentionMs?: number;
  trouble?: TroubleRecord;
  /** Skip requests not yet matched against the batch in trouble. */
  skipRequests: SkipRequest[];
  /** The last few things worth telling an operator. */
  notes: string[];
  /** The step being held, while it fails (carried across continue-as-new). */
  held?: HeldStep;
  retention: RetentionWatch;
  /**
   * Set while batches run as local activities in this workflow task (pull.ts): what the chain's
   * pulls took and how many batches it ran. Not carried: a new run starts with an activity pull.
   */
  chain?: { ms: number; batches: number };
}

const MAX_NOTES = 5;

export function initialState(input: ShardReaderInput): ShardReaderState {
  return {
    input,
    settings: { ...DEFAULT_BATCH, ...input.settings },
    ...(input.checkpoint !== undefined ? { checkpoint: input.checkpoint } : {}),
    ...(input.checkpointUnsaved ? { checkpointUnsaved: true } : {}),
    counters: {
      batches: 0,
      records: 0,
      applied: 0,
      stale: 0,
      coalesced: 0,
      outdated: 0,
      published: 0,
      alerts: 0,
      deadLettered: 0,
      skipped: 0,
      ...input.counters,
    },
    ...(input.pausedReason !== undefined ? { pausedReason: input.pausedReason } : {}),
    state: input.pausedReason ? 'PAUSED' : input.held ? 'STUCK' : 'RUNNING',
    lagMs: 0,
    ...(input.held
      ? {
          held: input.held,
          lastError: input.held.lastError,
          ...(input.held.trouble ? { trouble: input.held.trouble } : {}),
          ...(input.held.batch ? { batch: input.held.batch } : {}),
        }
      : {}),
    records: [],
    excluded: [],
    ...(input.keptBatch ? { batchRef: { ...input.keptBatch, kept: true as const }, batchKept: true } : {}),
    skipRequests: [],
    notes: [...(input.notes ?? [])].slice(-MAX_NOTES),
    retention: { ...input.retention },
  };
}

export function note(s: ShardReaderState, text: string): void {
  s.notes.push(text);
  if (s.notes.length > MAX_NOTES) s.notes.shift();
}

/** What the `status` query answers: a copy, never row data. */
export function statusOf(s: ShardReaderState): ShardStatus {
  return {
    stream: s.input.stream,
    consumer: s.input.consumer,
    shardId: s.input.shardId,
    state: s.state,
    ...(s.checkpoint ? { checkpoint: s.checkpoint } : {}),
    lagMs: s.lagMs,
    counters: { ...s.counters },
    ...(s.pausedReason !== undefined ? { pausedReason: s.pausedReason } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
    ...(s.batch ? { batch: s.batch } : {}),
    ...(s.trouble ? { trouble: s.trouble } : {}),
    ...(s.retention.gap ? { retentionGap: s.retention.gap } : {}),
    notes: [...s.notes],
  };
}

/** The input of the next run after continue-as-new: the same shard, where this run left it. */
export function carriedInput(s: ShardReaderState): ShardReaderInput {
  const { stream, consumer, shardId, settings } = s.input;
  return {
    stream,
    consumer,
    shardId,
    ...(s.checkpoint !== undefined ? { checkpoint: s.checkpoint } : {}),
    ...(s.checkpointUnsaved ? { checkpointUnsaved: true as const } : {}),
    counters: s.counters,
    ...(s.pausedReason !== undefined ? { pausedReason: s.pausedReason } : {}),
    ...(settings !== undefined ? { settings } : {}),
    ...(s.held ? { held: s.held } : {}),
    ...(s.batchKept && s.batchRef ? { keptBatch: s.batchRef } : {}),
    ...(s.notes.length ? { notes: s.notes } : {}),
    ...(Object.keys(s.retention).length ? { retention: s.retention } : {}),
  };
}
