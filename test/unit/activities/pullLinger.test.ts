import assert from 'node:assert/strict';
import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import { heartbeatWhenDue, lingerEnd, MIN_GET_RECORDS_GAP_MS } from '../../../activities/stream/streamReader';
import type { PullInput, PullResult } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { waitFor } from '../../support/waitFor';
import { FakeKinesis, fakes, type SentCommand } from './fakes';

const input: PullInput = {
  stream: 'cdc-inventory',
  shardId: 'shardId-000000000000',
  afterSequenceNumber: '10',
  maxRecords: 100,
  maxBytes: 10_000,
  waitMs: 0,
};
const record = (n: number, arrivalMs = Date.now()) => ({
  SequenceNumber: String(n),
  PartitionKey: `inventory:SKU-${n}`,
  Data: Buffer.from(`{"n":${n}}`),
  ApproximateArrivalTimestamp: new Date(arrivalMs),
});

/** A pull against a fake Kinesis whose GetRecords pages come from `pages` (then empty pages). */
function pull(
  lingerMs: number,
  pages: (n: number) => Record<string, unknown> | undefined,
  opts: { input?: PullInput; info?: Partial<Info> } = {},
) {
  const gets: { at: number; input: SentCommand['input'] }[] = [];
  let n = 0;
  const kinesis = new FakeKinesis((c) => {
    if (c.name === 'GetShardIteratorCommand') return { ShardIterator: 'it-0' };
    gets.push({ at: Date.now(), input: c.input });
    return pages(n++) ?? { Records: [], MillisBehindLatest: 0, NextShardIterator: `it-${n}` };
  });
  const config = loadConfig({ CDC_PULL_LINGER_MS: String(lingerMs) });
  const activities = createActivities(config, fakes(kinesis).io);
  const env = new MockActivityEnvironment(opts.info, {
    logger: new DefaultLogger('ERROR', () => undefined),
  });
  let heartbeats = 0;
  env.on('heartbeat', () => heartbeats++);
  const started = Date.now();
  const result = env.run(activities.pullRecords, opts.input ?? input) as Promise<PullResult>;
  return { gets, result, started, heartbeats: () => heartbeats };
}

const seqs = (r: PullResult) => r.records.map((x) => x.sequenceNumber);

describe('pull linger (CDC_PULL_LINGER_MS, fake Kinesis)', () => {
  it('is validated: an integer from 0 to 5,000 ms', () => {
    assert.equal(loadConfig({ CDC_PULL_LINGER_MS: '0' }).pullLingerMs, 0);
    assert.throws(() => loadConfig({ CDC_PULL_LINGER_MS: '-1' }), /CDC_PULL_LINGER_MS/);
    assert.throws(() => loadConfig({ CDC_PULL_LINGER_MS: 'soon' }), /CDC_PULL_LINGER_MS/);
    assert.throws(() => loadConfig({ CDC_PULL_LINGER_MS: '60000' }), /CDC_PULL_LINGER_MS/);
  });

  it('without linger, returns the first page that has records (one GetRecords)', async () => {
    const { gets, result } = pull(0, (n) =>
      n === 0 ? { Records: [record(11)], MillisBehindLatest: 0, NextShardIterator: 'it-1' } : undefined,
    );
    assert.deepEqual(seqs(await result), ['11']);
    assert.equal(gets.length, 1);
  });

  it('with linger, keeps reading (≥ 200 ms between GetRecords) until the linger has passed since the first record arrived', async () => {
    const { gets, result, started } = pull(500, (n) =>
      n === 0
        ? { Records: [record(11)], MillisBehindLatest: 0, NextShardIterator: 'it-1' }
        : n === 1
          ? { Records: [record(12), record(13)], MillisBehindLatest: 0, NextShardIterator: 'it-2' }
          : undefined,
    );
    const out = await result;
    const tookMs = Date.now() - started;
    assert.deepEqual(seqs(out), ['11', '12', '13'], 'one batch, in stream order');
    assert.ok(tookMs >= 450 && tookMs < 900, `returned after ${tookMs} ms`);
    for (let i = 1; i < gets.length; i++)
      assert.ok(
        gets[i].at - gets[i - 1].at >= MIN_GET_RECORDS_GAP_MS - 5,
        `gap ${gets[i].at - gets[i - 1].at} ms`,
      );
    assert.equal(gets[1].input.ShardIterator, 'it-1', 'follows the page iterator');
    assert.equal(gets[1].input.Limit, 99, 'asks only for what still fits');
  });

  it('returns at once when the batch is full (records or bytes), linger or not', async () => {
    const full = pull(
      5_000,
      (n) =>
        n === 0
          ? { Records: [record(11)], MillisBehindLatest: 0, NextShardIterator: 'it-1' }
          : { Records: [record(12), record(13)], MillisBehindLatest: 0, NextShardIterator: 'it-2' },
      { input: { ...input, maxRecords: 3 } },
    );
    assert.deepEqual(seqs(await full.result), ['11', '12', '13']);
    assert.ok(Date.now() - full.started < 1_000);

    const bytes = pull(
      5_000,
      (n) =>
        n === 0
          ? { Records: [record(11)], MillisBehindLatest: 0, NextShardIterator: 'it-1' }
          : { Records: [record(12), record(13)], MillisBehindLatest: 0, NextShardIterator: 'it-2' },
      { input: { ...input, maxBytes: 60 } }, // one record is 8 + 16 + 2 = 26 bytes: two fit
    );
    assert.deepEqual(
      seqs(await bytes.result),
      ['11', '12'],
      'the record that does not fit is read next time',
    );
    assert.ok(Date.now() - bytes.started < 1_000);
  });

  it('a record that arrived long before it was read is not held any longer', async () => {
    const { gets, result, started } = pull(2_000, (n) =>
      n === 0
        ? { Records: [record(11, Date.now() - 10_000)], MillisBehindLatest: 0, NextShardIterator: 'it-1' }
        : undefined,
    );
    assert.deepEqual(seqs(await result), ['11']);
    assert.equal(gets.length, 1);
    assert.ok(Date.now() - started < 150);
  });

  it('lingerEnd: the linger counts from the arrival, within [read, read + linger]', () => {
    assert.equal(lingerEnd(1_000, 1_100, 300), 1_300);
    assert.equal(lingerEnd(1_000, 2_000, 300), 2_000);
    assert.equal(lingerEnd(5_000, 1_000, 300), 1_300, 'a clock ahead does not lengthen it');
    assert.equal(lingerEnd(0, 1_000, 300), 1_300, 'no arrival time: from the read');
    assert.equal(lingerEnd(1_000, 1_000, 0), 1_000);
  });
});

describe('pull heartbeats (idle cost)', () => {
  it('an idle pull shorter than its heartbeat timeout sends no heartbeat', async () => {
    const { result, heartbeats } = pull(0, () => undefined, {
      input: { ...input, waitMs: 600 },
      info: { heartbeatTimeoutMs: 75_000, startToCloseTimeoutMs: 120_000 },
    });
    const out = await result;
    assert.deepEqual(out.records, []);
    assert.equal(heartbeats(), 0);
    assert.equal(out.waited, undefined, 'no heartbeat: nothing to count');
  });

  it('a pull waiting longer heartbeats about once per half heartbeat timeout', async () => {
    const { result, heartbeats } = pull(0, () => undefined, {
      input: { ...input, waitMs: 1_000 },
      info: { heartbeatTimeoutMs: 400, startToCloseTimeoutMs: 120_000 },
    });
    const out = await result;
    assert.ok(heartbeats() >= 3 && heartbeats() <= 6, `${heartbeats()} heartbeats`);
    assert.equal(out.waited, true);
  });

  it('the wait is bounded by the start-to-close timeout, less a margin', async () => {
    const started = Date.now();
    const { result } = pull(0, () => undefined, {
      input: { ...input, waitMs: 60_000 },
      info: { startToCloseTimeoutMs: 1_000 },
    });
    await result;
    assert.ok(Date.now() - started < 1_000, `${Date.now() - started} ms`);
  });

  it('heartbeatWhenDue: none without a heartbeat timeout, else max(t/2, t − 10 s) apart', () => {
    let now = 0;
    const beats: number[] = [];
    const ctx = (heartbeatTimeoutMs?: number) =>
      ({ info: { heartbeatTimeoutMs } as Info, heartbeat: () => beats.push(now) }) as const;
    const none = heartbeatWhenDue(ctx(undefined), () => now);
    for (now = 0; now <= 100_000; now += 1_000) none();
    assert.deepEqual(beats, []);
    now = 0;
    const long = heartbeatWhenDue(ctx(75_000), () => now);
    for (; now <= 140_000; now += 1_000) long();
    assert.deepEqual(beats, [65_000, 130_000]);
    assert.equal(long.beats, 2);
  });
});

describe('pull superseded (pause, then resume)', () => {
  it('a new pull of the same shard ends the wait of the one before it on this worker (cancelled in the workflow, it heard nothing)', async () => {
    const first = pull(0, () => undefined, {
      input: { ...input, waitMs: 30_000 },
      info: { heartbeatTimeoutMs: 75_000, startToCloseTimeoutMs: 120_000 },
    });
    // The first pull is waiting: it has read (an empty page) at least once.
    await waitFor('the first pull to wait', async () => (first.gets.length > 0 ? true : undefined), {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    const second = pull(0, (n) => (n === 0 ? { Records: [record(11)], MillisBehindLatest: 0 } : undefined));
    assert.deepEqual(seqs(await second.result), ['11']);
    const out = await first.result;
    assert.deepEqual(out.records, []);
    assert.ok(Date.now() - first.started < 2_000, 'the first pull stopped waiting');
    // Another shard's pull does not end it.
    const third = pull(0, () => undefined, {
      input: { ...input, waitMs: 700 },
      info: { heartbeatTimeoutMs: 75_000, startToCloseTimeoutMs: 120_000 },
    });
    const other = pull(0, (n) => (n === 0 ? { Records: [record(11)], MillisBehindLatest: 0 } : undefined), {
      input: { ...input, shardId: 'shardId-000000000001' },
    });
    await other.result;
    await third.result;
    assert.ok(Date.now() - third.started >= 650, 'a pull of another shard left it waiting');
  });
});
