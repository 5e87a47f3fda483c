/**
 * What the metrics cost: the same load through worker processes with metrics off
 * (`CDC_METRICS_PORT=off`) and on (served, scraped every --scrape seconds like Prometheus would),
 * alternating, in one run. The worker's CPU time (user + system, /proc/<pid>/stat) is read before
 * and after each load; the load is done when DynamoDB holds every key's last value.
 *
 *   npx tsx bench/metricsOverhead.ts [--rounds 2] [--updates 3000] [--rate 150] [--keys 200] [--scrape 5]
 *
 * Linux only (/proc). Numbers on a shared machine are noisy: compare the rounds, not one figure.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { entityKey } from '../domain/core/itemKeys';
import { awsClients } from '../infra/aws';
import { startTestPipeline, type TestPipeline } from '../test/support/testPipeline';
import { useEnvironment } from '../infra/localStack/environment';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** The worker process of a task queue (found by its environment). */
function workerPid(taskQueue: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmd.includes('workers/worker.ts')) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (env.includes(`CDC_TASK_QUEUE=${taskQueue}`)) return Number(d);
    } catch {
      // gone, or not ours
    }
  }
  return undefined;
}

/** CPU seconds (user + system) the process used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Until DynamoDB holds `expected` on_hand for every key. */
async function waitApplied(p: TestPipeline, skus: string[], expected: Map<string, number>): Promise<void> {
  const { doc } = awsClients();
  const deadline = Date.now() + 300_000;
  let pending = skus;
  while (pending.length) {
    if (Date.now() > deadline) throw new Error(`${pending.length} keys not applied after 300 s`);
    const still: string[] = [];
    for (let i = 0; i < pending.length; i += 100) {
      const chunk = pending.slice(i, i + 100);
      const out = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [p.config.tables.entities]: {
              Keys: chunk.map((sku) => ({ pk: entityKey('inventory', `${sku}#1`) })),
              ProjectionExpression: 'pk, #r',
              ExpressionAttributeNames: { '#r': 'row' },
            },
          },
        }),
      );
      const got = new Map(
        (out.Responses?.[p.config.tables.entities] ?? []).map((it) => [
          String(it.pk),
          Number((it.row as { on_hand?: unknown } | undefined)?.on_hand),
        ]),
      );
      for (const sku of chunk)
        if (got.get(entityKey('inventory', `${sku}#1`)) !== expected.get(sku)) still.push(sku);
    }
    pending = still;
    if (pending.length) await sleep(500);
  }
}

interface Round {
  metrics: 'off' | 'on';
  cpuSeconds: number;
  wallSeconds: number;
  updates: number;
  scrapes: number;
}

async function round(metrics: 'off' | 'on', o: Record<string, number>): Promise<Round> {
  const port = await freePort();
  const sdkPort = await freePort();
  const p = await startTestPipeline(
    {},
    {
      workerProcess: true,
      workerEnv:
        metrics === 'on'
          ? { CDC_METRICS_PORT: String(port), CDC_METRICS_SDK_PORT: String(sdkPort) }
          : { CDC_METRICS_PORT: 'off' },
    },
  );
  try {
    const prefix = `BENCH${Date.now().toString(36)}`.toUpperCase();
    const skus = Array.from({ length: o.keys }, (_, i) => `${prefix}-${i}`);
    const expected = new Map(skus.map((s) => [s, 0]));
    await p.pg.query(
      `INSERT INTO inventory (sku, warehouse_id, on_hand) SELECT $1 || '-' || g, 1, 0 FROM generate_series(0, $2 - 1) g`,
      [prefix, o.keys],
    );
    await waitApplied(p, skus, expected); // warm: worker started, readers caught up
    const pid = workerPid(p.config.taskQueue);
    if (!pid) throw new Error('worker process not found');
    await sleep(2_000);
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    let scraping = metrics === 'on';
    let scrapes = 0;
    const scraper = (async () => {
      while (scraping) {
        await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
        scrapes++;
        await sleep(o.scrape * 1000);
      }
    })();
    for (let n = 1; n <= o.updates; n++) {
      const sku = skus[n % skus.length];
      await p.pg.query('UPDATE inventory SET on_hand = $2 WHERE sku = $1 AND warehouse_id = 1', [sku, n]);
      expected.set(sku, n);
      const due = t0 + (n / o.rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    await waitApplied(p, skus, expected);
    scraping = false;
    await scraper;
    return {
      metrics,
      cpuSeconds: cpuSeconds(pid) - cpu0,
      wallSeconds: (Date.now() - t0) / 1000,
      updates: o.updates,
      scrapes,
    };
  } finally {
    await p.stop();
  }
}

async function main(): Promise<void> {
  const o = {
    rounds: arg('rounds', 2),
    updates: arg('updates', 3000),
    rate: arg('rate', 150),
    keys: arg('keys', 200),
    scrape: arg('scrape', 5),
  };
  await useEnvironment({ localStack: 'start' });
  console.log(
    `load: ${o.updates} single-row UPDATEs at ${o.rate}/s over ${o.keys} keys; scrape every ${o.scrape} s`,
  );
  const results: Round[] = [];
  for (let r = 0; r < o.rounds; r++)
    for (const m of ['off', 'on'] as const) {
      const res = await round(m, o);
      results.push(res);
      console.log(
        `metrics ${m.padEnd(3)}: worker CPU ${res.cpuSeconds.toFixed(2)} s over ${res.wallSeconds.toFixed(1)} s ` +
          `(${((res.cpuSeconds * 1000) / res.updates).toFixed(3)} ms CPU per change, ${res.scrapes} scrapes)`,
      );
    }
  const mean = (m: 'off' | 'on') => {
    const rs = results.filter((r) => r.metrics === m);
    return rs.reduce((s, r) => s + r.cpuSeconds, 0) / rs.length;
  };
  const off = mean('off');
  const on = mean('on');
  console.log(
    `mean worker CPU: off ${off.toFixed(2)} s, on ${on.toFixed(2)} s: ${(((on - off) / off) * 100).toFixed(1)}% ` +
      `(${(((on - off) * 1000) / o.updates).toFixed(3)} ms per change)`,
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
