/** Shapes shared by the capture workflow and its activities (they live in history: kept small). */
import type { SourceEpochRecord } from './sourceEpoch';

export interface CaptureInput {
  slot: string;
  publication: string;
  /** Return (so the workflow can continue) after this long; the slot keeps the position. */
  maxRunMs: number;
  /** Records buffered before a mid-transaction flush to Kinesis (bounded memory). */
  flushEvery?: number;
  /** Standby status every this many ms (default 10 s, well inside wal_sender_timeout's 60 s); tests shorten it. */
  statusIntervalMs?: number;
}

export interface CaptureProgress {
  ackedLsn: string;
  changes: number;
  transactions: number;
  /** Changes parked in the DLQ instead of the stream (a value the decoder refuses, a record too large). */
  deadLettered?: number;
  /** The source epoch this run's changes carry (absent: 0). */
  epoch?: number;
}

export interface SlotHealth {
  slot: string;
  active: boolean;
  walStatus: string | null;
  confirmedFlushLsn: string | null;
  currentLsn: string;
  /** WAL written since the slot's confirmed position: what capture has not acknowledged yet. */
  lagBytes: number;
  /** WAL the server keeps for the slot (from its restart position). */
  walRetainedBytes: number;
  checkedAt: string;
  /**
   * The source identity capture recorded and the epoch its changes carry (the state table's
   * `SOURCE#<slot>` item; domain/capture/sourceEpoch.ts). Absent before capture first ran.
   */
  source?: SourceEpochRecord;
}
