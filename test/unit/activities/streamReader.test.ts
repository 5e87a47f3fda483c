import assert from 'node:assert/strict';
import { ExpiredIteratorException } from '@aws-sdk/client-kinesis';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../../activities';
import { defaultDeps } from '../../../activities/deps';
import { awsClients, destroyAwsClients } from '../../../infra/aws';
import type { PullInput, PullResult } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { awsError, FakeKinesis, fakes, type SentCommand } from './fakes';

const config = loadConfig({});
const input: PullInput = {
  stream: 'cdc-inventory',
  shardId: 'shardId-000000000000',
  afterSequenceNumber: '10',
  maxRecords: 100,
  maxBytes: 1_000,
  waitMs: 0,
};
const record = (n: number, data: string) => ({
  SequenceNumber: String(n),
  PartitionKey: 'inventory:SKU-1',
  Data: Buffer.from(data),
  ApproximateArrivalTimestamp: new Date(1_790_000_000_000),
});

function pull(respond: (c: SentCommand) => unknown, pullInput = input) {
  const kinesis = new FakeKinesis(respond);
  const activities = createActivities(config, fakes(kinesis).io);
  // A failing activity is logged by the environment: kept quiet here, the test checks the failure.
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => undefined) });
  return { kinesis, result: env.run(activities.pullRecords, pullInput) as Promise<PullResult> };
}

describe('stream reader activities (fake Kinesis)', () => {
  it('reads after the checkpoint, within the byte bound', async () => {
    const { kinesis, result } = pull((c) =>
      c.name === 'GetShardIteratorCommand'
        ? { ShardIterator: 'it-1' }
        : { Records: [record(11, 'x'.repeat(600)), record(12, 'y'.repeat(600))], MillisBehindLatest: 5 },
    );
    const out = await result;
    assert.deepEqual(
      out.records.map((r) => r.sequenceNumber),
      ['11'],
      'the second record is left for the next pull',
    );
    assert.equal(out.millisBehindLatest, 5);
    assert.equal(out.shardEnded, false);
    assert.equal(out.waited, undefined, 'records on the first page: no wait, no heartbeat');
    assert.deepEqual(kinesis.sent[0].input, {
      StreamName: 'cdc-inventory',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
      StartingSequenceNumber: '10',
    });
  });

  it('takes a fresh iterator when one expired, and reports SHARD_END', async () => {
    let gets = 0;
    const { kinesis, result } = pull((c) => {
      if (c.name === 'GetShardIteratorCommand') return { ShardIterator: 'it' };
      if (gets++ === 0) throw new ExpiredIteratorException({ message: 'expired', $metadata: {} });
      return { Records: [], MillisBehindLatest: 0 }; // no NextShardIterator: the shard is closed and read
    });
    assert.deepEqual(await result, {
      records: [],
      millisBehindLatest: 0,
      shardEnded: true,
      retention: { retentionMs: 24 * 3_600_000, lagAlertMs: 12 * 3_600_000 },
    });
    assert.equal(kinesis.sent.filter((c) => c.name === 'GetShardIteratorCommand').length, 2);
  });

  it('fails with a failure type, not the raw AWS exception name', async () => {
    const { result } = pull(() => {
      throw awsError('ResourceNotFoundException', 'Stream cdc-inventory not found');
    });
    await assert.rejects(
      result,
      (err) => err instanceof ApplicationFailure && err.type === 'configuration' && !err.nonRetryable,
    );
  });

  it('lists shards across pages, with parents and whether each is open', async () => {
    const kinesis = new FakeKinesis((c) =>
      c.input.NextToken
        ? { Shards: [{ ShardId: 's2', ParentShardId: 's0', AdjacentParentShardId: 's1' }] }
        : {
            Shards: [{ ShardId: 's0', SequenceNumberRange: { EndingSequenceNumber: '99' } }],
            NextToken: 'more',
          },
    );
    const shards = await createActivities(config, fakes(kinesis).io).listShards('cdc-inventory');
    assert.deepEqual(shards, [
      { shardId: 's0', open: false },
      { shardId: 's2', parentShardId: 's0', adjacentParentShardId: 's1', open: true },
    ]);
  });
});

describe('createActivities', () => {
  it('hosts the activities recorded histories name, and the ones added since', () => {
    assert.deepEqual(Object.keys(createActivities(config, fakes().io)).sort(), [
      'applyBatch',
      'applyEvents',
      'backfillChunk',
      'backfillWatermark',
      'captureChanges',
      'deadLetterBatch',
      'deadLetterRecords',
      'endedShards',
      'expireHold',
      'forgetKeptBatch',
      'keepHeldBatch',
      'listDeadLetterPks',
      'listShards',
      'loadCheckpoint',
      'markShardEnded',
      'planBackfill',
      'prepareBatch',
      'prepareRecords',
      'publishBatch',
      'publishEvents',
      'pullBatch',
      'pullRecords',
      'raiseReplicationLagAlert',
      'raiseShardAlert',
      'reconcileChunk',
      'redactEvents',
      'redriveDeadLetters',
      'releaseDeletedHold',
      'replayChunk',
      'saveCheckpoint',
      'signalBatchHolds',
      'signalHoldChanges',
      'slotHealth',
      'transformRecords',
      'writeCaptureHeartbeat',
    ]);
  });

  it("by default uses the process's AWS clients of the moment (fresh ones after destroyAwsClients)", () => {
    // An explicit target (no request is sent): AWS clients are refused without one (infra/awsTarget.ts).
    const before = process.env.CDC_TARGET;
    process.env.CDC_TARGET = 'aws';
    after(() => (before === undefined ? delete process.env.CDC_TARGET : (process.env.CDC_TARGET = before)));
    const deps = defaultDeps(config);
    const first = deps.aws.doc;
    assert.equal(deps.aws.doc, awsClients().doc);
    destroyAwsClients();
    assert.notEqual(deps.aws.doc, first);
    destroyAwsClients();
  });

  it('past the retention, checks whether the checkpointed record is still there: gone means records were trimmed', async () => {
    const old = { ...input, checkpointArrivalMs: Date.now() - 25 * 3_600_000 };
    for (const [first, expected] of [
      ['10', undefined],
      ['15', true],
    ] as const) {
      const { kinesis, result } = pull((c) => {
        if (c.name === 'GetShardIteratorCommand') return { ShardIterator: `it-${c.input.ShardIteratorType}` };
        if (c.input.ShardIterator === 'it-AT_SEQUENCE_NUMBER')
          return { Records: [record(Number(first), 'x')] };
        return { Records: [record(16, 'y')], MillisBehindLatest: 0 };
      }, old);
      const out = await result;
      assert.equal(out.trimmed, expected, `first readable record ${first}`);
      assert.equal(
        kinesis.sent.some((c) => c.input.ShardIteratorType === 'AT_SEQUENCE_NUMBER'),
        true,
      );
      assert.deepEqual(out.retention, { retentionMs: 24 * 3_600_000, lagAlertMs: 12 * 3_600_000 });
    }
  });

  it('within the retention it does not look (no extra calls)', async () => {
    const { kinesis, result } = pull(
      (c) =>
        c.name === 'GetShardIteratorCommand' ? { ShardIterator: 'it' } : { Records: [record(11, 'x')] },
      { ...input, checkpointArrivalMs: Date.now() - 60_000 },
    );
    assert.equal((await result).trimmed, undefined);
    assert.equal(kinesis.sent.length, 2);
  });

  it('an empty page while behind waits at least 200 ms before the next GetRecords', async () => {
    let gets = 0;
    const times: number[] = [];
    const { result } = pull((c) => {
      if (c.name === 'GetShardIteratorCommand') return { ShardIterator: 'it' };
      times.push(Date.now());
      return ++gets < 3
        ? { Records: [], MillisBehindLatest: 1000, NextShardIterator: 'next' }
        : { Records: [record(11, 'x')], MillisBehindLatest: 0 };
    });
    const out = await result;
    for (let i = 1; i < times.length; i++)
      assert.ok(times[i] - times[i - 1] >= 195, `${times[i] - times[i - 1]} ms`);
    assert.equal(
      out.waited,
      undefined,
      'no heartbeat timeout: no heartbeat needed, none sent (pullLinger.test.ts)',
    );
  });
});
