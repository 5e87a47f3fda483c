/**
 * What passes between the backfill workflow and its activities: tables, cursors and counts,
 * never row values (rows stay inside the chunk activity). Kept small: it lives in history.
 */
import type { BackfillFilter } from './request';

/** A table the backfill will read, as `planBackfill` found it. */
export interface TablePlan {
  table: string;
  /** The planner's estimate of the rows to read (reltuples, or the plan's estimate with a filter). */
  estimate?: number;
  /**
   * The table has redaction rules: its key is not shown in current details or the progress
   * line (they bypass the payload codec); `lastKey` is then a keyed hash.
   */
  sensitive: boolean;
}

export interface BackfillPlan {
  tables: TablePlan[];
  /** Replay: the stream the worker's pipeline reads. */
  stream?: string;
  /** Replay: the shards to read, each with where to start. */
  shards?: ReplayShard[];
}

export type ReplayStart =
  | { type: 'AT_TIMESTAMP'; timestamp: string }
  | { type: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export interface ReplayShard {
  shardId: string;
  start: ReplayStart;
}

/** The counts every chunk reports (the workflow adds them up). */
export interface ChunkCounts {
  /** Rows (snapshot), DynamoDB items (reconcile) or stream records (replay) read. */
  read: number;
  /** Written to DynamoDB. */
  applied: number;
  /** Not written: DynamoDB holds the same or a newer version. */
  stale: number;
  /** Put on EventBridge. */
  published: number;
  /** Refused for reasons of their own (a value a transformation refuses, an item too large, an entry EventBridge refuses). */
  rejected: number;
  /** Reconcile: tombstones written for keys PostgreSQL no longer has. */
  tombstoned: number;
  /** Replay: records that do not decode or name a table not replayed; reconcile: items whose key cannot be read. */
  skipped: number;
}

export interface ChunkResultBase extends ChunkCounts {
  /** Nothing more to read for this table (or shard). */
  done: boolean;
  /** How the last key read is shown (a keyed hash for a sensitive table). */
  lastKeyLabel?: string;
  /** The chunk's watermark (snapshot, reconcile) and how long the wait for it took. */
  watermark?: string;
  waitedMs?: number;
  /**
   * Snapshot, reconcile: a watermark for the next chunk, taken right after this one's read (an
   * earlier watermark is still right for a later read): the workflow keeps it, so the next chunk
   * needs no `backfillWatermark` of its own. Absent when in-flight transactions kept it waiting.
   */
  nextWatermark?: ChunkWatermark;
  /** Why some records were refused (the first few; no values). */
  reasons?: string[];
}

/**
 * A chunk's watermark (docs/backfill.md): what fixes the version and the event ids of its rows.
 * Taken once, before the chunk's first attempt (`backfillWatermark`), kept in the workflow's
 * state and given to every attempt of the chunk, so a retried chunk writes and publishes the same
 * events (a later read with an earlier watermark is still right: its state holds every change
 * below the watermark).
 */
export interface ChunkWatermark {
  /** L = pg_current_wal_insert_lsn(), read before the wait for the transactions then in progress. */
  lsn: string;
  db: string;
  /** When the watermark was taken (ISO-8601): the events' timestamp, part of their ids. */
  readAt: string;
  /** How long the wait for the transactions in progress at L took. */
  waitedMs: number;
  /** The source epoch at L (docs/failover.md), part of the rows' version; absent: 0. */
  epoch?: number;
}

/** What `backfillWatermark` takes: the backfill and the table of the chunk it is for. */
export interface WatermarkInput {
  backfillId: string;
  table: string;
}

export interface SnapshotChunkInput {
  backfillId: string;
  table: string;
  filter?: BackfillFilter;
  /** The key of the last row of the previous chunk (text values in key order); absent: from the start. */
  after?: string[];
  limit: number;
  /** The chunk's watermark, taken before its first attempt; absent (histories before it): taken by the chunk. */
  watermark?: ChunkWatermark;
}
export interface SnapshotChunkResult extends ChunkResultBase {
  /** The cursor for the next chunk (absent when the chunk was empty: keep the previous one). */
  after?: string[];
}

export interface ReconcileChunkInput {
  backfillId: string;
  table: string;
  /** Where the scan of cdc_entities resumes (the last evaluated `pk`). */
  cursor?: string;
  limit: number;
  /** The page's watermark, taken before its first attempt; absent: taken by the page. */
  watermark?: ChunkWatermark;
}
export interface ReconcileChunkResult extends ChunkResultBase {
  cursor?: string;
}

export interface ReplayChunkInput {
  backfillId: string;
  stream: string;
  shardId: string;
  /** Where this chunk starts: the replay's start, then after the last record read. */
  start: ReplayStart;
  /** Records that arrived after this time end the replay of the shard. */
  untilMs: number;
  /** Replay only changes of these tables (absent: every table). */
  tables?: string[];
  limit: number;
}
export interface ReplayChunkResult extends ChunkResultBase {
  /** The last record read (the next chunk starts after it). */
  lastSequenceNumber?: string;
}

export const emptyCounts = (): ChunkCounts => ({
  read: 0,
  applied: 0,
  stale: 0,
  published: 0,
  rejected: 0,
  tombstoned: 0,
  skipped: 0,
});

/** Adds the counts of a chunk to a running total (in place). */
export function addCounts(total: ChunkCounts, chunk: ChunkCounts): ChunkCounts {
  for (const k of Object.keys(total) as (keyof ChunkCounts)[]) total[k] += chunk[k] ?? 0;
  return total;
}
