import assert from 'node:assert/strict';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { replayChunk } from '../../../activities/backfill/replay';
import type { DeliveryPorts } from '../../../activities/delivery/deliver';
import type { ActivityDeps } from '../../../activities/deps';
import { noopPublisher } from '../../../activities/publishing/noopPublisher';
import type { ChangeSink } from '../../../activities/sinks/changeSink';
import type { ReplayChunkResult } from '../../../domain/backfill/chunks';
import { loadConfig } from '../../../infra/config';
import { metrics, registry } from '../../../infra/metrics';

/** The series of a metric (labels and value). */
async function seriesOf(name: string): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return (await metric.get()).values.map((v) => ({
    labels: v.labels as Record<string, string | number>,
    value: v.value,
  }));
}

/** A Kinesis shard that answers one page: `records` (undecodable data) `behindMs` behind the tip. */
function fakeKinesis(page: { records: number; behindMs: number }): KinesisClient {
  return {
    send: async (command: { constructor: { name: string } }) => {
      switch (command.constructor.name) {
        case 'GetShardIteratorCommand':
          return { ShardIterator: 'it-1' };
        case 'GetRecordsCommand':
          return {
            Records: Array.from({ length: page.records }, (_, i) => ({
              SequenceNumber: String(100 + i),
              PartitionKey: 'inventory:X',
              Data: new TextEncoder().encode('not a change'),
              ApproximateArrivalTimestamp: new Date(0),
            })),
            MillisBehindLatest: page.behindMs,
            NextShardIterator: 'it-2',
          };
        default:
          throw new Error(`unexpected ${command.constructor.name}`);
      }
    },
  } as unknown as KinesisClient;
}

const noSink: ChangeSink = {
  name: 'none',
  apply: () => Promise.reject(new Error('nothing to apply in this test')),
};
const noDelivery: DeliveryPorts = { sink: noSink, publisher: noopPublisher };

describe('replay backfill metrics', () => {
  const run = Date.now().toString(36);
  const stream = `cdc-replay-metrics-${run}`;
  const shardId = 'shardId-000000000000';
  const config = loadConfig({ ...process.env, CDC_STREAM: stream, CDC_CONSUMER: 'test' });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR', () => undefined) });

  const replay = (backfillId: string, page: { records: number; behindMs: number }) => {
    const deps = { config, aws: { kinesis: fakeKinesis(page) } } as unknown as ActivityDeps;
    return env.run<[], ReplayChunkResult, () => Promise<ReplayChunkResult>>(() =>
      replayChunk(deps, noDelivery, {
        backfillId,
        stream,
        shardId,
        start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '99' },
        untilMs: Date.now() + 60_000,
        limit: 100,
      }),
    );
  };

  it("reports a replay's position as cdc_backfill_lag_ms of its own, never as the live shard's lag", async () => {
    // The live shard reader's lag, as its pull records it.
    metrics.pulled({ stream, consumer: 'test', shardId }, 42, false);
    const r = await replay(`lag-${run}`, { records: 3, behindMs: 5_000 });
    assert.equal(r.read, 3);

    const live = (await seriesOf('cdc_shard_lag_ms')).filter((s) => s.labels.stream === stream);
    assert.deepEqual(live, [{ labels: { stream, consumer: 'test', shard: shardId }, value: 42 }]);
    const replayed = (await seriesOf('cdc_backfill_lag_ms')).filter((s) => s.labels.stream === stream);
    assert.deepEqual(replayed, [
      { labels: { backfill: `lag-${run}`, stream, shard: shardId }, value: 5_000 },
    ]);
  });

  it("removes a replay's series when its shard is done, and leaves the live shard's", async () => {
    const id = `done-${run}`;
    await replay(id, { records: 1, behindMs: 1_000 });
    assert.equal((await seriesOf('cdc_backfill_lag_ms')).filter((s) => s.labels.backfill === id).length, 1);
    // Caught up, and the replay's end is in the past: the shard's replay is done.
    const deps = {
      config,
      aws: { kinesis: fakeKinesis({ records: 0, behindMs: 0 }) },
    } as unknown as ActivityDeps;
    const done = await env.run<[], ReplayChunkResult, () => Promise<ReplayChunkResult>>(() =>
      replayChunk(deps, noDelivery, {
        backfillId: id,
        stream,
        shardId,
        start: { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: '100' },
        untilMs: Date.now() - 1,
        limit: 100,
      }),
    );
    assert.equal(done.done, true);
    assert.deepEqual(
      (await seriesOf('cdc_backfill_lag_ms')).filter((s) => s.labels.backfill === id),
      [],
    );
    const live = (await seriesOf('cdc_shard_lag_ms')).filter((s) => s.labels.stream === stream);
    assert.equal(live.length, 1, "the live shard's series is still there");
  });
});
