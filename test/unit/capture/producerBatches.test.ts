import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  planPutRecordsBatches,
  PUT_RECORDS_MAX_BYTES,
  PUT_RECORDS_MAX_RECORDS,
  RECORD_MAX_BYTES,
  recordSize,
  type OutgoingRecord,
} from '../../../domain/capture/producerBatches';

const MiB = 1024 * 1024;
// One shared backing buffer: records are views of it, so large sizes cost no allocation.
const BACKING = Buffer.alloc(RECORD_MAX_BYTES + 16, 0x61);

/** A record of exactly `size` bytes (data + partition key). */
function rec(partitionKey: string, size: number, id = 0): OutgoingRecord & { id: number } {
  const dataLen = size - Buffer.byteLength(partitionKey, 'utf8');
  assert.ok(dataLen >= 0);
  return { partitionKey, data: BACKING.subarray(0, dataLen), id };
}

function checkInvariants<T extends OutgoingRecord>(input: T[], batches: T[][]): void {
  assert.deepEqual(batches.flat(), input, 'concatenation of batches equals input, in order');
  for (const b of batches) {
    assert.ok(b.length >= 1 && b.length <= PUT_RECORDS_MAX_RECORDS, `batch of ${b.length} records`);
    assert.ok(
      b.reduce((n, r) => n + r.data.length + Buffer.byteLength(r.partitionKey, 'utf8'), 0) <=
        PUT_RECORDS_MAX_BYTES,
    );
    const keys = b.map((r) => r.partitionKey);
    assert.equal(new Set(keys).size, keys.length, 'a partition key at most once per batch');
  }
}

describe('planPutRecordsBatches', () => {
  it('has the PutRecords limits', () => {
    assert.equal(PUT_RECORDS_MAX_RECORDS, 500);
    assert.equal(PUT_RECORDS_MAX_BYTES, 5 * MiB);
    assert.equal(RECORD_MAX_BYTES, MiB);
  });

  it('counts data and partition key bytes (UTF-8)', () => {
    assert.equal(recordSize({ partitionKey: 'é', data: Buffer.alloc(10) }), 12);
  });

  it('returns no batches for no records', () => {
    assert.deepEqual(planPutRecordsBatches([]), []);
  });

  it('splits by count: at most 500 records per batch', () => {
    const input = Array.from({ length: 1201 }, (_, i) => rec(`k${i}`, 100, i));
    const batches = planPutRecordsBatches(input);
    assert.deepEqual(
      batches.map((b) => b.length),
      [500, 500, 201],
    );
    checkInvariants(input, batches);
  });

  it('splits by size: at most 5 MiB per batch, filled exactly to the limit', () => {
    const input = Array.from({ length: 11 }, (_, i) => rec(`k${i}`, MiB, i));
    const batches = planPutRecordsBatches(input);
    assert.deepEqual(
      batches.map((b) => b.length),
      [5, 5, 1],
    );
    checkInvariants(input, batches);
    const over = [
      ...Array.from({ length: 4 }, (_, i) => rec(`k${i}`, MiB, i)),
      rec('k4', MiB, 4),
      rec('k5', 10, 5),
    ];
    assert.deepEqual(
      planPutRecordsBatches(over).map((b) => b.length),
      [5, 1],
    );
  });

  it('starts a new batch when a partition key repeats', () => {
    const input = [
      rec('a', 10, 0),
      rec('b', 10, 1),
      rec('a', 10, 2),
      rec('c', 10, 3),
      rec('a', 10, 4),
      rec('b', 10, 5),
    ];
    const batches = planPutRecordsBatches(input);
    assert.deepEqual(
      batches.map((b) => b.map((r) => r.id)),
      [
        [0, 1],
        [2, 3],
        [4, 5],
      ],
    );
    checkInvariants(input, batches);
  });

  it('accepts a record of exactly 1 MiB and throws RangeError for a larger one', () => {
    assert.deepEqual(
      planPutRecordsBatches([rec('k', MiB)]).map((b) => b.length),
      [1],
    );
    assert.throws(
      () => planPutRecordsBatches([rec('ok', 10), rec('too-big', MiB + 1)]),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes('too-big') && e.message.includes(String(MiB + 1)),
    );
  });

  it('keeps the limits, key uniqueness and order for random input', () => {
    const size = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 10, max: 500 }) },
      { weight: 2, arbitrary: fc.integer({ min: 200_000, max: MiB }) },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), size), { maxLength: 60 }), (items) => {
        const input = items.map(([k, s], i) => rec(`key-${k}`, s, i));
        checkInvariants(input, planPutRecordsBatches(input));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps the limits for many small records with few keys', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 400, maxLength: 1200 }), (ks) => {
        const input = ks.map((k, i) => rec(`k${k}`, 50, i));
        checkInvariants(input, planPutRecordsBatches(input));
      }),
      { numRuns: 20 },
    );
  });
});
