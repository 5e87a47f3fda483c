import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { Client } from 'pg';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { sourceVersion } from '../../../domain/processing/version';
import { assertPrimaryKeys } from '../../../infra/provisioning';
import { applyLocalStackEnv, stackUp } from '../../../infra/localStack/localStack';
import { captureWorkflow, healthQuery } from '../../../workflows/capture';
import { captureWorkflowId } from '../../../workflows/names';
import { probes } from '../../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../../support/testPipeline';
import { waitFor } from '../../support/waitFor';
import { ConfigurationError } from '../../../domain/core/errors';

type Change = { shardId: string; sequenceNumber: string; event: ChangeEvent };
const unique = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`.toUpperCase();

/**
 * Per key, drops duplicates (the same version again: at-least-once capture) and checks that
 * what is left has strictly increasing versions in stream order. Returns the deduplicated
 * changes per key and the number of duplicates.
 */
function perKey(changes: Change[], keyOf: (e: ChangeEvent) => string | undefined) {
  const byKey = new Map<string, ChangeEvent[]>();
  let duplicates = 0;
  const seen = new Set<string>();
  for (const { event } of changes) {
    const key = keyOf(event);
    if (key === undefined) continue;
    const version = sourceVersion(event.source.lsn, event.source.index);
    if (seen.has(`${key}@${version}`)) {
      duplicates++;
      continue;
    }
    seen.add(`${key}@${version}`);
    const list = byKey.get(key) ?? [];
    const prev = list.at(-1);
    if (prev) {
      const prevVersion = sourceVersion(prev.source.lsn, prev.source.index);
      assert.ok(prevVersion < version, `key ${key}: version ${version} came after ${prevVersion}`);
    }
    byKey.set(key, [...list, event]);
  }
  return { byKey, duplicates };
}

describe('capture from PostgreSQL', function () {
  this.timeout(300_000);
  before(async function () {
    this.timeout(120_000);
    await stackUp();
    applyLocalStackEnv();
  });

  describe('mixed workload, schema changes, truncate', () => {
    let p: TestPipeline;
    let probe: ReturnType<typeof probes>;
    before(async function () {
      this.timeout(240_000);
      p = await startTestPipeline({}, { readers: false, capture: { healthSeconds: 1, lagAlertBytes: 1 } });
      probe = probes(p);
    });
    after(async () => {
      await p?.stop();
    });

    it('puts every committed change on the stream, in per-key order, with commit LSN, index, txId and images', async () => {
      const sku = unique('MIX');
      const expected = new Map<string, number[]>(); // key → on_hand values in commit order (-1 = deleted)
      const record = (wh: number, v: number) => expected.set(`${wh}`, [...(expected.get(`${wh}`) ?? []), v]);
      // Multi-row, multi-table transactions; a rolled-back one must leave no trace.
      for (let t = 0; t < 20; t++) {
        await p.pg.query('BEGIN');
        for (let wh = 1; wh <= 5; wh++) {
          const value = t * 10 + wh;
          if (t === 0)
            await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, $2, $3)', [
              sku,
              wh,
              value,
            ]);
          else
            await p.pg.query('UPDATE inventory SET on_hand = $3 WHERE sku = $1 AND warehouse_id = $2', [
              sku,
              wh,
              value,
            ]);
          record(wh, value);
        }
        await p.pg.query('INSERT INTO audit_logs (actor, action, entity) VALUES ($1, $2, $3)', [
          'capture-test',
          `t${t}`,
          sku,
        ]);
        await p.pg.query('COMMIT');
      }
      await p.pg.query('BEGIN');
      await p.pg.query('UPDATE inventory SET on_hand = 999999 WHERE sku = $1', [sku]);
      await p.pg.query('ROLLBACK');
      await p.pg.query('DELETE FROM inventory WHERE sku = $1 AND warehouse_id = 5', [sku]);
      record(5, -1);

      const mine = (e: ChangeEvent) =>
        e.source.table === 'inventory' && e.key.sku === sku ? String(e.key.warehouse_id) : undefined;
      const changes = await waitFor('all 101 inventory changes on the stream', async () => {
        const all = await probe.streamChanges();
        const { byKey } = perKey(all, mine);
        const count = [...byKey.values()].reduce((n, l) => n + l.length, 0);
        return count >= 101 ? all : undefined;
      });
      const { byKey, duplicates } = perKey(changes, mine);
      assert.equal(duplicates, 0, 'no duplicates without a crash');
      for (const [key, values] of expected) {
        assert.deepEqual(
          byKey.get(key)!.map((e) => (e.op === 'd' ? -1 : (e.after!.on_hand as number))),
          values,
          `warehouse ${key}: every committed value, in order, nothing from the rolled-back transaction`,
        );
      }
      const update = byKey.get('1')![1];
      assert.equal(update.op, 'u');
      assert.equal(update.before!.on_hand, 1, 'full before image (REPLICA IDENTITY FULL)');
      assert.ok(update.source.txId! > 0);
      assert.match(update.source.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
      const sameTx = changes
        .filter((c) => c.event.source.txId === update.source.txId)
        .map((c) => c.event.source.index);
      assert.deepEqual(
        [...sameTx].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5],
        'index = position within the transaction',
      );
      const del = byKey.get('5')!.at(-1)!;
      assert.deepEqual([del.op, del.after, del.before!.on_hand], ['d', null, 195]);
      assert.ok(
        !changes.some((c) => c.event.source.table === 'cdc_heartbeat'),
        'heartbeat rows advance the slot but are never streamed',
      );
    });

    it('follows columns added and dropped while capturing', async () => {
      const id = unique('rv-');
      await p.pg.query('ALTER TABLE reviews ADD COLUMN IF NOT EXISTS capture_test_extra integer');
      try {
        await p.pg.query('INSERT INTO reviews (review_id, rating, capture_test_extra) VALUES ($1, 4, 42)', [
          `${id}-a`,
        ]);
      } finally {
        await p.pg.query('ALTER TABLE reviews DROP COLUMN IF EXISTS capture_test_extra');
      }
      await p.pg.query('INSERT INTO reviews (review_id, rating) VALUES ($1, 5)', [`${id}-b`]);
      const changes = await waitFor('both reviews on the stream', async () => {
        const found = (await probe.streamChanges()).filter((c) =>
          String(c.event.key.review_id).startsWith(id),
        );
        return found.length === 2 ? found : undefined;
      });
      const [a, b] = changes.sort((x, y) =>
        String(x.event.key.review_id).localeCompare(String(y.event.key.review_id)),
      );
      assert.equal(a.event.after!.capture_test_extra, 42);
      assert.equal('capture_test_extra' in b.event.after!, false);
      assert.equal(b.event.after!.rating, 5);
    });

    it('goes on after a TRUNCATE (logged, not propagated)', async () => {
      await p.pg.query('TRUNCATE cdc_heartbeat');
      const sku = unique('TR');
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 1)', [sku]);
      await waitFor('the change after the truncate', async () =>
        (await probe.streamChanges()).find((c) => c.event.key.sku === sku),
      );
    });

    it('reports slot health, keeps a quiet slot moving, and raises the lag alert', async () => {
      const handle = p.client.workflow.getHandle(captureWorkflowId(p.config.slot));
      const first = await waitFor('a health reading', async () => (await handle.query(healthQuery)).health);
      assert.equal(first.active, true);
      assert.equal(first.walStatus, 'reserved');
      assert.ok(first.walRetainedBytes >= first.lagBytes);
      // WAL written outside the publication (non-transactional messages are not sent to us)
      // moves the server ahead of the slot, so a reading shows lag above the 1-byte threshold.
      const noise = new Client();
      await noise.connect();
      let noisy = true;
      const writing = (async () => {
        while (noisy) {
          await noise.query(`SELECT pg_logical_emit_message(false, 'capture-test-noise', repeat('x', 1000))`);
          await sleep(50);
        }
      })();
      let status;
      try {
        status = await waitFor(
          'the lag alert',
          async () => {
            const s = await handle.query(healthQuery);
            return s.lastAlertId ? s : undefined;
          },
          { timeoutMs: 60_000 },
        );
      } finally {
        noisy = false;
        await writing;
        await noise.end();
      }
      assert.match(status.lastAlertId!, /^alt_[0-9]+_[a-z0-9]+$/);
      // Nothing is written to the monitored tables now; the heartbeat row still moves the slot.
      const before = first.confirmedFlushLsn!;
      await waitFor('the confirmed position to advance on a quiet database', async () => {
        const s = (await handle.query(healthQuery)).health!;
        return s.confirmedFlushLsn !== before ? s : undefined;
      });
    });
  });

  it('refuses to provision a table without a primary key, with a clear configuration error', async () => {
    const db = new Client();
    await db.connect();
    try {
      await db.query('CREATE TEMP TABLE no_pk_test (a int, b text)');
      const schema = (await db.query<{ s: string }>('SELECT pg_my_temp_schema()::regnamespace::text AS s'))
        .rows[0].s;
      await assert.rejects(
        assertPrimaryKeys(db, schema, ['no_pk_test']),
        (err: Error) =>
          err instanceof ConfigurationError && /no_pk_test has no primary key/.test(err.message),
      );
      await db.query('ALTER TABLE no_pk_test ADD PRIMARY KEY (a)');
      await assertPrimaryKeys(db, schema, ['no_pk_test']);
    } finally {
      await db.end();
    }
  });

  it('fails with a clear error when the slot does not exist', async () => {
    const p = await startTestPipeline({}, { readers: false });
    try {
      const handle = await p.client.workflow.start(captureWorkflow, {
        taskQueue: p.config.taskQueue,
        workflowId: `cdc-capture:missing-${Date.now()}`,
        args: [{ slot: 'no_such_slot', publication: p.config.publication }],
      });
      await assert.rejects(handle.result(), (err: Error & { cause?: Error & { cause?: Error } }) => {
        const message = `${err.message} ${err.cause?.message ?? ''} ${err.cause?.cause?.message ?? ''}`;
        assert.match(message, /replication slot 'no_such_slot' does not exist/);
        return true;
      });
    } finally {
      await p.stop();
    }
  });

  /** Inserts `rows` order items in one transaction; returns the order id. */
  const bigTransaction = async (p: TestPipeline, rows: number) => {
    const order = unique('BIG');
    await p.pg.query(
      `INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
       SELECT $1, g, 'SKU-' || (g % 97), 1 + g % 5, 9.99 FROM generate_series(1, $2) g`,
      [order, rows],
    );
    return order;
  };
  const deleteOrder = async (order: string) => {
    const c = new Client();
    await c.connect();
    await c.query('DELETE FROM order_items WHERE order_id = $1', [order]);
    await c.end();
  };
  it('streams a large transaction completely: every row once, one commit LSN, its index in the transaction', async function () {
    this.timeout(600_000);
    // Larger than one flush (500) many times over; pgoutput v1 sends it whole at its commit.
    const rows = 4_000;
    const p = await startTestPipeline({}, { readers: false });
    const probe = probes(p);
    let order = '';
    try {
      const t0 = Date.now();
      order = await bigTransaction(p, rows);
      const lsn = (await p.pg.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
      await waitFor(
        'the transaction to be acknowledged (all of it on the stream)',
        async () => {
          const r = await p.pg.query<{ done: boolean }>(
            'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
            [p.config.slot, lsn],
          );
          return r.rows[0]?.done ? true : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 500 },
      );
      const seconds = (Date.now() - t0) / 1000;
      console.log(
        `      ${rows}-row transaction on the stream and acknowledged in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} changes/s)`,
      );
      const changes = (await probe.streamChanges()).filter((c) => c.event.key.order_id === order);
      assert.equal(changes.length, rows);
      assert.equal(
        new Set(changes.map((c) => c.event.source.index)).size,
        rows,
        'every row once, with its own index',
      );
      assert.equal(new Set(changes.map((c) => c.event.source.lsn)).size, 1, 'one commit LSN');
    } finally {
      await p.stop();
      if (order) await deleteOrder(order);
    }
  });
});
