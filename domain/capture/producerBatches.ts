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
 * Splits records, in order, into PutRecords requests within the limits, with each partition key
 * at most once per request. The producer sends request n+1 only after every record of request n
 * was accepted (re-sending only failed ones), so per-key order holds even when some records of a
 * request fail. Throws on a record that is too large for Kinesis at all (capture parks such a
 * change in the DLQ before it gets here).
 */
export function planPutRecordsBatches<T extends OutgoingRecord>(records: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  let keys = new Set<string>();
  for (const r of records) {
    const size = recordSize(r);
    if (size > RECORD_MAX_BYTES)
      // Named by table only: the rest of the partition key is the row's key values.
      throw new RangeError(
        `record for ${r.partitionKey.split(':')[0]} is ${size} bytes; Kinesis allows ${RECORD_MAX_BYTES}`,
      );
    if (
      current.length === PUT_RECORDS_MAX_RECORDS ||
      bytes + size > PUT_RECORDS_MAX_BYTES ||
      keys.has(r.partitionKey)
    ) {
      batches.push(current);
      current = [];
      bytes = 0;
      keys = new Set();
    }
    current.push(r);
    bytes += size;
    keys.add(r.partitionKey);
  }
  if (current.length) batches.push(current);
  return batches;
}
