/**
 * What capture's memory does while one very large transaction streams (the measurement that
 * used to be test/integration/capture/capture.test.ts's "keeps memory bounded…"; the back-pressure
 * behind it is unit-tested in test/unit/capture/replicationSession.test.ts).
 *
 *   npm run bench:capture-memory -- [--rows 100000] [--past 12000]
 *
 * On a capture-only pipeline of its own, inserts --rows order items in one transaction, then
 * samples the worker's resident memory (capture runs in this process) until --past of its rows
 * are on the stream: well past capture's queue bound of 10,000 chunks, so a reader without the
 * bound would by then hold most of the transaction. Prints the growth and the rate; the target
 * is growth < 300 MiB for 100,000 rows. Results also go to .cache/bench/capture-memory-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { Client } from 'pg';
import { awsClients } from '../infra/aws';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT } from '../infra/localStack/localStack';
import { startTestPipeline, type TestPipeline } from '../test/support/testPipeline';
import { waitFor } from '../test/support/waitFor';

const GROWTH_TARGET_MIB = 300;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Counts the records on the stream whose data contains `text`, reading on from where it stopped (nothing kept). */
function streamCounter(p: TestPipeline, text: string): () => Promise<number> {
  const { kinesis } = awsClients();
  const iterators = new Map<string, string | undefined>();
  let count = 0;
  return async () => {
    if (!iterators.size)
      for (const shard of (await kinesis.send(new ListShardsCommand({ StreamName: p.config.stream })))
        .Shards ?? [])
        iterators.set(
          shard.ShardId!,
          (
            await kinesis.send(
              new GetShardIteratorCommand({
                StreamName: p.config.stream,
                ShardId: shard.ShardId,
                ShardIteratorType: 'TRIM_HORIZON',
              }),
            )
          ).ShardIterator,
        );
    for (const [shardId, iterator] of iterators) {
      let it = iterator;
      while (it) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1_000 }));
        for (const r of page.Records ?? []) if (Buffer.from(r.Data!).includes(text)) count++;
        it = page.NextShardIterator;
        if (!page.Records?.length) break;
      }
      iterators.set(shardId, it);
    }
    return count;
  };
}

async function main(): Promise<void> {
  const rows = arg('rows', 100_000);
  const past = arg('past', 12_000);
  await useEnvironment({ localStack: 'start' });
  const p = await startTestPipeline({}, { readers: false });
  const order = `BIG-${Date.now().toString(36)}`;
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  try {
    const t0 = Date.now();
    await p.pg.query(
      `INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
       SELECT $1, g, 'SKU-' || (g % 97), 1 + g % 5, 9.99 FROM generate_series(1, $2) g`,
      [order, rows],
    );
    const onStream = streamCounter(p, order);
    const streamed = await waitFor(
      `${past} of its rows on the stream`,
      async () => {
        const n = await onStream();
        return n >= past ? n : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 1_000 },
    );
    const seconds = (Date.now() - t0) / 1000;
    const growthMiB = Math.round((peak - baseline) / 2 ** 20);
    const result = {
      rows,
      streamed,
      seconds,
      changesPerSecond: Math.round(streamed / seconds),
      rssGrowthMiB: growthMiB,
      targetMiB: GROWTH_TARGET_MIB,
      met: growthMiB < GROWTH_TARGET_MIB,
    };
    console.log(
      `${rows}-row transaction: worker RSS grew ${growthMiB} MiB while ${streamed} rows streamed ` +
        `(${result.changesPerSecond} changes/s, insert included); target < ${GROWTH_TARGET_MIB} MiB: ${result.met ? 'met' : 'NOT met'}`,
    );
    const dir = join(ROOT, '.cache', 'bench');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `capture-memory-${Date.now()}.json`), JSON.stringify(result, null, 2));
  } finally {
    clearInterval(sampler);
    await p.stop();
    const c = new Client();
    await c.connect();
    await c.query('DELETE FROM order_items WHERE order_id = $1', [order]);
    await c.end();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
