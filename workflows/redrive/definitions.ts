/**
 * The redrive workflow's public face: its input, progress and query. Clients (infra/redriveClient.ts,
 * the `cdc dlq` commands, tests) import these definitions, so names are written once.
 */
import { defineQuery } from '@temporalio/workflow';
import type { DeadLetterFilter } from '../../activities/deadLetterAdmin';

export type { DeadLetterFilter };

export interface RedriveInput {
  /** Names the request: the workflow id is `cdc-redrive:<requestId>`; audit entries carry it. */
  requestId: string;
  /** Exactly one of `ids` (DLQ keys) and `filter` (PARKED items matching it). */
  ids?: string[];
  filter?: DeadLetterFilter;
  /**
   * The consumer whose letters these are (infra/consumers.ts): the workflow runs on its task queue,
   * so its worker's sink redrives them; the listing (filter) takes that consumer's letters only,
   * and a letter of another consumer is left alone. Absent in requests started before it existed.
   */
  consumer?: string;
  /** Who asked and why: kept in every item's audit trail. */
  actor: string;
  reason: string;
  /** Items per activity (default 25). */
  chunkSize?: number;
  /** Continue-as-new after this many history events even if the server has not suggested it (default 2,000). */
  maxHistoryEvents?: number;
  /** Carried across continue-as-new: where the listing (filter) stands, and the progress so far. */
  cursor?: string;
  progress?: RedriveProgress;
}

export type RedriveState = 'RUNNING' | 'DONE' | 'FAILED';

/** What the `progress` query answers and the Web UI shows: counts and keys, never row data. */
export interface RedriveProgress {
  requestId: string;
  /** Items known so far: every id, or the items the filter listed up to now. */
  total: number;
  /** Items processed (redriven + stale + failed + skipped). */
  done: number;
  redriven: number;
  /** DynamoDB held the same or a newer version: REDRIVEN, nothing published. */
  stale: number;
  /** Failed again: still PARKED with the new error. */
  failed: number;
  /** Not PARKED (already redriven or discarded), not found, or another consumer's: left alone. */
  skipped: number;
  /** RUNNING; DONE; FAILED when an activity failed for good (e.g. a missing table): `error` says why. */
  state: RedriveState;
  /** The last 20 items that failed or were skipped, with why. */
  failures: { pk: string; reason: string }[];
  error?: string;
}

export const MAX_FAILURES_KEPT = 20;
export const DEFAULT_CHUNK_SIZE = 25;
export const MAX_CHUNK_SIZE = 100;
/** At most this many ids in one request (they travel in the input): more are a filter's job. */
export const MAX_IDS = 1000;

export const redriveProgressQuery = defineQuery<RedriveProgress>('progress');
