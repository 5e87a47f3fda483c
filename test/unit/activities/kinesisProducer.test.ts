import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { putAllRecords } from '../../../activities/stream/kinesisProducer';
import type { OutgoingRecord } from '../../../domain/capture/producerBatches';

const rec = (key: string, n: number): OutgoingRecord => ({
  partitionKey: key,
  data: Buffer.from(`${key}${n}`),
});
const name = (r: { Data?: Uint8Array }) => Buffer.from(r.Data!).toString();

/**
 * A scripted PutRecords endpoint: partial failures and slow responses on demand, which the local
 * Kinesis emulator cannot be made to produce. It records what reached the "stream", in order.
 */
function scripted(opts: {
  fail?: (record: string, call: number) => boolean;
  delayMs?: (call: number) => number;
}) {
  const stream: string[] = [];
  const requests: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const client = {
    send: async (cmd: PutRecordsCommand) => {
      const call = requests.length;
      const names = cmd.input.Records!.map(name);
      requests.push(names);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(opts.delayMs?.(call) ?? 1);
      inFlight--;
      return {
        Records: names.map((n) => {
          if (opts.fail?.(n, call)) return { ErrorCode: 'ProvisionedThroughputExceededException' };
          stream.push(n);
          return { SequenceNumber: String(stream.length) };
        }),
      };
    },
  } as unknown as KinesisClient;
  return { client, stream, requests, maxInFlight: () => maxInFlight };
}

const perKey = (names: string[]) => {
  const m = new Map<string, string[]>();
  for (const n of names) m.set(n[0], [...(m.get(n[0]) ?? []), n]);
  return Object.fromEntries(m);
};

describe('putAllRecords (PutRecords producer)', () => {
  it('re-sends only failed records, and a key’s later records only after its failed one', async () => {
    const k = scripted({ fail: (n, call) => call === 0 && (n === 'a0' || n === 'c0') });
    const retries: number[] = [];
    await putAllRecords(k.client, 's', [rec('a', 0), rec('b', 0), rec('a', 1), rec('c', 0), rec('b', 1)], {
      concurrency: 1,
      onRetry: (failed) => retries.push(failed),
    });
    assert.deepEqual(k.requests, [['a0', 'b0', 'c0'], ['a0', 'b1', 'c0'], ['a1']]);
    assert.deepEqual(retries, [2]);
    assert.deepEqual(perKey(k.stream), { a: ['a0', 'a1'], b: ['b0', 'b1'], c: ['c0'] });
  });

  it('keeps several requests in flight when the keys fill more than one, never one key in two of them', async () => {
    // 1,200 keys, a few of them repeated: the first 1,200 records fill three requests at once.
    const keys = Array.from({ length: 1200 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    const input = [...keys, 'k0001', 'k0002', 'k0001'].map((k, i) => ({
      partitionKey: k,
      data: Buffer.from(String(i)),
    }));
    const k = scripted({ delayMs: (call) => 5 + (call % 3) * 5 });
    await putAllRecords(k.client, 's', input, { concurrency: 3 });
    assert.equal(k.maxInFlight(), 3);
    assert.equal(k.stream.length, input.length);
    const order = (key: string) => input.filter((r) => r.partitionKey === key).map((r) => r.data.toString());
    const keyOf = new Map(input.map((r) => [r.data.toString(), r.partitionKey]));
    const streamed = (key: string) => k.stream.filter((n) => keyOf.get(n) === key);
    for (const key of ['k0001', 'k0002', 'k0003']) assert.deepEqual(streamed(key), order(key), key);
    for (const r of k.requests)
      assert.equal(new Set(r.map((n) => keyOf.get(n))).size, r.length, 'a key at most once per request');
  });

  it('lets the other keys of a request go on while its failed records back off', async () => {
    const k = scripted({ fail: (n, call) => call === 0 && n === 'a0' });
    await putAllRecords(k.client, 's', [rec('a', 0), rec('b', 0), rec('b', 1)], { concurrency: 2 });
    assert.deepEqual(k.requests, [['a0', 'b0'], ['b1'], ['a0']]);
  });

  it('rejects when a record still fails after maxAttempts, once the other requests came back', async () => {
    const k = scripted({ fail: (n) => n === 'a0' });
    await assert.rejects(
      putAllRecords(k.client, 's', [rec('a', 0), rec('b', 0)], { maxAttempts: 2, concurrency: 2 }),
      /1 records still failing after 2 attempts \(ProvisionedThroughputExceededException\)/,
    );
    assert.deepEqual(k.stream, ['b0']);
  });

  it('rejects when a request fails as a whole', async () => {
    const client = {
      send: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    } as unknown as KinesisClient;
    await assert.rejects(putAllRecords(client, 's', [rec('a', 0), rec('b', 0)]), /ECONNREFUSED/);
  });
});
