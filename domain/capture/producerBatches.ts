/** PutRecords limits: 500 records and 5 MiB per request, 1 MiB per record (data + partition key). */
export const PUT_RECORDS_MAX_RECORDS = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;
export const RECORD_MAX_BYTES = 1024 * 1024;

export interface OutgoingRecord {
  partitionKey: string;
  data: Buffer;
}

export const recordSize = (r: OutgoingRecord) => r.data.length + Buffer.byteLength(r.partitionKey, 'utf8');

/**
 * The records of one flush on their way into PutRecords requests, several requests in flight.
 *
 * Kinesis does not order the records of one PutRecords request among themselves when some of them
 * fail (a failed record is re-sent after later ones were accepted), so per-key order needs each
 * partition key at most once per request, and at most one record per key in flight at a time.
 * Within those rules requests are as full as the limits allow: `next()` takes, in the order of
 * their first appearance, the oldest waiting record of every key that has nothing in flight. A
 * hot key updated N times in a flush therefore costs N requests in sequence, while every other key
 * rides along in the first of them (instead of a new request at every repeated key, which made
 * hot-key bursts send ~10 records per request). Records of different keys may reach the stream
 * in a different order than they were committed; consumers order by key (version), never across keys.
 */
export class PutRecordsPlan<T extends OutgoingRecord> {
  /** Waiting records per key, oldest first; keys in order of first appearance. */
  private readonly waiting = new Map<string, T[]>();
  private readonly inFlight = new Set<string>();
  private remaining: number;

  /** Throws RangeError on a record too large for Kinesis at all (capture parks those before). */
  constructor(records: readonly T[]) {
    for (const r of records) {
      const size = recordSize(r);
      if (size > RECORD_MAX_BYTES)
        // Named by table only: the rest of the partition key is the row's key values.
        throw new RangeError(
          `record for ${r.partitionKey.split(':')[0]} is ${size} bytes; Kinesis allows ${RECORD_MAX_BYTES}`,
        );
      const queue = this.waiting.get(r.partitionKey);
      if (queue) queue.push(r);
      else this.waiting.set(r.partitionKey, [r]);
    }
    this.remaining = records.length;
  }

  /** Every record was accepted. */
  get done(): boolean {
    return this.remaining === 0;
  }

  /**
   * The next request (at most 500 records, 5 MiB, each key once, no key in flight), now in
   * flight; undefined when every waiting record's key is in flight.
   */
  next(maxRecords = PUT_RECORDS_MAX_RECORDS): T[] | undefined {
    const request: T[] = [];
    let bytes = 0;
    for (const [key, queue] of this.waiting) {
      if (request.length >= maxRecords) break;
      if (this.inFlight.has(key)) continue;
      const size = recordSize(queue[0]);
      if (bytes + size > PUT_RECORDS_MAX_BYTES) continue;
      request.push(queue[0]);
      bytes += size;
    }
    for (const r of request) this.inFlight.add(r.partitionKey);
    return request.length ? request : undefined;
  }

  /**
   * A request came back: its accepted records leave, `failed` ones (a subset of `request`) wait
   * again at the head of their key, and its keys are free for the next request.
   */
  settle(request: readonly T[], failed: readonly T[]): void {
    const retry = new Set(failed);
    for (const r of request) {
      this.inFlight.delete(r.partitionKey);
      if (retry.has(r)) continue;
      const queue = this.waiting.get(r.partitionKey)!;
      queue.shift();
      if (!queue.length) this.waiting.delete(r.partitionKey);
      this.remaining--;
    }
  }
}
