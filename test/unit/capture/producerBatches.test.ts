import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  PutRecordsPlan,
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

/** Sends a whole plan one request at a time (every record accepted): the requests, in order. */
function sequential<T extends OutgoingRecord>(input: T[]): T[][] {
  const plan = new PutRecordsPlan(input);
  const requests: T[][] = [];
  for (let r; (r = plan.next());) {
    requests.push(r);
    plan.settle(r, []);
  }
  assert.ok(plan.done);
  return requests;
}

function checkLimits<T extends OutgoingRecord>(request: T[]): void {
  assert.ok(request.length >= 1 && request.length <= PUT_RECORDS_MAX_RECORDS, `${request.length} records`);
  assert.ok(request.reduce((n, r) => n + recordSize(r), 0) <= PUT_RECORDS_MAX_BYTES);
  const keys = request.map((r) => r.partitionKey);
  assert.equal(new Set(keys).size, keys.length, 'a partition key at most once per request');
}

/** Every record reached the stream exactly once, and each key's records in their input order. */
function checkStream<T extends OutgoingRecord>(input: T[], stream: T[]): void {
  assert.equal(stream.length, input.length);
  assert.equal(new Set(stream).size, input.length, 'no record twice');
  const perKey = (rs: T[]) => {
    const m = new Map<string, T[]>();
    for (const r of rs) m.set(r.partitionKey, [...(m.get(r.partitionKey) ?? []), r]);
    return m;
  };
  assert.deepEqual(perKey(stream), perKey(input), 'per-key order');
}

describe('PutRecordsPlan', () => {
  it('has the PutRecords limits', () => {
    assert.equal(PUT_RECORDS_MAX_RECORDS, 500);
    assert.equal(PUT_RECORDS_MAX_BYTES, 5 * MiB);
    assert.equal(RECORD_MAX_BYTES, MiB);
  });

  it('counts data and partition key bytes (UTF-8)', () => {
    assert.equal(recordSize({ partitionKey: 'é', data: Buffer.alloc(10) }), 12);
  });

  it('is done at once for no records', () => {
    const plan = new PutRecordsPlan([]);
    assert.ok(plan.done);
    assert.equal(plan.next(), undefined);
  });

  it('fills requests by count: at most 500 records each', () => {
    const input = Array.from({ length: 1201 }, (_, i) => rec(`k${i}`, 100, i));
    const requests = sequential(input);
    assert.deepEqual(
      requests.map((b) => b.length),
      [500, 500, 201],
    );
    assert.deepEqual(requests.flat(), input, 'distinct keys keep their order');
  });

  it('fills requests by size: at most 5 MiB each, filled exactly to the limit', () => {
    const input = Array.from({ length: 11 }, (_, i) => rec(`k${i}`, MiB, i));
    assert.deepEqual(
      sequential(input).map((b) => b.length),
      [5, 5, 1],
    );
  });

  it('sends a repeated key in later requests while the other keys ride in the first', () => {
    // A hot key `a` committed three times among others: three requests, not a new one at every repeat.
    const input = [
      rec('a', 10, 0),
      rec('b', 10, 1),
      rec('a', 10, 2),
      rec('c', 10, 3),
      rec('a', 10, 4),
      rec('b', 10, 5),
    ];
    assert.deepEqual(
      sequential(input).map((b) => b.map((r) => r.id)),
      [[0, 1, 3], [2, 5], [4]],
    );
  });

  it('never has a key in two requests in flight; a key comes free when its request settles', () => {
    const input = [rec('a', 10, 0), rec('b', 10, 1), rec('a', 10, 2), rec('c', 10, 3)];
    const plan = new PutRecordsPlan(input);
    const first = plan.next(2)!;
    assert.deepEqual(
      first.map((r) => r.id),
      [0, 1],
    );
    const second = plan.next(2)!;
    assert.deepEqual(
      second.map((r) => r.id),
      [3],
      '`a` is in flight: its second record waits',
    );
    assert.equal(plan.next(), undefined, 'every waiting key is in flight');
    plan.settle(first, []);
    assert.deepEqual(
      plan.next()!.map((r) => r.id),
      [2],
    );
  });

  it('re-sends a failed record before any later record of its key', () => {
    const input = [rec('a', 10, 0), rec('b', 10, 1), rec('a', 10, 2)];
    const plan = new PutRecordsPlan(input);
    const first = plan.next()!;
    plan.settle(first, [first[0]]);
    assert.ok(!plan.done);
    assert.deepEqual(
      plan.next()!.map((r) => r.id),
      [0],
      'a0 again, not a2',
    );
  });

  it('accepts a record of exactly 1 MiB and throws RangeError for a larger one', () => {
    assert.deepEqual(
      sequential([rec('k', MiB)]).map((b) => b.length),
      [1],
    );
    assert.throws(
      () => new PutRecordsPlan([rec('ok', 10), rec('too-big', MiB + 1)]),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes('too-big') && e.message.includes(String(MiB + 1)),
    );
  });

  it('keeps the limits, per-key order and exactly-once with requests in flight and random failures', () => {
    const size = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 10, max: 500 }) },
      { weight: 2, arbitrary: fc.integer({ min: 200_000, max: MiB }) },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), size), { maxLength: 80 }),
        fc.integer({ min: 1, max: 4 }),
        fc.infiniteStream(fc.nat()),
        (items, concurrency, dice) => {
          const input = items.map(([k, s], i) => rec(`key-${k}`, s, i));
          const plan = new PutRecordsPlan(input);
          const stream: (typeof input)[number][] = [];
          const inFlight: (typeof input)[] = [];
          const die = dice[Symbol.iterator]();
          for (let rounds = 0; !plan.done; rounds++) {
            assert.ok(rounds < 10_000, 'the plan makes progress');
            for (let r; inFlight.length < concurrency && (r = plan.next());) {
              checkLimits(r);
              const flying = new Set(inFlight.flat().map((x) => x.partitionKey));
              assert.ok(
                r.every((x) => !flying.has(x.partitionKey)),
                'no key in two requests in flight',
              );
              inFlight.push(r);
            }
            // Any request in flight comes back; each of its records fails one time in four.
            const request = inFlight.splice(die.next().value % inFlight.length, 1)[0];
            const failed = request.filter(() => die.next().value % 4 === 0);
            for (const r of request) if (!failed.includes(r)) stream.push(r);
            plan.settle(request, failed);
          }
          checkStream(input, stream);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps the limits for many small records with few keys', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 400, maxLength: 1200 }), (ks) => {
        const input = ks.map((k, i) => rec(`k${k}`, 50, i));
        const requests = sequential(input);
        requests.forEach(checkLimits);
        checkStream(input, requests.flat());
      }),
      { numRuns: 20 },
    );
  });
});
