/**
 * A batch by reference (claim check): what the shard reader's history carries instead of rows.
 * The records stay with the workers (a cache, else read again from Kinesis by sequence range);
 * the workflow sees the range, the count, the byte size and a checksum, never a row value.
 */
import type { DeadLetterCategory } from '../core/errors';
import type { StreamRecord, TroubleRecord } from './shardTypes';

export interface BatchRef {
  stream: string;
  shardId: string;
  /** First and last sequence number of the batch (inclusive). */
  first: string;
  last: string;
  count: number;
  /** Bytes of record data (and keys) in the batch. */
  bytes: number;
  /** sha256 over every record's sequence number, partition key and data (hex, 16 digits). */
  checksum: string;
  /** When the last record arrived on the stream (the retention watch needs it). */
  lastArrivalMs: number;
  /** When the first record arrived on the stream (how long the batch has been held). */
  firstArrivalMs: number;
  /** The batch was kept in S3 (held long): a step that does not find it cached reads it from there. */
  kept?: true;
}

/** The part of a batch a step works on: the reference, minus records already parked or skipped. */
export interface BatchSelection {
  batch: BatchRef;
  /** Sequence numbers removed from the batch (dead-lettered, skipped). */
  exclude?: string[];
}

/** A record a step refused, by sequence number (its raw data is fetched by the activity that parks it). */
export interface LetterRef {
  sequenceNumber: string;
  category: DeadLetterCategory;
  reason: string;
  appliedNotPublished?: true;
}

/** What the pure steps found in a batch: counts and records in trouble, no values. */
export interface PreparedBatch {
  /** Events the batch gives (a key change gives two). */
  events: number;
  /** Records that cannot be processed (undecodable, unconfigured table). */
  deadLetters: LetterRef[];
  /** Hold changes among the events (the reservations step runs only when there are some). */
  holds: number;
  /** The first event, named as the status names a record in trouble. */
  first?: TroubleRecord;
}

/** Whether a sequence number lies within the batch's range (decimal strings of varying length). */
export function inBatch(ref: Pick<BatchRef, 'first' | 'last'>, sequenceNumber: string): boolean {
  if (!/^\d{1,128}$/.test(sequenceNumber)) return false;
  const n = BigInt(sequenceNumber);
  return n >= BigInt(ref.first) && n <= BigInt(ref.last);
}

/** The size a record counts for in a batch's byte budget. */
export function recordBytes(r: StreamRecord): number {
  return utf8Length(r.data) + r.partitionKey.length + r.sequenceNumber.length;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
