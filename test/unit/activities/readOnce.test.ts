import assert from 'node:assert/strict';
import { ExpiredIteratorException } from '@aws-sdk/client-kinesis';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import { ShardCursors, type ShardCursor } from '../../../activities/stream/shardCursors';
import type { PullInput, PullResult } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { registry } from '../../../infra/metrics';
import { FakeKinesis, fakes, type SentCommand } from './fakes';

/**
 * Readers that read once (issue 23 item 2): the shard iterator is carried between pulls, records
 * read beyond a batch's budget are served to the next pull, GetRecords' Limit follows the budget.
 */

// No linger: a pull returns with its first records (the GetRecords counts below are exact).
const config = loadConfig({ CDC_PULL_LINGER_MS: '0' });
const base: Omit<PullInput, 'afterSequenceNumber'> = {
  stream: 'cdc-inventory',
  shardId: 'shardId-000000000000',
  maxRecords: 100,
  maxBytes: 10_000,
  waitMs: 0,
};

/** One shard in memory: iterators are positions; it counts the calls and every record it returns. */
class FakeShard {
  readonly fetched: string[] = [];
  readonly expired = new Set<string>();
  private issued = 0;
  readonly kinesis: FakeKinesis;
  constructor(
    readonly seqs: number[],
    readonly dataBytes: number,
  ) {
    this.kinesis = new FakeKinesis((c) => this.respond(c));
  }
  calls(name: 'GetShardIteratorCommand' | 'GetRecordsCommand'): SentCommand[] {
    return this.kinesis.sent.filter((c) => c.name === name);
  }
  /** Every iterator handed out so far expires. */
  expireAll(): void {
    for (let i = 1; i <= this.issued; i++) this.expired.add(String(i));
  }
  private iterator(position: number): string {
    return `${++this.issued}:${position}`;
  }
  private respond(c: SentCommand): unknown {
    if (c.name === 'GetShardIteratorCommand') {
      const after = c.input.StartingSequenceNumber as string | undefined;
      const position = after ? this.seqs.filter((s) => s <= Number(after)).length : 0;
      return { ShardIterator: this.iterator(position) };
    }
    const [id, at] = (c.input.ShardIterator as string).split(':');
    if (this.expired.has(id)) throw new ExpiredIteratorException({ message: 'expired', $metadata: {} });
    const from = Number(at);
    const page = this.seqs.slice(from, from + (c.input.Limit as number));
    this.fetched.push(...page.map(String));
    const next = from + page.length;
    return {
      Records: page.map((n) => ({
        SequenceNumber: String(n),
        PartitionKey: 'k',
        Data: Buffer.from('x'.repeat(this.dataBytes)),
        ApproximateArrivalTimestamp: new Date(),
      })),
      MillisBehindLatest: next < this.seqs.length ? 1_000 : 0,
      NextShardIterator: this.iterator(next),
    };
  }
  /** Records returned by GetRecords more than once. */
  readTwice(): number {
    return this.fetched.length - new Set(this.fetched).size;
  }
}

function reader(shard: FakeShard) {
  const activities = createActivities(config, fakes(shard.kinesis).io);
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => undefined) });
  return async (after: string, more: Partial<PullInput> = {}) => {
    const out = (await env.run(activities.pullRecords, {
      ...base,
      afterSequenceNumber: after,
      ...more,
    })) as PullResult;
    return out.records.map((r) => r.sequenceNumber);
  };
}

describe('readers that read once (carried iterator, kept records, Limit by budget; fake Kinesis)', () => {
  it('two consecutive pulls take one shard iterator, not two', async () => {
    const shard = new FakeShard([11, 12, 13], 10);
    const pull = reader(shard);
    assert.deepEqual(await pull('10', { maxRecords: 1 }), ['11']);
    assert.deepEqual(await pull('11', { maxRecords: 1 }), ['12']);
    assert.equal(shard.calls('GetShardIteratorCommand').length, 1);
    assert.equal(shard.readTwice(), 0);
  });

  it('an expired carried iterator is replaced once, from the position, and the pull succeeds', async () => {
    const shard = new FakeShard([11, 12, 13], 10);
    const pull = reader(shard);
    assert.deepEqual(await pull('10', { maxRecords: 1 }), ['11']);
    shard.expireAll();
    const before = shard.kinesis.sent.length;
    assert.deepEqual(await pull('11', { maxRecords: 1 }), ['12']);
    const second = shard.kinesis.sent.slice(before);
    assert.deepEqual(
      second.map((c) => c.name),
      ['GetRecordsCommand', 'GetShardIteratorCommand', 'GetRecordsCommand'],
      'the carried iterator is tried, then one fresh one',
    );
    assert.equal(second[1].input.StartingSequenceNumber, '11');
  });

  it('what one GetRecords read beyond the budget is served to the next pull: 0 records read twice', async () => {
    // Each record is 300 bytes of data (+ key and sequence number): two fit in 700 bytes.
    const shard = new FakeShard([11, 12, 13, 14], 300);
    const pull = reader(shard);
    const stream = `read-once-${process.pid}`; // its own series of cdc_getrecords_calls_total
    assert.deepEqual(await pull('10', { stream, maxBytes: 700 }), ['11', '12']);
    assert.deepEqual(await pull('12', { stream, maxBytes: 700 }), ['13', '14']);
    assert.deepEqual(await pull('14', { stream, maxBytes: 700 }), []);
    assert.equal(shard.readTwice(), 0, `fetched ${shard.fetched.join(',')}`);
    assert.equal(shard.fetched.length, 4);
    assert.equal(shard.calls('GetShardIteratorCommand').length, 1);
    assert.equal(shard.calls('GetRecordsCommand').length, 2, 'one for 11–14, one empty page after 14');
    const counted = (await registry.getSingleMetric('cdc_getrecords_calls_total')!.get()).values.filter(
      (v) => v.labels.stream === stream,
    );
    assert.deepEqual(
      counted.map((v) => [v.labels.shard, v.labels.consumer, v.value]),
      [[base.shardId, config.consumer, 2]],
      'cdc_getrecords_calls_total counts the calls',
    );
  });

  it('with records ahead, a pull served from kept records fills the rest of its budget with one GetRecords', async () => {
    const shard = new FakeShard([11, 12, 13, 14, 15, 16, 17], 300);
    const pull = reader(shard);
    assert.deepEqual(await pull('10', { maxBytes: 700, maxRecords: 4 }), ['11', '12']); // 13, 14 kept
    assert.deepEqual(await pull('12', { maxBytes: 1_000, maxRecords: 4 }), ['13', '14', '15']);
    assert.deepEqual(await pull('15', { maxBytes: 1_000, maxRecords: 4 }), ['16', '17']);
    assert.equal(shard.readTwice(), 0, `fetched ${shard.fetched.join(',')}`);
    assert.equal(shard.calls('GetShardIteratorCommand').length, 1);
  });

  it('a pull after another position takes a fresh iterator and ignores the kept records (which still serve their position)', async () => {
    const shard = new FakeShard([11, 12, 13, 14, 15], 300);
    const pull = reader(shard);
    assert.deepEqual(await pull('10', { maxBytes: 700 }), ['11', '12']); // 13… kept after 12
    const gets = shard.calls('GetRecordsCommand').length;
    assert.deepEqual(await pull('11', { maxBytes: 700 }), ['12', '13'], 'a replay from 11');
    const its = shard.calls('GetShardIteratorCommand');
    assert.equal(its.length, 2);
    assert.equal(its[1].input.StartingSequenceNumber, '11');
    assert.equal(shard.calls('GetRecordsCommand').length, gets + 1);
    assert.deepEqual(await pull('12', { maxBytes: 700 }), ['13', '14'], 'the records kept after 12');
    assert.equal(shard.calls('GetRecordsCommand').length, gets + 1, 'served without GetRecords');
  });

  it("GetRecords' Limit follows the byte budget (records per call from the shard's average record size)", async () => {
    const shard = new FakeShard(
      Array.from({ length: 40 }, (_, i) => 11 + i),
      100,
    );
    const pull = reader(shard);
    assert.equal((await pull('10', { maxRecords: 5 })).length, 5); // learns ~100 bytes a record
    const first = shard.calls('GetRecordsCommand').length;
    const got = await pull('15', { maxBytes: 500, maxRecords: 100 });
    const limits = shard
      .calls('GetRecordsCommand')
      .slice(first)
      .map((c) => c.input.Limit as number);
    assert.ok(limits.length > 0 && limits.every((l) => l >= 1 && l <= 5), `Limits ${limits.join(',')}`);
    assert.ok(got.length >= 3 && got.length <= 5, `${got.length} records`);
    assert.equal(shard.readTwice(), 0);
  });
});

describe('ShardCursors (bounds)', () => {
  const key = (after: string) => ({ stream: 's', shardId: 'sh', consumer: 'c', after });
  const rec = (n: number) => ({
    sequenceNumber: String(n),
    partitionKey: 'k',
    data: 'x',
    encoding: 'utf8' as const,
    arrivalMs: 0,
  });
  const cursor = (at: number, more: Partial<ShardCursor> = {}): ShardCursor => ({
    kept: [],
    keptBytes: 0,
    iterator: 'it',
    iteratorAt: at,
    ended: false,
    behindMs: 0,
    ...more,
  });

  it('is taken once; an iterator older than 4 minutes is dropped (kept records stay), an entry older than 10 is gone', () => {
    let now = 0;
    const c = new ShardCursors(() => now);
    c.keep(key('1'), cursor(0));
    assert.equal(c.take(key('1'))?.iterator, 'it');
    assert.equal(c.take(key('1')), undefined, 'taken once');
    c.keep(key('2'), cursor(0, { kept: [rec(3)], keptBytes: 3 }));
    now = 4 * 60_000;
    const aged = c.take(key('2'));
    assert.equal(aged?.iterator, undefined);
    assert.deepEqual(aged?.kept, [rec(3)]);
    c.keep(key('3'), cursor(now, { kept: [rec(4)], keptBytes: 3 }));
    now += 10 * 60_000;
    assert.equal(c.take(key('3')), undefined);
  });

  it('holds at most its entries and kept bytes, least recently kept out first', () => {
    const c = new ShardCursors(() => 0, 2, 10);
    c.keep(key('1'), cursor(0));
    c.keep(key('2'), cursor(0));
    c.keep(key('3'), cursor(0));
    assert.equal(c.size, 2);
    assert.equal(c.take(key('1')), undefined);
    c.keep(key('4'), cursor(0, { kept: [rec(5)], keptBytes: 8 }));
    c.keep(key('5'), cursor(0, { kept: [rec(6)], keptBytes: 8 }));
    assert.equal(c.take(key('4')), undefined, 'over the byte bound');
    assert.ok(c.take(key('5')));
  });

  it('Limit: the budget at the average record size, within the record bound and 1..10,000', () => {
    const c = new ShardCursors();
    assert.equal(c.limitFor('s', 'sh', 500, 1_000), 500, 'no size seen yet');
    c.sawRecords('s', 'sh', 10, 1_000);
    assert.equal(c.limitFor('s', 'sh', 500, 1_000), 10);
    assert.equal(c.limitFor('s', 'sh', 500, 1_050), 11);
    assert.equal(c.limitFor('s', 'sh', 5, 1_000), 5);
    assert.equal(c.limitFor('s', 'sh', 500, 0), 1);
    c.sawRecords('s', 'tiny', 10, 10);
    assert.equal(c.limitFor('s', 'tiny', 50_000, 1_000_000), 10_000);
  });
});
