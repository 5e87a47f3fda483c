import type { DeadLetterCategory, RejectionCategory } from '../core/errors';

/** Shapes that flow between the shard-reader workflow and its activities (kept small: they live in history). */

export interface StreamRecord {
  sequenceNumber: string;
  partitionKey: string;
  /** Record data as UTF-8 text, or base64 when it is not valid UTF-8. */
  data: string;
  encoding: 'utf8' | 'base64';
  arrivalMs: number;
}

export interface PullInput {
  stream: string;
  shardId: string;
  /** Last processed sequence number; reading starts after it (TRIM_HORIZON when absent). */
  afterSequenceNumber?: string;
  /**
   * `afterSequenceNumber` is processed but not yet checkpointed: the pull writes the checkpoint
   * before it reads (one activity per batch instead of two).
   */
  saveCheckpoint?: true;
  maxRecords: number;
  maxBytes: number;
  /** When caught up, keep polling (with bounded backoff) this long before returning empty. */
  waitMs: number;
  /** When the checkpointed record arrived on the stream: past the retention, check for trimmed records. */
  checkpointArrivalMs?: number;
}

export interface PullResult {
  records: StreamRecord[];
  millisBehindLatest: number;
  /** The shard is closed and every record was read (SHARD_END). */
  shardEnded: boolean;
  /** The stream's retention and the lag that raises `alert.shard_lag` (from the configuration). */
  retention?: { retentionMs: number; lagAlertMs: number };
  /** Records after the checkpoint were trimmed by the retention before they were read. */
  trimmed?: true;
  /** The pull waited on empty pages, heartbeating (what it cost in heartbeats; the benchmark counts them). */
  waited?: true;
}

export interface DeadLetter {
  record: StreamRecord;
  shardId: string;
  category: DeadLetterCategory;
  reason: string;
  /**
   * Set when the record was applied to DynamoDB but not published (skipped or rejected during
   * publish): the DLQ item says so, and a redrive publishes it.
   */
  appliedNotPublished?: true;
}

/** A record that one step could not process for reasons of its own (dead-lettered, the batch goes on). */
export interface Rejection {
  sequenceNumber: string;
  category: RejectionCategory;
  reason: string;
}

/** A record named in the status and the Web UI: where it is and what it is, never its values. */
export interface TroubleRecord {
  sequenceNumber: string;
  table?: string;
  entityId?: string;
  op?: string;
  version?: string;
}

export interface ShardInfo {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
  open: boolean;
}

/** Kinesis sequence numbers are decimal strings of varying length; this form sorts as they do. */
export const sortableSequence = (seq: string) => seq.padStart(64, '0');
