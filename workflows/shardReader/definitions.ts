/**
 * The shard reader's public face: its input, settings, status, signals and query. Clients (the
 * supervisor, scripts, tests) import these definitions, so names are written once.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { FailureType } from '../../domain/core/errors';
import type { SkipRequest } from '../../domain/shards/operatorRequests';
import type { BatchRef } from '../../domain/shards/batchRef';
import type { TroubleRecord } from '../../domain/shards/shardTypes';
import type { ShardState } from '../names';

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
  /**
   * A batch held (a step failing) longer than this share of the stream's retention, counted from
   * its first record's arrival, is kept in S3 so the retention cannot take it.
   */
  keepHeldBatchAfter?: number;
  /**
   * While records keep coming, a shard reader runs its next batches (pull and steps) as local
   * activities in one workflow task, a chain (pull.ts), for up to this many milliseconds of
   * pulling: no server round trip per step, and the local activities of one workflow task are one
   * Temporal action. 0 turns chains off (every step an activity, as before issue 20's chains).
   * Signals and queries are answered between chains, so this bounds their delay too.
   */
  chainMs?: number;
}

export const DEFAULT_BATCH: BatchSettings = {
  maxRecords: 500,
  maxBytes: 512 * 1024,
  idleWaitMs: 60_000,
  stuckAfterAttempts: 2,
  localPureSteps: true,
  maxHistoryEvents: 10_000,
  keepHeldBatchAfter: 0.25,
  chainMs: 2_000,
};

export interface ShardCounters {
  batches: number;
  records: number;
  applied: number;
  stale: number;
  /** Changes of a hot key not written because a newer one came later in the same batch. */
  coalesced: number;
  /**
   * Changes older than what DynamoDB held (a replayed or out-of-order record): not written and not
   * published. Optional: absent in runs started before it existed.
   */
  outdated?: number;
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
  /** Carried: `checkpoint` is not written to cdc_state yet (the next pull writes it). */
  checkpointUnsaved?: true;
  counters?: ShardCounters;
  pausedReason?: string;
  settings?: Partial<BatchSettings>;
  /** The last notes of the previous run. */
  notes?: string[];
  /** Carried: when the checkpointed record arrived, and the retention alerts already raised. */
  retention?: RetentionWatch;
  /** A step that was still failing when the previous run continued as new: shown as STUCK at once. */
  held?: HeldStep;
  /**
   * The batch that was held and kept in S3 (it may be trimmed from the stream by now): the next
   * run processes it instead of pulling.
   */
  keptBatch?: BatchRef;
}

/** What the shard reader knows about the stream's retention (carried across continue-as-new). */
export interface RetentionWatch {
  /** Arrival time of the checkpointed record. */
  checkpointArrivalMs?: number;
  /** `alert.shard_lag` was raised and the lag has not fallen below half the threshold since. */
  lagAlerted?: boolean;
  /** Records after this checkpoint were trimmed before they were read (alert raised). */
  gap?: { afterSequenceNumber: string; detectedAt: string };
}

/** A failing step carried across continue-as-new (the batch itself is pulled again from the checkpoint). */
export interface HeldStep {
  step: string;
  failures: number;
  lastError: LastError;
  trouble?: TroubleRecord;
  batch?: BatchRange;
}

/** The batch being processed: first and last sequence numbers and size. */
export interface BatchRange {
  first: string;
  last: string;
  size: number;
}

/** While STUCK: the record in trouble, redacted (never row data). */
export type { TroubleRecord };

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
  batch?: BatchRange;
  trouble?: TroubleRecord;
  /** Records after this checkpoint were lost to the stream's retention: backfill what was missed. */
  retentionGap?: { afterSequenceNumber: string; detectedAt: string };
  notes: string[];
}

export type { SkipRequest };

/** Arguments are validated in the handlers (domain/shards/operatorRequests.ts): a bad one is noted, never thrown. */
export const pauseSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeSignal = defineSignal('resume');
export const skipRecordSignal = defineSignal<[SkipRequest]>('skipRecord');
export const statusQuery = defineQuery<ShardStatus>('status');
