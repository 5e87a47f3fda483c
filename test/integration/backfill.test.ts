import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Client as PgClient } from 'pg';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { awsClients } from '../../infra/aws';
import { BackfillConflictError, runningBackfills, startBackfill } from '../../infra/backfillClient';
import { eventRouting, queueUrl } from '../../infra/provisioning';
import { DEFAULT_TABLES_FILE, loadTables } from '../../infra/tablesFile';
import type { BackfillRequest } from '../../domain/backfill/request';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';
import {
  backfillProgressQuery,
  cancelBackfillSignal,
  pauseBackfillSignal,
  resumeBackfillSignal,
  setRateLimitSignal,
  type BackfillProgress,
} from '../../workflows/backfill';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Backfill on the local stack (issue 11). Tables of its own (created and filled before the test
 * pipeline's slot exists, so their rows never streamed: exactly what a snapshot fills), added to
 * a copy of the table file. CDC_BACKFILL_ROWS sets the rows per table (500 in CI, where DynamoDB Local's ~50 guarded writes/s
 * set the pace; 100,000 by hand). Behaviour only: the rates and latencies (snapshot rows/s alone and
 * under load, commit → DynamoDB with and without a backfill, the rate limit's accuracy) are
 * measured by `npm run bench:backfill` (bench/backfill.ts).
 */
describe('backfill workflows (local stack)', function () {
  this.timeout(1_200_000);
  const N = Number(process.env.CDC_BACKFILL_ROWS ?? 500);
  /** Updates and deletes per second of the load generator (below what the local stack's DynamoDB sustains). */
  const LOAD = Number(process.env.CDC_BACKFILL_LOAD_RATE ?? 20);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e3).toString(36)}`;
  const T_A = `bf_a_${run}`; // snapshot alone, then rate limit / pause / resume / cancel
  const T_B = `bf_b_${run}`; // snapshot under concurrent load, then reconcile after TRUNCATE
  const T_E = `bf_e_${run}`; // worker SIGKILLed mid-backfill
  const MARK = `BF-MARK-${run}`;
  const tablesFile = join(tmpdir(), `cdc-backfill-tables-${run}.yaml`);
  let admin: PgClient;
  let p: TestPipeline;
  const numbers: string[] = [];

  before(async function () {
    this.timeout(300_000);
    await stackUp();
    applyLocalStackEnv();
    admin = new PgClient();
    await admin.connect();
    for (const t of [T_A, T_B, T_E]) {
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
    for (const t of [T_A, T_B, T_E])
      doc.tables[t] = {
        entity: 'bf_item',
        key: ['sku', 'warehouse_id'],
        operations: ['INSERT', 'UPDATE', 'DELETE'],
      };
    writeFileSync(tablesFile, stringifyYaml(doc));
    process.env.CDC_TABLES_FILE = tablesFile;
    loadTables(tablesFile);
    p = await startTestPipeline();
    await admin.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 0)', [MARK]);
    await waitFor('the marker row in DynamoDB', () => entity('inventory', `${MARK}#1`), {
      timeoutMs: 60_000,
    });
  });

  after(async function () {
    this.timeout(120_000);
    // Whatever stopping the pipeline meets (a service gone), the tables of this run are dropped.
    await p?.stop().catch((err: Error) => console.warn(`pipeline stop: ${err.message}`));
    for (const t of [T_A, T_B, T_E]) await admin?.query(`DROP TABLE IF EXISTS ${t}`).catch(() => undefined);
    await admin?.query('DELETE FROM inventory WHERE sku LIKE $1', [`BF-%-${run}%`]).catch(() => undefined);
    await admin?.end();
    delete process.env.CDC_TABLES_FILE;
    loadTables();
    rmSync(tablesFile, { force: true });
    if (numbers.length)
      console.log(
        `\n  backfill numbers (${N} rows per table):\n${numbers.map((l) => `    ${l}`).join('\n')}`,
      );
  });

  const entity = async (table: string, id: string, q: TestPipeline = p) =>
    (
      await awsClients().doc.send(
        new GetCommand({
          TableName: q.config.tables.entities,
          Key: { pk: `${table}#${id}` },
          ConsistentRead: true,
        }),
      )
    ).Item;

  const start = (request: BackfillRequest, q: TestPipeline = p) => startBackfill(q.client, q.config, request);

  /** Every item of a table in cdc_entities, by entityId. */
  const itemsOf = (q: TestPipeline, table: string) => probes(q).entities(table);

  /** Rows of PostgreSQL that DynamoDB does not hold with equal values, plus live items PostgreSQL does not have. */
  async function mismatches(q: TestPipeline, table: string): Promise<{ count: number; examples: string[] }> {
    const rows = (await admin.query(`SELECT sku, warehouse_id, on_hand, reserved, note FROM ${table}`))
      .rows as {
      sku: string;
      warehouse_id: number;
      on_hand: number;
      reserved: number;
      note: string | null;
    }[];
    const items = await itemsOf(q, table);
    const examples: string[] = [];
    let count = 0;
    const miss = (why: string) => {
      count++;
      if (examples.length < 5) examples.push(why);
    };
    const inPg = new Set<string>();
    for (const r of rows) {
      const id = `${r.sku}#${r.warehouse_id}`;
      inPg.add(id);
      const item = items.get(id);
      const row = item?.row as Record<string, unknown> | undefined;
      if (!item || item.deleted || !row) miss(`${id}: ${item ? 'tombstoned' : 'missing'}`);
      else if (
        row.sku !== r.sku ||
        row.warehouse_id !== r.warehouse_id ||
        row.on_hand !== r.on_hand ||
        row.reserved !== r.reserved ||
        (row.note ?? null) !== r.note
      )
        miss(`${id}: on_hand ${String(row.on_hand)} ≠ ${r.on_hand} (version ${String(item.version)})`);
    }
    for (const [id, item] of items)
      if (!inPg.has(id) && !item.deleted) miss(`${id}: live in DynamoDB, not in PostgreSQL`);
    return { count, examples };
  }

  const progress = (workflowId: string, q: TestPipeline = p) =>
    q.client.workflow.getHandle(workflowId).query(backfillProgressQuery);

  /**
   * Commits a marker update, waits until DynamoDB has it, and again (a live change at a time, at
   * most one per 200 ms) until stopped; `stop()` returns when each marker was committed and applied.
   */
  function liveChanges(): { stop: () => Promise<{ committedAt: number; appliedAt: number }[]> } {
    let running = true;
    const lat: { committedAt: number; appliedAt: number }[] = [];
    const loop = (async () => {
      const c = new PgClient();
      await c.connect();
      let i = Number(Date.now() % 1_000_000) * 10;
      try {
        while (running) {
          const began = Date.now();
          i++;
          await c.query('UPDATE inventory SET on_hand = $2 WHERE sku = $1 AND warehouse_id = 1', [MARK, i]);
          const committed = Date.now();
          const want = i;
          await waitFor(
            `marker ${want}`,
            async () =>
              ((await entity('inventory', `${MARK}#1`))?.row as { on_hand?: number })?.on_hand === want ||
              undefined,
            { timeoutMs: 60_000, intervalMs: 10 },
          );
          lat.push({ committedAt: committed, appliedAt: Date.now() });
          await sleep(Math.max(0, 200 - (Date.now() - began))); // pacing of the load, not a wait
        }
      } finally {
        await c.end();
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        return lat;
      },
    };
  }

  /** Updates and deletes random rows of `table` at `perSecond` until stopped. */
  function loadGenerator(
    table: string,
    perSecond: number,
  ): { stop: () => Promise<{ updates: number; deletes: number }> } {
    let running = true;
    const counts = { updates: 0, deletes: 0 };
    const loop = (async () => {
      const c = new PgClient();
      await c.connect();
      try {
        const startedAt = Date.now();
        let ops = 0;
        while (running) {
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
          ops++;
          await sleep(Math.max(0, startedAt + (ops * 1000) / perSecond - Date.now())); // the load's pace
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
  }

  it('snapshots a table alone: DynamoDB equals PostgreSQL, rows published as <entity>.snapshot', async () => {
    const t0 = Date.now();
    const handle = await start({ id: `alone-${run}`, tables: [T_A], rateLimit: 1_000_000 });
    const report = await handle.result();
    numbers.push(`snapshot alone: ${N} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(report.state, 'DONE');
    assert.equal(report.counters.read, N);
    assert.equal(report.counters.applied, N);
    assert.equal(report.counters.published, N);
    assert.equal(report.counters.stale, 0);
    const m = await mismatches(p, T_A);
    assert.equal(m.count, 0, m.examples.join('; '));
    const one = await entity(T_A, 'S-0000000#1');
    // The snapshot version (whatever the source epoch recorded on this stack): <hex(L−1)>.9999999999.
    assert.match(String(one?.version), /^(e\d{6}\.)?[0-9A-F]{16}\.9999999999$/);
  });

  it('refuses a second backfill of a table one already runs, naming it', async () => {
    const first = await start({ id: `first-${run}`, tables: [T_A], rateLimit: 50, chunkSize: 10 });
    // Visibility lags the start by about a second: the check sees the backfill once it is listed.
    await waitFor(
      'the first backfill in visibility',
      async () =>
        (await runningBackfills(p.client, p.config)).some((b) => b.workflowId === first.workflowId) ||
        undefined,
    );
    await assert.rejects(start({ id: `second-${run}`, tables: [T_A] }), (err: Error) => {
      assert.ok(err instanceof BackfillConflictError);
      assert.match(
        err.message,
        new RegExp(`table ${T_A} is already being backfilled by cdc-backfill:first-${run}`),
      );
      return true;
    });
    await first.signal(cancelBackfillSignal, { reason: 'test' });
    assert.equal((await first.result()).state, 'CANCELLED');
  });

  it('snapshots a table while it is updated and deleted at a steady rate: 0 mismatches, live changes not held back', async () => {
    const load = loadGenerator(T_B, LOAD);
    // Live changes of another table, one after the other, while the snapshot runs.
    const live = liveChanges();
    const t0 = Date.now();
    const handle = await start({ id: `load-${run}`, tables: [T_B], rateLimit: 1_000_000 });
    const report = await handle.result();
    const t1 = Date.now();
    const during = await live.stop();
    const counts = await load.stop();
    numbers.push(
      `snapshot under load (${counts.updates} updates, ${counts.deletes} deletes at ${LOAD}/s): ${report.counters.read} rows; applied ${report.counters.applied}, stale ${report.counters.stale}, published ${report.counters.published}; ${during.length} live changes applied meanwhile`,
    );
    // Not held back: live changes committed after the snapshot began reached DynamoDB before it ended.
    const throughDuring = during.filter((m) => m.committedAt >= t0 && m.appliedAt <= t1);
    assert.ok(
      throughDuring.length >= 1,
      `no live change committed and applied while the snapshot ran (${((t1 - t0) / 1000).toFixed(1)} s; ${during.length} in all)`,
    );
    assert.ok(counts.updates + counts.deletes > 0, 'the table was changed while it was read');
    assert.equal(report.state, 'DONE');
    assert.equal(report.counters.published, report.counters.applied, 'stale rows are not published');
    let last = { count: -1, examples: [] as string[] };
    await waitFor(
      'DynamoDB to equal PostgreSQL',
      async () => {
        last = await mismatches(p, T_B);
        return last.count === 0 ? true : undefined;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 2_000,
        lastSeen: () => `${last.count} mismatches: ${last.examples.join('; ')}`,
      },
    );
    numbers.push(`mismatches after the concurrent snapshot: ${last.count}`);
    assert.equal(last.count, 0);
  });

  it('paces reads by the rate limit (throttled, in key order), pauses, resumes with a new rate, and cancels cleanly', async () => {
    // Far below what the local stack sustains (DynamoDB Local writes a few dozen items a second on a
    // busy machine), so the workflow has to wait between chunks. How close it keeps the rate is
    // measured by `npm run bench:backfill`.
    const target = 20;
    const handle = await start({ id: `rate-${run}`, tables: [T_A], rateLimit: target, chunkSize: 100 });
    const seen: { read: number; lastKey?: string }[] = [];
    await waitFor(
      'three chunks',
      async () => {
        const x = await progress(handle.workflowId);
        if (x.counters.read !== seen.at(-1)?.read) seen.push({ read: x.counters.read, lastKey: x.lastKey });
        return x.chunks >= 3 ? x : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    // Throttled: a chunk holds at most a second of the rate, and the workflow sleeps between
    // chunks (a pacing timer) instead of reading at the stack's pace.
    const history = (await handle.fetchHistory()).events ?? [];
    const chunkInputs = history.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'backfillChunk',
    ).length;
    const pacing = history.filter((e) => {
      const t = e.timerStartedEventAttributes?.startToFireTimeout;
      return t != null && (Number(t.seconds ?? 0) > 0 || Number(t.nanos ?? 0) > 0);
    }).length;
    assert.ok(chunkInputs >= 3, `${chunkInputs} chunks scheduled`);
    assert.ok(pacing >= 1, `no pacing timer between ${chunkInputs} chunks at ${target} rows/s`);
    const mid = await progress(handle.workflowId);
    assert.ok(mid.counters.read <= mid.chunks * target, `${mid.counters.read} rows in ${mid.chunks} chunks`);
    assert.equal(mid.state, 'RUNNING');
    assert.match(mid.line, /rows\/s/);
    // In key order: the last key read only moves forward.
    const keys = seen.filter((x) => x.read > 0).map((x) => x.lastKey ?? '');
    for (let k = 1; k < keys.length; k++)
      assert.ok(keys[k - 1]! < keys[k]!, `keys read out of order: ${keys.join(', ')}`);

    await handle.signal(pauseBackfillSignal, { reason: 'test pause' });
    const paused = await waitFor('PAUSED, the chunk in flight finished', async () => {
      const x = await progress(handle.workflowId);
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      return x.state === 'PAUSED' && pending.length === 0 ? x : undefined;
    });
    assert.equal(paused.pausedReason, 'test pause');
    // A rate change while paused: once the workflow has handled it (the progress shows the new
    // rate), a paused loop would have started its next chunk; none ran and none is running.
    const slower = Math.max(1, Math.floor(target / 3));
    await handle.signal(setRateLimitSignal, { rowsPerSecond: slower });
    const handled = await waitFor('the rate change handled while paused', async () => {
      const x = await progress(handle.workflowId);
      return x.rateLimit === slower ? x : undefined;
    });
    assert.equal(handled.state, 'PAUSED');
    assert.equal(handled.counters.read, paused.counters.read, 'nothing read while paused');
    assert.deepEqual(
      (await handle.describe()).raw.pendingActivities ?? [],
      [],
      'no chunk running while paused',
    );

    await handle.signal(resumeBackfillSignal);
    await waitFor('reading again', async () => {
      const x = await progress(handle.workflowId);
      return x.state === 'RUNNING' && x.counters.read > handled.counters.read ? x : undefined;
    });
    await handle.signal(cancelBackfillSignal, { reason: 'test cancel' });
    const report = await handle.result();
    assert.equal(report.state, 'CANCELLED');
    assert.equal(report.cancelReason, 'test cancel');
    assert.equal(report.rateLimit, slower);
    assert.ok(report.counters.read < N, 'cancelled before the end');
    // A later snapshot has a later watermark, so its rows replace the earlier snapshot's (same state);
    // only rows a newer streamed change holds are stale, and those are not published.
    assert.equal(report.counters.applied + report.counters.stale, report.counters.read);
    assert.equal(report.counters.published, report.counters.applied);
  });

  it('reconciles after a TRUNCATE (not propagated): tombstones what PostgreSQL no longer has', async () => {
    const live = [...(await itemsOf(p, T_B)).values()].filter((i) => !i.deleted).length;
    await admin.query(`TRUNCATE ${T_B}`);
    await admin.query(
      `INSERT INTO ${T_B} (sku, warehouse_id, on_hand) VALUES ('NEW-1', 1, 5), ('NEW-2', 1, 6)`,
    );
    await waitFor('the new rows in DynamoDB', async () =>
      (await entity(T_B, 'NEW-2#1')) ? true : undefined,
    );
    const handle = await start({ id: `reconcile-${run}`, tables: [T_B], mode: 'reconcile', chunkSize: 500 });
    const report = await handle.result();
    assert.equal(report.state, 'DONE');
    assert.equal(report.counters.tombstoned, live, `${live} live items before the TRUNCATE`);
    const m = await mismatches(p, T_B);
    assert.equal(m.count, 0, m.examples.join('; '));
    assert.equal((await entity(T_B, 'NEW-1#1'))?.deleted, false);
    assert.equal((await entity(T_B, 'S-0000000#1'))?.deleted, true);
    numbers.push(
      `reconcile after TRUNCATE: ${report.counters.read} items scanned, ${report.counters.tombstoned} tombstoned`,
    );
  });

  it('replays from a timestamp: nothing older than DynamoDB holds is applied, events keep their ids', async () => {
    const skus = [0, 1, 2].map((i) => `BF-RP-${run}-${i}`);
    const queue = await queueUrl(eventRouting(p.config.eventBus).queues.inventory);
    const since = new Date(Date.now() - 2_000).toISOString();
    for (const sku of skus)
      await admin.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 7)', [sku]);
    const collect = async () => {
      const ids = new Map<string, string>();
      await waitFor(
        'the events of the replayed rows',
        async () => {
          const out = await awsClients().sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const ms = out.Messages ?? [];
          if (ms.length)
            await awsClients().sqs.send(
              new DeleteMessageBatchCommand({
                QueueUrl: queue,
                Entries: ms.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
              }),
            );
          for (const m of ms) {
            const body = JSON.parse(m.Body ?? '{}') as { detail?: { entityId?: string; eventId?: string } };
            const sku = body.detail?.entityId?.split('#')[0];
            if (sku && skus.includes(sku)) ids.set(sku, String(body.detail?.eventId));
          }
          return ids.size === skus.length ? ids : undefined;
        },
        { timeoutMs: 60_000 },
      );
      return ids;
    };
    const original = await collect();
    const versions = await Promise.all(skus.map(async (s) => (await entity('inventory', `${s}#1`))?.version));
    // The replay takes what arrived on the stream before it started: the clock past the rows' arrival.
    const arrived = (await probes(p).streamChanges())
      .filter((c) => c.event.source.table === 'inventory' && skus.includes(String(c.event.key.sku)))
      .map((c) => c.arrivalMs);
    assert.ok(arrived.length >= skus.length, `${arrived.length} of the rows on the stream`);
    await waitFor('the clock past their arrival', async () =>
      Date.now() > Math.max(...arrived) ? true : undefined,
    );
    const handle = await start({
      id: `replay-${run}`,
      tables: ['inventory'],
      mode: 'replay',
      replay: { since },
    });
    const report: BackfillProgress = await handle.result();
    numbers.push(
      `replay since ${since}: ${report.counters.read} records, applied ${report.counters.applied}, stale ${report.counters.stale}, published ${report.counters.published}, skipped ${report.counters.skipped}`,
    );
    assert.equal(report.state, 'DONE');
    assert.equal(report.counters.applied, 0, 'nothing older than DynamoDB holds is applied');
    assert.ok(report.counters.stale >= skus.length);
    const again = await collect();
    assert.deepEqual(
      [...again.entries()].sort(),
      [...original.entries()].sort(),
      'republished with the original event ids',
    );
    const after = await Promise.all(skus.map(async (s) => (await entity('inventory', `${s}#1`))?.version));
    assert.deepEqual(after, versions);
  });

  it('resumes from the last chunk after the worker is SIGKILLed: no row missed', async function () {
    this.timeout(600_000);
    const q = await startTestPipeline({}, { workerProcess: true });
    try {
      // Paced so that the kill comes mid-backfill (a few chunks read, most of the table not).
      const handle = await start({ id: `kill-${run}`, tables: [T_E], chunkSize: 50, rateLimit: 200 }, q);
      await waitFor(
        'a few chunks',
        async () => ((await progress(handle.workflowId, q)).chunks >= 2 ? true : undefined),
        {
          timeoutMs: 120_000,
          intervalMs: 100,
        },
      );
      const before = await progress(handle.workflowId, q);
      // The server told at once (not after its timeouts) that the worker is gone: the next worker
      // takes the backfill over from the last completed chunk.
      await q.killWorker({ noticeNow: true });
      assert.ok(before.counters.read < N, `killed mid-backfill (${before.counters.read} of ${N} rows read)`);
      const report = await handle.result();
      numbers.push(
        `worker SIGKILLed after ${before.chunks} chunks (${before.counters.read} rows): finished with ${report.counters.read} rows read in ${report.chunks} chunks`,
      );
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, N, 'every row read once: resumed from the last completed chunk');
      const m = await mismatches(q, T_E);
      assert.equal(m.count, 0, m.examples.join('; '));
    } finally {
      await q.stop();
    }
  });
});
