/**
 * What a backfill costs and how well it keeps its rate, on the local stack (the measurements
 * that used to be asserted by test/integration/backfill.test.ts; the test keeps the behaviour).
 *
 *   npm run bench:backfill -- [--rows 500] [--load 20] [--rate-seconds 12]
 *
 * Tables of its own (filled before the pipeline's slot exists, so their rows never streamed),
 * added to a copy of the table file, on a pipeline of its own:
 * 1. commit → DynamoDB of a live change, one after the other, with no load and no backfill;
 * 2. a snapshot alone: rows/s;
 * 3. the same live changes under a load of --load updates and deletes a second on a second
 *    table, first without a backfill, then while that table is snapshotted (rows/s under load,
 *    mismatches with PostgreSQL after it);
 * 4. the rate limit: a snapshot limited to a third of the rate measured alone (at most 300 rows/s,
 *    at most --rows / 30 so the table lasts), rows read between two chunk completions at least
 *    --rate-seconds apart, against the limit (target: within 10 %).
 * Results also go to .cache/bench/backfill-<time>.json.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Client as PgClient } from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { awsClients } from '../infra/aws';
import { startBackfill } from '../infra/backfillClient';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT } from '../infra/localStack/localStack';
import { DEFAULT_TABLES_FILE, loadTables } from '../infra/tablesFile';
import { probes } from '../test/support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../test/support/testPipeline';
import { backfillProgressQuery, cancelBackfillSignal } from '../workflows/backfill';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

/** p50 and p99 (nearest rank) of a list of milliseconds. */
function percentiles(xs: number[]): { p50: number; p99: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), n: s.length };
}

async function main(): Promise<void> {
  const N = arg('rows', 500);
  const LOAD = arg('load', 20);
  const rateSeconds = arg('rate-seconds', 12);
  await useEnvironment({ localStack: 'start' });
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e3).toString(36)}`;
  const T_A = `bfb_a_${run}`; // alone, then the rate limit
  const T_B = `bfb_b_${run}`; // under load
  const MARK = `BFB-MARK-${run}`;
  const tablesFile = join(tmpdir(), `cdc-bench-backfill-tables-${run}.yaml`);
  const admin = new PgClient();
  await admin.connect();
  let p: TestPipeline | undefined;
  try {
    for (const t of [T_A, T_B]) {
      await admin.query(
        `CREATE TABLE ${t} (sku text NOT NULL, warehouse_id integer NOT NULL, on_hand integer NOT NULL,
           reserved integer NOT NULL DEFAULT 0, note text, PRIMARY KEY (sku, warehouse_id))`,
      );
      await admin.query(
        `INSERT INTO ${t} (sku, warehouse_id, on_hand, reserved, note)
         SELECT 'S-' || lpad((g / 4)::text, 7, '0'), g % 4, g % 1000, g % 7, CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END
           FROM generate_series(0, $1 - 1) AS g`,
        [N],
      );
      await admin.query(`ANALYZE ${t}`);
    }
    const doc = parseYaml(readFileSync(DEFAULT_TABLES_FILE, 'utf8')) as { tables: Record<string, unknown> };
    for (const t of [T_A, T_B])
      doc.tables[t] = {
        entity: 'bf_item',
        key: ['sku', 'warehouse_id'],
        operations: ['INSERT', 'UPDATE', 'DELETE'],
      };
    writeFileSync(tablesFile, stringifyYaml(doc));
    process.env.CDC_TABLES_FILE = tablesFile;
    loadTables(tablesFile);
    p = await startTestPipeline();
    const pipeline = p;
    const entity = async (table: string, id: string) =>
      (
        await awsClients().doc.send(
          new GetCommand({
            TableName: pipeline.config.tables.entities,
            Key: { pk: `${table}#${id}` },
            ConsistentRead: true,
          }),
        )
      ).Item;
    const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    };
    await admin.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 0)', [MARK]);
    await until('the marker row in DynamoDB', () => entity('inventory', `${MARK}#1`));

    /** Commits a marker update, times it to DynamoDB, again (at most every 200 ms) for `ms`. */
    const liveLatency = async (ms: number, during?: Promise<unknown>): Promise<number[]> => {
      const c = new PgClient();
      await c.connect();
      const lat: number[] = [];
      let i = Number(Date.now() % 1_000_000) * 10;
      let done = false;
      void during?.then(
        () => (done = true),
        () => (done = true),
      );
      const end = Date.now() + ms;
      try {
        while (during ? !done : Date.now() < end) {
          const began = Date.now();
          const want = ++i;
          await c.query('UPDATE inventory SET on_hand = $2 WHERE sku = $1 AND warehouse_id = 1', [
            MARK,
            want,
          ]);
          const committed = Date.now();
          await until(`marker ${want}`, async () =>
            ((await entity('inventory', `${MARK}#1`))?.row as { on_hand?: number })?.on_hand === want
              ? true
              : undefined,
          );
          lat.push(Date.now() - committed);
          await sleep(Math.max(0, 200 - (Date.now() - began)));
        }
      } finally {
        await c.end();
      }
      return lat;
    };

    /** Updates and deletes random rows of `table` at `perSecond` until stopped. */
    const loadGenerator = (table: string, perSecond: number) => {
      let running = true;
      const counts = { updates: 0, deletes: 0 };
      const loop = (async () => {
        const c = new PgClient();
        await c.connect();
        try {
          const startedAt = Date.now();
          for (let ops = 1; running; ops++) {
            const g = Math.floor(Math.random() * N);
            const sku = `S-${String(Math.floor(g / 4)).padStart(7, '0')}`;
            if (Math.random() < 0.25) {
              await c.query(`DELETE FROM ${table} WHERE sku = $1 AND warehouse_id = $2`, [sku, g % 4]);
              counts.deletes++;
            } else {
              await c.query(
                `UPDATE ${table} SET on_hand = on_hand + 1000, note = $3 WHERE sku = $1 AND warehouse_id = $2`,
                [sku, g % 4, `load ${ops}`],
              );
              counts.updates++;
            }
            await sleep(Math.max(0, startedAt + (ops * 1000) / perSecond - Date.now()));
          }
        } finally {
          await c.end();
        }
      })();
      return {
        stop: async () => {
          running = false;
          await loop;
          return counts;
        },
      };
    };

    /** Rows of PostgreSQL that DynamoDB does not hold with equal values, plus live items PostgreSQL does not have. */
    const mismatches = async (table: string): Promise<number> => {
      const rows = (await admin.query(`SELECT sku, warehouse_id, on_hand, reserved, note FROM ${table}`))
        .rows as {
        sku: string;
        warehouse_id: number;
        on_hand: number;
        reserved: number;
        note: string | null;
      }[];
      const items = await probes(pipeline).entities(table);
      let count = 0;
      const inPg = new Set<string>();
      for (const r of rows) {
        const id = `${r.sku}#${r.warehouse_id}`;
        inPg.add(id);
        const row = items.get(id)?.row as Record<string, unknown> | undefined;
        if (
          !row ||
          items.get(id)?.deleted ||
          row.on_hand !== r.on_hand ||
          row.reserved !== r.reserved ||
          (row.note ?? null) !== r.note
        )
          count++;
      }
      for (const [id, item] of items) if (!inPg.has(id) && !item.deleted) count++;
      return count;
    };

    const progress = (workflowId: string) =>
      pipeline.client.workflow.getHandle(workflowId).query(backfillProgressQuery);

    // 1. Live changes, nothing else.
    const idle = await liveLatency(6_000);

    // 2. A snapshot alone.
    let t0 = Date.now();
    const alone = await (
      await startBackfill(p.client, p.config, {
        id: `bench-alone-${run}`,
        tables: [T_A],
        rateLimit: 1_000_000,
      })
    ).result();
    const aloneSeconds = (Date.now() - t0) / 1000;
    const aloneRate = alone.counters.read / aloneSeconds;

    // 3. Under load: without a backfill, then with one.
    const load = loadGenerator(T_B, LOAD);
    const loaded = await liveLatency(8_000);
    t0 = Date.now();
    const underLoad = (
      await startBackfill(p.client, p.config, {
        id: `bench-load-${run}`,
        tables: [T_B],
        rateLimit: 1_000_000,
      })
    ).result();
    const during = await liveLatency(0, underLoad);
    const loadReport = await underLoad;
    const loadSeconds = (Date.now() - t0) / 1000;
    const counts = await load.stop();
    let left = -1;
    await until('DynamoDB to equal PostgreSQL after the snapshot under load', async () =>
      (left = await mismatches(T_B)) === 0 ? true : undefined,
    ).catch(() => undefined);

    // 4. The rate limit.
    const target = Math.max(5, Math.min(300, Math.floor(aloneRate / 3), Math.floor(N / 30)));
    const handle = await startBackfill(p.client, p.config, {
      id: `bench-rate-${run}`,
      tables: [T_A],
      rateLimit: target,
      chunkSize: Math.max(1, Math.ceil(target / 2)),
    });
    await until('the first chunks', async () =>
      (await progress(handle.workflowId)).chunks >= 2 ? true : undefined,
    );
    const changes: { at: number; read: number }[] = [];
    const measureUntil = Date.now() + rateSeconds * 1000 + 500;
    let seen = -1;
    let progressSays: number | undefined;
    while (
      Date.now() < measureUntil ||
      changes.length < 2 ||
      changes.at(-1)!.at - changes[0]!.at < rateSeconds * 1000
    ) {
      const x = await progress(handle.workflowId);
      if (x.state !== 'RUNNING')
        throw new Error(`the rate-limited backfill left RUNNING (${x.state}) while measured`);
      if (x.counters.read !== seen) changes.push({ at: Date.now(), read: (seen = x.counters.read) });
      progressSays = x.rate;
      await sleep(50);
    }
    await handle.signal(cancelBackfillSignal, { reason: 'bench done' });
    await handle.result();
    const first = changes[0]!;
    const last = changes.at(-1)!;
    const measured = ((last.read - first.read) * 1000) / (last.at - first.at);
    const error = Math.abs(measured - target) / target;

    const result = {
      rowsPerTable: N,
      loadPerSecond: LOAD,
      snapshotAlone: {
        rows: alone.counters.read,
        seconds: aloneSeconds,
        rowsPerSecond: Math.round(aloneRate),
      },
      snapshotUnderLoad: {
        rows: loadReport.counters.read,
        seconds: loadSeconds,
        rowsPerSecond: Math.round(loadReport.counters.read / loadSeconds),
        applied: loadReport.counters.applied,
        stale: loadReport.counters.stale,
        published: loadReport.counters.published,
        load: counts,
        mismatchesAfter: left,
      },
      commitToDynamoMs: {
        noLoadNoBackfill: percentiles(idle),
        loadNoBackfill: percentiles(loaded),
        loadAndBackfill: percentiles(during),
      },
      rateLimit: {
        target,
        measured: Math.round(measured * 10) / 10,
        overSeconds: Math.round((last.at - first.at) / 100) / 10,
        progressSays,
        errorPercent: Math.round(error * 1000) / 10,
        withinTenPercent: error <= 0.1 ? 'met' : 'not met',
      },
    };
    console.log(JSON.stringify(result, null, 2));
    const dir = join(ROOT, '.cache', 'bench');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `backfill-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(result, null, 2),
    );
  } finally {
    await p?.stop().catch((err: Error) => console.warn(`pipeline stop: ${err.message}`));
    for (const t of [T_A, T_B]) await admin.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await admin.query('DELETE FROM inventory WHERE sku = $1', [MARK]).catch(() => undefined);
    await admin.end();
    rmSync(tablesFile, { force: true });
  }
}

main().then(
  // The in-process worker's runtime may keep the event loop alive after the pipeline stopped.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
