/**
 * The backfill workflow's public face: input, progress, signals and query. Clients
 * (infra/backfillClient.ts, `cdc backfill`, tests) import these definitions, so names are
 * written once.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ChunkCounts, ChunkWatermark, ReplayStart, TablePlan } from '../../domain/backfill/chunks';
import type { BackfillMode, BackfillRequest } from '../../domain/backfill/request';

/** What the workflow takes: a request (validated in the workflow too), and what continue-as-new carries. */
export type BackfillInput = BackfillRequest & {
  /** Where the previous run left off (continue-as-new); absent on the first run. */
  resume?: CarriedState;
};

/** CdcState of a backfill: FAILED only in the progress (the workflow fails; Temporal shows it). */
export type BackfillStateName = 'RUNNING' | 'PAUSED' | 'DONE' | 'CANCELLED' | 'STUCK' | 'FAILED';

export interface ShardProgress {
  shardId: string;
  start: ReplayStart;
  done: boolean;
  read: number;
}

/** A step that kept failing when the run continued as new: the next run shows it STUCK and goes on with the backoff. */
export interface HeldStep {
  failures: number;
  lastError?: BackfillProgress['lastError'];
}

/**
 * What continue-as-new carries: the plan, the cursor, the counters, the operator's settings, the
 * current chunk's watermark and a hold in progress.
 */
export interface CarriedState {
  id: string;
  /** False when the run continued as new while the plan itself was held (absent: planned). */
  planned?: boolean;
  tables: TablePlan[];
  tableIndex: number;
  /** Snapshot: the key after which the next chunk reads (text values in key order). */
  after?: string[];
  /** Reconcile: where the scan of cdc_entities resumes. */
  scanCursor?: string;
  /**
   * Snapshot, reconcile: the watermark of the chunk at the cursor, from before its first attempt
   * (version and event ids of its rows); cleared when the chunk completes.
   */
  chunkWatermark?: ChunkWatermark;
  /** The step being held when the run continued as new. */
  held?: HeldStep;
  /** Replay: the shards and where each stands; the end of the replay (ms). */
  shards?: ShardProgress[];
  shardIndex: number;
  untilMs?: number;
  /** Replay: the stream the worker's pipeline reads (from the plan). */
  stream?: string;
  counters: ChunkCounts;
  chunks: number;
  /** Rows read of the tables already finished (ETA of the current one). */
  readBeforeTable: number;
  rateLimit: number;
  pausedReason?: string;
  paused: boolean;
  cancelRequested: boolean;
  cancelReason?: string;
  startedAt: string;
  lastKeyLabel?: string;
  notes: string[];
  runs: number;
}

export interface BackfillProgress {
  id: string;
  mode: BackfillMode;
  state: BackfillStateName;
  tables: string[];
  /** The table (snapshot, reconcile) or shard (replay) being read. */
  current?: string;
  /** Rows (snapshot), items (reconcile) or records (replay) read, and what became of them. */
  counters: ChunkCounts;
  chunks: number;
  /** The last key read (a keyed hash for a table with redaction rules). */
  lastKey?: string;
  rateLimit: number;
  /** Rows per second over the last chunks. */
  rate?: number;
  /** Rows the backfill is estimated to read in all (the planner's estimates). */
  estimate?: number;
  etaSeconds?: number;
  percent?: number;
  /** `[#####-----] 52% 52,000/100,000 rows, 1,830 rows/s, ETA 26 s` */
  line: string;
  startedAt: string;
  pausedReason?: string;
  cancelReason?: string;
  lastError?: { message: string; type: string; attempts: number; at: string };
  notes: string[];
  shards?: ShardProgress[];
}

/** The workflow's result: the final progress (state DONE or CANCELLED). */
export type BackfillReport = BackfillProgress;

/** Arguments are validated in the handlers: a bad one is noted, never thrown. */
export const pauseBackfillSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeBackfillSignal = defineSignal('resume');
/** Clean: the chunk being processed finishes; the result is the final report. */
export const cancelBackfillSignal = defineSignal<[{ reason?: string }?]>('cancel');
/** Rows per second: a number, or `{ "rowsPerSecond": n }`. */
export const setRateLimitSignal = defineSignal<[number | { rowsPerSecond: number }]>('setRateLimit');
export const backfillProgressQuery = defineQuery<BackfillProgress>('progress');

/** Notes kept in the progress. */
export const MAX_NOTES = 20;
