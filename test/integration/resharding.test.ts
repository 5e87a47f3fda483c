import assert from 'node:assert/strict';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  MergeShardsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { decodeChange } from '../../domain/formats/decodeChange';
import { sourceVersion } from '../../domain/processing/version';
import { awsClients } from '../../infra/aws';
import type { ShardStatus } from '../../workflows/shardReader';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';
import { shardCheckpointKey } from '../../domain/core/itemKeys';

/**
 * Split and merge while changes keep coming: a child shard is read only after its parent(s)
 * reached SHARD_END and checkpointed, so no change of a key is applied out of order.
 */
describe('resharding', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;
  const sku = `RS${Date.now().toString(36)}`.toUpperCase();
  const rows = 20;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { shardCount: 1, rescanSeconds: 1 });
    probe = probes(p);
    await p.pg.query(
      'INSERT INTO inventory (sku, warehouse_id, on_hand) SELECT $1, g, 0 FROM generate_series(1, $2) g',
      [sku, rows],
    );
    await waitFor('the initial rows', async () =>
      (await probe.entity('inventory', `${sku}#${rows}`)) ? true : undefined,
    );
  });
  after(async () => {
    await p?.stop();
  });

  const updateRounds = async (from: number, to: number) => {
    for (let round = from; round <= to; round++) {
      for (let w = 1; w <= rows; w++) {
        await p.pg.query('UPDATE inventory SET on_hand = $3 WHERE sku = $1 AND warehouse_id = $2', [
          sku,
          w,
          round,
        ]);
      }
    }
  };
  const allAt = (value: number) =>
    waitFor(
      `every row at on_hand ${value}`,
      async () => {
        for (let w = 1; w <= rows; w++) {
          if ((await probe.entity('inventory', `${sku}#${w}`))?.row?.on_hand !== value) return undefined;
        }
        return true;
      },
      { timeoutMs: 90_000 },
    );
  const pauseAndWait = async () => {
    await probe.supervisor().signal('pause', { reason: 'resharding test' });
    await waitFor('every shard paused', async () =>
      (await probe.allShardStatuses()).every((s) => s.state === 'PAUSED') ? true : undefined,
    );
  };
  const waitActive = () =>
    waitFor('the stream to be ACTIVE', async () => {
      const out = await awsClients().kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: p.config.stream }),
      );
      return out.StreamDescriptionSummary?.StreamStatus === 'ACTIVE' ? true : undefined;
    });
  const endedAt = async (shardId: string) =>
    (await probe.state(shardCheckpointKey(p.config.consumer, p.config.stream, shardId)))?.endedAt as
      string | undefined;
  const startedAt = async (shardId: string) =>
    (await probe.shardHandle(shardId).describe()).startTime.getTime();
  const totalStale = async (shardIds: string[]) => {
    let stale = 0;
    for (const id of shardIds) {
      const d = await probe.shardHandle(id).describe();
      const s: ShardStatus =
        d.status.name === 'RUNNING' ? await probe.shardStatus(id) : await probe.shardHandle(id).result();
      stale += s.counters.stale;
    }
    return stale;
  };

  /** Every record of a shard, oldest first, as (key, version). */
  const shardRecords = async (shardId: string) => {
    const { kinesis } = awsClients();
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: p.config.stream,
          ShardId: shardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    const out: { key: string; version: string }[] = [];
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const r of page.Records ?? []) {
        const d = decodeChange(Buffer.from(r.Data!).toString('utf8'), { sequenceNumber: r.SequenceNumber! });
        if (d.ok && d.event.source.table === 'inventory' && d.event.key.sku === sku) {
          out.push({
            key: String(d.event.key.warehouse_id),
            version: sourceVersion(d.event.source.lsn, d.event.source.index),
          });
        }
      }
      if (!page.Records?.length && !page.MillisBehindLatest) break;
      iterator = page.NextShardIterator;
    }
    return out;
  };
  /**
   * Reads the shards in the pipeline's order (each parent before its children) and checks that
   * the versions of every key only go up, apart from duplicates (at-least-once capture).
   * Returns the number of duplicates, which bounds the stale writes the readers may count.
   */
  const assertPerKeyOrder = async (order: string[][]) => {
    const last = new Map<string, string>();
    const seen = new Set<string>();
    let duplicates = 0;
    for (const generation of order) {
      const records = (await Promise.all(generation.map(shardRecords))).flat();
      for (const r of records) {
        if (seen.has(`${r.key}@${r.version}`)) {
          duplicates++;
          continue;
        }
        seen.add(`${r.key}@${r.version}`);
        const prev = last.get(r.key);
        assert.ok(!prev || prev < r.version, `key ${r.key}: version ${r.version} after ${prev}`);
        last.set(r.key, r.version);
      }
    }
    return duplicates;
  };

  it('split: children start only after the parent reached SHARD_END; no change applied out of order', async () => {
    // A backlog in the parent (paused) and newer changes of the same keys in the children: a child
    // read too early would apply newer versions first and then count the parent's as stale.
    await pauseAndWait();
    await updateRounds(1, 3);
    const { kinesis } = awsClients();
    await kinesis.send(
      new SplitShardCommand({
        StreamName: p.config.stream,
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    await waitActive();
    await updateRounds(4, 6);
    await probe.supervisor().signal('resume');
    await allAt(6);
    const parentEnded = await waitFor('the parent to be marked ended', () => endedAt('shardId-000000000000'));
    const parent = await probe.shardHandle('shardId-000000000000').result();
    assert.equal(parent.state, 'ENDED');
    for (const child of ['shardId-000000000001', 'shardId-000000000002']) {
      assert.ok(
        (await startedAt(child)) >= Date.parse(parentEnded),
        `${child} started after its parent ended`,
      );
    }
    const duplicates = await assertPerKeyOrder([
      ['shardId-000000000000'],
      ['shardId-000000000001', 'shardId-000000000002'],
    ]);
    const stale = await totalStale(['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000002']);
    assert.ok(
      stale <= duplicates,
      `stale writes (${stale}) come only from duplicates on the stream (${duplicates})`,
    );
  });

  it('merge: the child starts only after both parents reached SHARD_END', async () => {
    await pauseAndWait();
    await updateRounds(7, 8);
    const { kinesis } = awsClients();
    await kinesis.send(
      new MergeShardsCommand({
        StreamName: p.config.stream,
        ShardToMerge: 'shardId-000000000001',
        AdjacentShardToMerge: 'shardId-000000000002',
      }),
    );
    await waitActive();
    await updateRounds(9, 10);
    await probe.supervisor().signal('resume');
    await allAt(10);
    const merged = 'shardId-000000000003';
    const overview = await probe.overview();
    assert.deepEqual(
      overview.shards.map((s) => [s.shardId, s.phase]),
      [
        ['shardId-000000000000', 'finished'],
        ['shardId-000000000001', 'finished'],
        ['shardId-000000000002', 'finished'],
        [merged, 'read'],
      ],
    );
    const mergedStart = await startedAt(merged);
    for (const parent of ['shardId-000000000001', 'shardId-000000000002']) {
      const ended = await endedAt(parent);
      assert.ok(ended && mergedStart >= Date.parse(ended), `${merged} started after ${parent} ended`);
    }
    const duplicates = await assertPerKeyOrder([
      ['shardId-000000000000'],
      ['shardId-000000000001', 'shardId-000000000002'],
      [merged],
    ]);
    const stale = await totalStale([
      'shardId-000000000000',
      'shardId-000000000001',
      'shardId-000000000002',
      merged,
    ]);
    assert.ok(
      stale <= duplicates,
      `stale writes (${stale}) come only from duplicates on the stream (${duplicates})`,
    );
  });
});
