import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { createActivities } from '../../activities';
import { redactEvents, redactionKeyOf } from '../../activities/processing';
import { ANALYTICS_TABLES, RECOMPUTE_SQL } from '../../domain/analytics/sql';
import type { ChangeEvent } from '../../domain/core/changeEvent';
import type { Row } from '../../domain/core/json';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { splitKeyChange, transformChange } from '../../domain/processing/transform';
import type { PipelineConfig } from '../../infra/config';
import { ANALYTICS_CONSUMER, consumerConfig, deploymentConsumers } from '../../infra/consumers';
import { provisionAnalytics } from '../../infra/provisioning';
import {
  cancelReservation,
  confirmReservation,
  expireReservation,
  reserve,
} from '../../infra/reservationStore';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * The analytics sink on the stack's PostgreSQL: changes captured from real rows (PostgreSQL →
 * capture → Kinesis), transformed and redacted by the pipeline's own steps, applied through the
 * `applyEvents` activity of an analytics worker's configuration with replays, overlapping and
 * concurrent batches and in-batch duplicates. Every change lands once; the aggregates equal their
 * recomputation from the change table and what the source tables say; the BI queries of
 * docs/analytics.md run.
 */
describe('analytics sink (PostgreSQL analytics database)', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let config: PipelineConfig;
  let db: PgClient;
  const run = `an${Date.now().toString(36)}`;
  const SKU = { a: `${run}-A`, b: `${run}-B`, r: `${run}-R`, s: `${run}-S`, end: `${run}-END` };
  let events: PipelineEvent[] = [];
  /** Low-stock crossings the load makes, counted by hand (default threshold 10). */
  let crossings = 0;

  before(async function () {
    this.timeout(300_000);
    p = await startTestPipeline({}, { readers: false }); // capture only: the test reads the stream
    const analytics = deploymentConsumers(p.config).find((c) => c.name === ANALYTICS_CONSUMER)!;
    config = { ...consumerConfig(p.config, analytics), analyticsDatabase: `analytics_${run}` };
    await provisionAnalytics(config);
    db = new PgClient({ database: config.analyticsDatabase });
    await db.connect();
    crossings = await load(p.pg);
    events = [...(await capturedEvents()), ...synthetic()];
  });
  after(async () => {
    await db?.end().catch(() => undefined);
    const admin = new PgClient({ database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "analytics_${run}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await p?.stop();
  });

  /** Inventory, reservations, orders and a user, committed in PostgreSQL. Returns the low-stock crossings. */
  async function load(pg: PgClient): Promise<number> {
    const inv = (sku: string, wh: number, onHand: number) =>
      pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, $2, $3)', [sku, wh, onHand]);
    const set = (sku: string, wh: number, onHand: number) =>
      pg.query('UPDATE inventory SET on_hand = $3 WHERE sku = $1 AND warehouse_id = $2', [sku, wh, onHand]);
    await inv(SKU.a, 1, 100);
    await inv(SKU.a, 2, 4); // inserted low: 1
    await inv(SKU.b, 1, 100);
    await inv(SKU.b, 2, 100);
    await set(SKU.a, 1, 60);
    await set(SKU.a, 1, 8); // crosses: 2
    await set(SKU.a, 1, 50);
    await set(SKU.a, 1, 5); // crosses: 3
    await set(SKU.b, 1, 9); // crosses: 4
    await set(SKU.b, 1, 3); // stays low
    await set(SKU.b, 2, 10); // 10 is not below 10
    await pg.query('DELETE FROM inventory WHERE sku = $1 AND warehouse_id = 2', [SKU.b]);
    // Holds on a well-stocked row: 6 taken, 2 confirmed, 1 cancelled, 2 expired, 1 still held.
    await inv(SKU.r, 1, 1000);
    const ids: string[] = [];
    for (let q = 1; q <= 6; q++) {
      const r = await reserve(pg, {
        reservationId: `${run}-res-${q}`,
        sku: SKU.r,
        warehouseId: 1,
        quantity: q,
        ttlSeconds: q >= 5 ? 1 : 600,
      });
      assert.ok(r.ok, `hold ${q}`);
      ids.push(r.reservation.reservationId);
    }
    assert.equal((await confirmReservation(pg, ids[0]!)).outcome, 'confirmed');
    assert.equal((await confirmReservation(pg, ids[1]!)).outcome, 'confirmed');
    assert.equal((await cancelReservation(pg, ids[2]!)).outcome, 'released');
    // Released once due (PostgreSQL's clock decides): asked again until it is no longer not-due.
    for (const id of [ids[4]!, ids[5]!]) {
      const expired = await waitFor(
        `hold ${id} due`,
        async () => {
          const r = await expireReservation(pg, id);
          return r.outcome === 'not-due' ? undefined : r;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      assert.equal(expired.outcome, 'released');
    }
    // Orders: DECIMAL rounds half away from zero to 2 places.
    const orders: [string, string][] = [
      ['12.345', 'USD'],
      ['0.005', 'USD'],
      ['99.99', 'EUR'],
      ['1000', 'USD'],
      ['7.5', 'EUR'],
    ];
    for (const [i, [amount, currency]] of orders.entries())
      await pg.query(
        `INSERT INTO orders (order_id, status, total_amount, currency, payment_details, shipping_address)
         VALUES ($1, 'new', $2, $3, '{"card": "4111111111111111"}', '1 Main St')`,
        [`${run}-o${i}`, amount, currency],
      );
    await pg.query(`UPDATE orders SET status = 'paid' WHERE order_id = $1`, [`${run}-o0`]); // not a new order
    await pg.query(`INSERT INTO users (id, email, phone, full_name, ssn) VALUES ($1, $2, $3, $4, $5)`, [
      `${run}-u1`,
      `jane.${run}@example.com`,
      '+1-202-555-0147',
      'Jane Doe',
      '078-05-1120',
    ]);
    await inv(SKU.end, 1, 1000);
    return 4;
  }

  /** This run's changes as the shard readers would hand them to the sink: from the stream, transformed and redacted. */
  async function capturedEvents(): Promise<PipelineEvent[]> {
    const probe = probes(p);
    const mine = (e: ChangeEvent) => Object.values(e.key).some((v) => String(v).startsWith(run));
    let seen = 'nothing read yet';
    const records = await waitFor(
      'the load on the stream',
      async () => {
        const stream = await probe.streamChanges();
        const all = stream.filter((r) => mine(r.event));
        seen = `${stream.length} records on the stream, ${all.length} of this run`;
        return all.some((r) => r.event.key.sku === SKU.end) ? all : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, lastSeen: () => seen },
    );
    const transformed = records.flatMap((r) =>
      splitKeyChange(r.event).map((c) =>
        transformChange(c, { shardId: r.shardId, sequenceNumber: r.sequenceNumber }),
      ),
    );
    return redactEvents(transformed, redactionKeyOf(config));
  }

  /** Changes of another SKU and orders spread over three hours (real transform and redact, hand-made rows). */
  function synthetic(): PipelineEvent[] {
    const out: ChangeEvent[] = [];
    let lsn = 0x10_0000;
    const at = (minutes: number) => new Date(Date.UTC(2024, 0, 15, 9, 58) + minutes * 60_000).toISOString();
    const change = (
      table: string,
      op: ChangeEvent['op'],
      key: Row,
      before: Row | null,
      after: Row | null,
      t: number,
    ) =>
      out.push({
        source: {
          db: 'inventory',
          schema: 'public',
          table,
          lsn: `0/${(lsn += 0x40).toString(16)}`,
          commitTs: at(t),
          index: 0,
        },
        op,
        key,
        before: before && { ...key, ...before },
        after: after && { ...key, ...after },
      });
    const key = { sku: SKU.s, warehouse_id: 9 };
    const row = (onHand: number) => ({ on_hand: onHand, reserved: 0, low_stock_threshold: 10 });
    change('inventory', 'c', key, null, row(50), 0); // 09:58
    change('inventory', 'u', key, row(50), row(40), 3); // 10:01
    change('inventory', 'u', key, row(40), row(9), 6); // 10:04, crosses
    change('inventory', 'u', key, row(9), row(30), 61); // 10:59
    change('inventory', 'u', key, row(30), row(25), 125); // 12:03
    for (const [i, t] of [0, 7, 62, 130].entries())
      change(
        'orders',
        'c',
        { order_id: `${run}-so${i}` },
        null,
        { status: 'new', total_amount: '10.005', currency: 'USD' },
        t,
      );
    return redactEvents(
      out.map((c, i) => transformChange(c, { shardId: 'synthetic', sequenceNumber: String(9_000_000 + i) })),
      redactionKeyOf(config),
    );
  }

  const numeric = (v: unknown) => (v === null ? null : String(Number(v)));
  /** Rows as sorted, comparable strings (numerics normalised, timestamps as ISO). */
  async function rows(sql: string): Promise<string[]> {
    const out = await db.query<Record<string, unknown>>(sql);
    return out.rows
      .map((r) =>
        JSON.stringify(
          Object.entries(r)
            .filter(([k]) => k !== 'updated_at')
            .map(([k, v]) => [
              k,
              v instanceof Date
                ? v.toISOString()
                : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)
                  ? numeric(v)
                  : v,
            ]),
        ),
      )
      .sort();
  }

  it('applies every change once through replays, overlapping, concurrent and duplicated batches', async () => {
    const n = events.length;
    assert.ok(n > 40, `the load made ${n} changes`);
    assert.equal(new Set(events.map((e) => e.eventId)).size, n, 'distinct changes');
    const apply = createActivities(config).applyEvents;
    const q = (f: number) => Math.floor(n * f);
    const first = await apply(events.slice(0, q(0.5)));
    const replay = await apply(events.slice(0, q(0.5)));
    const overlap = await apply(events.slice(q(0.25), q(0.75)));
    const racing = await Promise.all([
      apply(events.slice(q(0.5)).reverse()),
      apply(events.flatMap((e) => [e, e])),
      apply(events.slice(q(0.75))),
    ]);
    const last = await apply(events);
    assert.deepEqual([first.applied, first.stale], [q(0.5), 0]);
    assert.deepEqual([replay.applied, replay.stale], [0, q(0.5)]);
    assert.deepEqual([overlap.applied, overlap.stale], [q(0.75) - q(0.5), q(0.5) - q(0.25)]);
    assert.equal(
      racing.reduce((s, r) => s + r.applied, 0),
      n - q(0.75),
      'concurrent batches insert the rest once between them',
    );
    assert.equal(racing[1]!.stale, 2 * n - racing[1]!.applied, 'in-batch duplicates are stale');
    assert.deepEqual([last.applied, last.stale, last.rejected], [0, n, []]);
    const count = await db.query<{ n: string; d: string }>(
      'SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM cdc_changes',
    );
    assert.deepEqual([Number(count.rows[0]!.n), Number(count.rows[0]!.d)], [n, n]);
  });

  it('keeps every aggregate equal to its recomputation from the change table', async () => {
    for (const [table, sql] of Object.entries(RECOMPUTE_SQL)) {
      const kept = await rows(`SELECT * FROM ${table}`);
      assert.ok(kept.length > 0, `${table} has rows`);
      assert.deepEqual(kept, await rows(sql), table);
    }
  });

  it('the aggregates agree with the source tables', async () => {
    // Stock: the movements of a row add up to its stock (a deleted row to 0).
    const moved = await db.query<{ sku: string; warehouse_id: string; on_hand: string; reserved: string }>(
      `SELECT sku, warehouse_id, sum(on_hand_delta) AS on_hand, sum(reserved_delta) AS reserved
       FROM ${ANALYTICS_TABLES.stock} WHERE grain = '1h' AND sku LIKE $1 GROUP BY 1, 2`,
      [`${run}-%`],
    );
    const source = await p.pg.query<{ sku: string; warehouse_id: number; on_hand: number; reserved: number }>(
      'SELECT sku, warehouse_id, on_hand, reserved FROM inventory WHERE sku LIKE $1',
      [`${run}-%`],
    );
    const expected = new Map(source.rows.map((r) => [`${r.sku}#${r.warehouse_id}`, [r.on_hand, r.reserved]]));
    expected.set(`${SKU.b}#2`, [0, 0]); // deleted
    expected.set(`${SKU.s}#9`, [25, 0]); // synthetic
    assert.deepEqual(
      new Map(moved.rows.map((r) => [`${r.sku}#${r.warehouse_id}`, [Number(r.on_hand), Number(r.reserved)]])),
      expected,
    );
    // Reservations: counted as the table says they ended.
    const holds = await db.query(
      `SELECT sum(taken)::int AS taken, sum(confirmed)::int AS confirmed, sum(cancelled)::int AS cancelled,
              sum(expired)::int AS expired
       FROM ${ANALYTICS_TABLES.reservations} WHERE grain = '5m' AND sku = $1`,
      [SKU.r],
    );
    const statuses = await p.pg.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM reservations WHERE reservation_id LIKE $1 GROUP BY status',
      [`${run}-%`],
    );
    const by = Object.fromEntries(statuses.rows.map((r) => [r.status, r.n]));
    assert.deepEqual(holds.rows[0], {
      taken: 6,
      confirmed: by.CONFIRMED,
      cancelled: by.CANCELLED,
      expired: by.EXPIRED,
    });
    assert.deepEqual([by.CONFIRMED, by.CANCELLED, by.EXPIRED, by.HELD], [2, 1, 2, 1]);
    // Orders: count and exact sum per currency (PostgreSQL's round is half away from zero too).
    const orders = await db.query<{ currency: string; orders: string; amount: string }>(
      `SELECT currency, sum(orders) AS orders, sum(amount) AS amount FROM ${ANALYTICS_TABLES.orders}
       WHERE grain = '1h' GROUP BY currency ORDER BY currency`,
    );
    const src = await p.pg.query<{ currency: string; orders: string; amount: string }>(
      `SELECT currency, count(*) AS orders, sum(round(total_amount, 2)) AS amount FROM orders
       WHERE order_id LIKE $1 GROUP BY currency ORDER BY currency`,
      [`${run}-o%`],
    );
    const synthetic = { orders: 4, amount: 4 * 10.01 }; // USD, 10.005 → 10.01
    assert.deepEqual(
      orders.rows.map((r) => [r.currency, Number(r.orders), Number(r.amount).toFixed(2)]),
      src.rows.map((r) =>
        r.currency === 'USD'
          ? [
              r.currency,
              Number(r.orders) + synthetic.orders,
              (Number(r.amount) + synthetic.amount).toFixed(2),
            ]
          : [r.currency, Number(r.orders), Number(r.amount).toFixed(2)],
      ),
    );
    assert.deepEqual(
      orders.rows.map((r) => r.amount),
      ['107.49', '1052.40'],
      'exact decimals: 99.99 + 7.50; 12.35 + 0.01 + 1000.00 + 4 × 10.01',
    );
    // Low stock: the crossings of the load, and the synthetic one.
    const alerts = await db.query<{ n: string }>(
      `SELECT sum(alerts) AS n FROM ${ANALYTICS_TABLES.lowStock} WHERE grain = '5m' AND sku LIKE $1`,
      [`${run}-%`],
    );
    assert.equal(Number(alerts.rows[0]!.n), crossings + 1);
  });

  it('buckets by commit time at both grains', async () => {
    const buckets = await db.query<{ grain: string; bucket: Date; change_count: string }>(
      `SELECT grain, bucket, change_count FROM ${ANALYTICS_TABLES.stock} WHERE sku = $1 ORDER BY grain, bucket`,
      [SKU.s],
    );
    assert.deepEqual(
      buckets.rows.map((r) => [r.grain, r.bucket.toISOString().slice(11, 16), Number(r.change_count)]),
      [
        ['1h', '09:00', 1],
        ['1h', '10:00', 3],
        ['1h', '12:00', 1],
        ['5m', '09:55', 1],
        ['5m', '10:00', 2],
        ['5m', '10:55', 1],
        ['5m', '12:00', 1],
      ],
    );
  });

  it('holds only redacted values: a sensitive table’s key is a reference, its PII nowhere', async () => {
    const user = await db.query<{ entity_id: string; dump: string }>(
      `SELECT entity_id, changes::text || coalesce(after_image::text, '') AS dump FROM cdc_changes WHERE table_name = 'users'`,
    );
    assert.equal(user.rows.length, 1);
    assert.match(user.rows[0]!.entity_id, /^hash:[0-9a-f]{16}$/);
    const everything = await db.query<{ dump: string }>(
      `SELECT string_agg(c::text, ' ') AS dump FROM cdc_changes c`,
    );
    for (const secret of [
      '078-05-1120',
      `jane.${run}`,
      '202-555',
      'Jane Doe',
      '4111111111111111',
      '1 Main St',
    ])
      assert.ok(!everything.rows[0]!.dump.includes(secret), `the analytics database must not hold ${secret}`);
  });

  it('rejects a change PostgreSQL cannot store, and applies the rest of the batch', async () => {
    const [bad, good] = redactEvents(
      [
        { name: 'nul\u0000byte', sku: `${run}-P1` },
        { name: 'fine', sku: `${run}-P2` },
      ].map((after, i) =>
        transformChange(
          {
            source: {
              db: 'inventory',
              schema: 'public',
              table: 'products',
              lsn: `0/${(0x20_0000 + i * 0x40).toString(16)}`,
              commitTs: new Date().toISOString(),
              index: 0,
            },
            op: 'c',
            key: { product_id: `${run}-p${i}` },
            before: null,
            after: { product_id: `${run}-p${i}`, price: '1.00', ...after },
          },
          { shardId: 'synthetic', sequenceNumber: String(8_000_000 + i) },
        ),
      ),
      redactionKeyOf(config),
    );
    const result = await createActivities(config).applyEvents([bad!, good!]);
    assert.equal(result.applied, 1);
    assert.deepEqual(
      result.rejected.map((r) => [r.sequenceNumber, r.category]),
      [['8000000', 'poison']],
    );
  });

  it('runs the BI queries of docs/analytics.md', async () => {
    const doc = readFileSync(join(__dirname, '../../docs/analytics.md'), 'utf8');
    const queries = [...doc.matchAll(/```sql\n-- query: ([\w-]+)\n([\s\S]*?)```/g)].map(([, name, sql]) => ({
      name: name!,
      sql: sql!,
    }));
    assert.deepEqual(
      queries.map((q) => q.name),
      [
        'stock-movements-hourly',
        'top-movers-last-hour',
        'reservation-outcomes-today',
        'orders-revenue-5m',
        'low-stock-alerts-today',
        'recent-inventory-changes',
        'freshness',
      ],
    );
    const results: Record<string, Record<string, unknown>[]> = {};
    for (const q of queries) results[q.name] = (await db.query(q.sql)).rows;
    const movers = results['top-movers-last-hour']!;
    const a1 = movers.find((r) => r.sku === SKU.a && r.warehouse_id === '1');
    assert.deepEqual(
      a1 && [Number(a1.changes), Number(a1.net_on_hand)],
      [5, 5],
      'A#1: inserted with 100, 5 left',
    );
    const outcomes = results['reservation-outcomes-today']!.find((r) => r.sku === SKU.r);
    assert.deepEqual(
      outcomes &&
        [outcomes.taken, outcomes.confirmed, outcomes.cancelled, outcomes.expired, outcomes.expiry_rate].map(
          Number,
        ),
      [6, 2, 1, 2, 0.333],
    );
    assert.ok(results['orders-revenue-5m']!.length > 0);
    assert.equal(
      results['low-stock-alerts-today']!.filter((r) => String(r.sku).startsWith(run)).reduce(
        (s, r) => s + Number(r.alerts),
        0,
      ),
      crossings,
    );
    assert.ok(results['freshness']!.some((r) => r.table_name === 'inventory'));
  });
});
