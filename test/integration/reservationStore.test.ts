import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import {
  cancelReservation,
  confirmReservation,
  expireReservation,
  extendReservation,
  getReservation,
  listReservations,
  releaseDeletedHold,
  reserve,
  type ReserveResult,
} from '../../infra/reservationStore';
import { applyLocalStackEnv, ROOT, stackUp } from '../../infra/localStack/localStack';
import { installTestRuntime } from '../support/testRuntime';
import { waitFor } from '../support/waitFor';

/**
 * The reservation store against the local PostgreSQL, in a scratch schema of its own (the shipped
 * schema.sql; no pipeline captures it, and nobody else's rows are in the way): concurrent
 * reservations for the last units, releases and confirmations racing, every refusal explained.
 */
describe('reservation store on PostgreSQL', function () {
  this.timeout(120_000);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const schema = `cdc_resv_${run}`;
  let admin: Client;
  let pool: Pool;
  let n = 0;
  /** A SKU no other test (or run) uses. */
  const newSku = (what: string) => `${what}-${run}-${++n}`;

  before(async function () {
    this.timeout(240_000);
    installTestRuntime();
    await stackUp();
    applyLocalStackEnv();
    await ensureDatabase();
    admin = new Client();
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`SET search_path TO ${schema}`);
    await admin.query(readFileSync(join(ROOT, 'infra/schema.sql'), 'utf8'));
    // Every pooled connection works in the scratch schema.
    pool = new Pool({ max: 20, options: `-c search_path=${schema}` });
  });

  after(async () => {
    await pool?.end();
    if (!admin) return;
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  const stockOf = async (sku: string, warehouseId = 1) => {
    const r = await admin.query<{ on_hand: number; reserved: number }>(
      'SELECT on_hand, reserved FROM inventory WHERE sku = $1 AND warehouse_id = $2',
      [sku, warehouseId],
    );
    const row = r.rows[0];
    return { onHand: row.on_hand, reserved: row.reserved, available: row.on_hand - row.reserved };
  };
  const stock = (sku: string, onHand: number, warehouseId = 1) =>
    admin.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, $2, $3)', [
      sku,
      warehouseId,
      onHand,
    ]);
  /** Moves a hold's deadline by hand (so tests need not wait for it). */
  const setDeadline = (id: string, sql: string) =>
    admin.query(`UPDATE reservations SET expires_at = ${sql} WHERE reservation_id = $1`, [id]);
  const hold = async (sku: string, quantity = 1, ttlSeconds = 60, reservationId?: string) => {
    const r = await reserve(pool, { sku, warehouseId: 1, quantity, ttlSeconds, reservationId });
    assert.ok(r.ok, `reserve ${sku}: ${JSON.stringify(r)}`);
    return r.reservation;
  };

  /** Samples on_hand − reserved and reserved while `work` runs (its own connection). */
  async function sampled<T>(sku: string, work: () => Promise<T>) {
    const probe = new Client({ options: `-c search_path=${schema}` });
    await probe.connect();
    const seen = { samples: 0, minAvailable: Infinity, maxReserved: -Infinity };
    let done = false;
    const sampler = (async () => {
      while (!done) {
        const r = await probe.query<{ available: number; reserved: number }>(
          'SELECT on_hand - reserved AS available, reserved FROM inventory WHERE sku = $1',
          [sku],
        );
        seen.samples++;
        seen.minAvailable = Math.min(seen.minAvailable, r.rows[0].available);
        seen.maxReserved = Math.max(seen.maxReserved, r.rows[0].reserved);
      }
    })();
    try {
      return { result: await work(), seen };
    } finally {
      done = true;
      await sampler;
      await probe.end();
    }
  }

  it('flash sale: 200 concurrent reservations of 1 unit for 50 units → exactly 50 holds, never oversold', async () => {
    const sku = newSku('flash');
    await stock(sku, 50);
    const started = Date.now();
    const { result, seen } = await sampled(sku, () =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          reserve(pool, { sku, warehouseId: 1, quantity: 1, ttlSeconds: 600 }),
        ),
      ),
    );
    const ok = result.filter((r): r is Extract<ReserveResult, { ok: true }> => r.ok);
    const refused = result.filter((r) => !r.ok);
    assert.equal(ok.length, 50);
    assert.equal(refused.length, 150);
    for (const r of refused)
      assert.deepEqual(r, { ok: false, reason: 'insufficient-stock', available: 0, requested: 1 });
    // Each winner saw its own after-state: the available counts 49, 48, … 0, once each.
    assert.deepEqual(
      ok.map((r) => r.available).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(await stockOf(sku), { onHand: 50, reserved: 50, available: 0 });
    const held = await admin.query(
      "SELECT count(*)::int AS n FROM reservations WHERE sku = $1 AND status = 'HELD'",
      [sku],
    );
    assert.equal(held.rows[0].n, 50);
    assert.ok(seen.samples > 0);
    assert.ok(seen.minAvailable >= 0, `available went to ${seen.minAvailable}`);
    assert.ok(seen.maxReserved <= 50, `reserved went to ${seen.maxReserved}`);
    console.log(
      `      flash sale: 50 ok, 150 insufficient-stock in ${Date.now() - started} ms; ` +
        `${seen.samples} samples, min available ${seen.minAvailable}, max reserved ${seen.maxReserved}`,
    );
  });

  it('mixed quantities racing for the last units never take more than on hand', async () => {
    const sku = newSku('mixed');
    await stock(sku, 37);
    const quantities = Array.from({ length: 120 }, (_, i) => 1 + ((i * 7) % 5));
    const { result, seen } = await sampled(sku, () =>
      Promise.all(
        quantities.map((quantity) => reserve(pool, { sku, warehouseId: 1, quantity, ttlSeconds: 600 })),
      ),
    );
    let taken = 0;
    let smallestRefused = Infinity;
    for (const [i, r] of result.entries()) {
      if (r.ok) taken += quantities[i];
      else {
        assert.equal(r.reason, 'insufficient-stock');
        if (r.reason !== 'insufficient-stock') continue;
        assert.equal(r.requested, quantities[i]);
        assert.ok(r.available < r.requested, JSON.stringify(r));
        smallestRefused = Math.min(smallestRefused, r.requested);
      }
    }
    const after = await stockOf(sku);
    assert.ok(taken <= 37);
    assert.deepEqual(after, { onHand: 37, reserved: taken, available: 37 - taken });
    // Available only fell: whatever was refused did not fit at the end either.
    assert.ok(
      after.available < smallestRefused,
      `${after.available} left, smallest refused ${smallestRefused}`,
    );
    const sum = await admin.query(
      "SELECT coalesce(sum(quantity), 0)::int AS q FROM reservations WHERE sku = $1 AND status = 'HELD'",
      [sku],
    );
    assert.equal(sum.rows[0].q, taken);
    assert.ok(seen.minAvailable >= 0 && seen.maxReserved <= 37);
  });

  it('expire: not due before the deadline, released after it (units back), then not-held', async () => {
    const sku = newSku('expire');
    await stock(sku, 10);
    const r = await hold(sku, 3, 1);
    assert.match(r.expiresAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Stored to the millisecond: the ISO string is the exact deadline a timer waits for.
    const exact = await admin.query(
      "SELECT expires_at = date_trunc('milliseconds', expires_at) AS ms FROM reservations WHERE reservation_id = $1",
      [r.reservationId],
    );
    assert.equal(exact.rows[0].ms, true);
    const early = await expireReservation(pool, r.reservationId);
    assert.equal(early.outcome, 'not-due');
    assert.deepEqual(await stockOf(sku), { onHand: 10, reserved: 3, available: 7 });

    // Asked again until PostgreSQL finds it due: not-due until then, released once.
    const released = await waitFor(
      'the hold to be due',
      async () => {
        const x = await expireReservation(pool, r.reservationId);
        return x.outcome === 'not-due' ? undefined : x;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.equal(released.outcome, 'released');
    assert.ok(Date.now() >= Date.parse(r.expiresAt), 'not released before its deadline');
    if (released.outcome !== 'released') return;
    assert.equal(released.reservation.status, 'EXPIRED');
    assert.equal(released.reservation.expiresAt, r.expiresAt);
    assert.deepEqual(await stockOf(sku), { onHand: 10, reserved: 0, available: 10 });

    const again = await expireReservation(pool, r.reservationId);
    assert.equal(again.outcome, 'not-held');
    assert.deepEqual(
      await stockOf(sku),
      { onHand: 10, reserved: 0, available: 10 },
      'a second release returns nothing',
    );
    assert.deepEqual(await expireReservation(pool, 'no-such-reservation'), { outcome: 'missing' });
  });

  it('expire and confirm racing on the same hold: exactly one takes effect', async () => {
    const sku = newSku('race');
    const holds = 30;
    await stock(sku, holds);
    const ids: { id: string; due: 'past' | 'future' | 'edge' }[] = [];
    for (let i = 0; i < holds; i++) {
      const r = await hold(sku, 1, 60);
      const due = (['past', 'future', 'edge'] as const)[i % 3];
      if (due === 'past') await setDeadline(r.reservationId, "clock_timestamp() - interval '1 second'");
      // On the edge: the deadline passes while the statements run.
      if (due === 'edge')
        await setDeadline(r.reservationId, "clock_timestamp() + interval '15 milliseconds'");
      ids.push({ id: r.reservationId, due });
    }
    const outcomes = await Promise.all(
      ids.map(async ({ id, due }) => {
        const [e1, c1, e2, c2] = await Promise.all([
          expireReservation(pool, id),
          confirmReservation(pool, id),
          expireReservation(pool, id),
          confirmReservation(pool, id),
        ]);
        return { id, due, expired: [e1, e2], confirmed: [c1, c2] };
      }),
    );
    let confirmed = 0;
    for (const o of outcomes) {
      const releases = o.expired.filter((x) => x.outcome === 'released').length;
      const confirms = o.confirmed.filter((x) => x.outcome === 'confirmed').length;
      assert.ok(releases + confirms <= 1, `${o.id} (${o.due}): ${JSON.stringify(o)}`);
      if (o.due === 'past') assert.equal(releases, 1, `${o.id}: a due hold is released, never confirmed`);
      if (o.due === 'future')
        assert.equal(confirms, 1, `${o.id}: a hold not due is confirmed, never expired`);
      // Neither (expire just before the deadline, confirm just after): still HELD and due, and the
      // next expire releases it.
      if (releases + confirms === 0)
        assert.equal((await expireReservation(pool, o.id)).outcome, 'released', o.id);
      confirmed += confirms;
    }
    const after = await stockOf(sku);
    assert.deepEqual(after, { onHand: holds - confirmed, reserved: 0, available: holds - confirmed });
    const statuses = await admin.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM reservations WHERE sku = $1 GROUP BY status ORDER BY status',
      [sku],
    );
    assert.deepEqual(
      statuses.rows.map((r) => [r.status, r.n]),
      [
        ['CONFIRMED', confirmed],
        ['EXPIRED', holds - confirmed],
      ],
    );
  });

  it('cancel and confirm racing: exactly one wins, the inventory says which', async () => {
    const sku = newSku('cancel-race');
    await stock(sku, 20);
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await hold(sku, 1, 60)).reservationId);
    const results = await Promise.all(
      ids.map((id) => Promise.all([cancelReservation(pool, id), confirmReservation(pool, id)])),
    );
    let confirmed = 0;
    for (const [cancel, confirm] of results) {
      const effects = Number(cancel.outcome === 'released') + Number(confirm.outcome === 'confirmed');
      assert.equal(effects, 1, JSON.stringify([cancel, confirm]));
      if (confirm.outcome === 'confirmed') {
        confirmed++;
        assert.equal(cancel.outcome, 'not-held');
      } else assert.equal(confirm.outcome, 'not-held');
    }
    assert.deepEqual(await stockOf(sku), { onHand: 20 - confirmed, reserved: 0, available: 20 - confirmed });
  });

  it('cancel twice: released once, then not-held', async () => {
    const sku = newSku('cancel');
    await stock(sku, 5);
    const r = await hold(sku, 2);
    const first = await cancelReservation(pool, r.reservationId);
    assert.equal(first.outcome, 'released');
    if (first.outcome === 'released') assert.equal(first.reservation.status, 'CANCELLED');
    const second = await cancelReservation(pool, r.reservationId);
    assert.equal(second.outcome, 'not-held');
    if (second.outcome === 'not-held') assert.equal(second.reservation.status, 'CANCELLED');
    assert.deepEqual(await stockOf(sku), { onHand: 5, reserved: 0, available: 5 });
    assert.deepEqual(await cancelReservation(pool, 'no-such-reservation'), { outcome: 'missing' });
  });

  it('confirm: the units leave (on_hand and reserved drop), available stays; twice → not-held', async () => {
    const sku = newSku('confirm');
    await stock(sku, 10);
    const r = await hold(sku, 4);
    assert.deepEqual(await stockOf(sku), { onHand: 10, reserved: 4, available: 6 });
    const c = await confirmReservation(pool, r.reservationId);
    assert.equal(c.outcome, 'confirmed');
    if (c.outcome === 'confirmed') assert.equal(c.reservation.status, 'CONFIRMED');
    assert.deepEqual(await stockOf(sku), { onHand: 6, reserved: 0, available: 6 });
    assert.equal((await confirmReservation(pool, r.reservationId)).outcome, 'not-held');
    assert.equal((await cancelReservation(pool, r.reservationId)).outcome, 'not-held');
    assert.equal((await expireReservation(pool, r.reservationId)).outcome, 'not-held');
    assert.deepEqual(await stockOf(sku), { onHand: 6, reserved: 0, available: 6 });
    assert.deepEqual(await confirmReservation(pool, 'no-such-reservation'), { outcome: 'missing' });
  });

  it('confirm after the deadline: expired (before and after the release), nothing changes', async () => {
    const sku = newSku('late');
    await stock(sku, 3);
    const r = await hold(sku, 1);
    await setDeadline(r.reservationId, "clock_timestamp() - interval '1 second'");
    const late = await confirmReservation(pool, r.reservationId);
    assert.equal(late.outcome, 'expired');
    if (late.outcome === 'expired') assert.equal(late.reservation.status, 'HELD', 'due, not yet released');
    assert.deepEqual(await stockOf(sku), { onHand: 3, reserved: 1, available: 2 });
    assert.equal((await expireReservation(pool, r.reservationId)).outcome, 'released');
    const after = await confirmReservation(pool, r.reservationId);
    assert.equal(after.outcome, 'expired');
    if (after.outcome === 'expired') assert.equal(after.reservation.status, 'EXPIRED');
    assert.deepEqual(await stockOf(sku), { onHand: 3, reserved: 0, available: 3 });
  });

  it('extend moves the deadline of a live hold; an expired or confirmed one cannot be extended', async () => {
    const sku = newSku('extend');
    await stock(sku, 5);
    const r = await hold(sku, 1, 60);
    const byTtl = await extendReservation(pool, r.reservationId, { ttlSeconds: 600 });
    assert.equal(byTtl.outcome, 'extended');
    if (byTtl.outcome !== 'extended') return;
    const moved = Date.parse(byTtl.reservation.expiresAt) - Date.parse(r.expiresAt);
    assert.ok(moved > 530_000 && moved < 560_000, `moved by ${moved} ms`);
    assert.equal(byTtl.reservation.status, 'HELD');

    const until = new Date(Date.now() + 3_600_000).toISOString();
    const byTime = await extendReservation(pool, r.reservationId, { expiresAt: until });
    assert.equal(byTime.outcome, 'extended');
    assert.equal((await getReservation(pool, r.reservationId))?.expiresAt, until);
    // An extended hold is not due.
    assert.equal((await expireReservation(pool, r.reservationId)).outcome, 'not-due');

    await setDeadline(r.reservationId, "clock_timestamp() - interval '1 second'");
    assert.equal((await extendReservation(pool, r.reservationId, { ttlSeconds: 600 })).outcome, 'expired');
    assert.equal((await expireReservation(pool, r.reservationId)).outcome, 'released');
    assert.equal((await extendReservation(pool, r.reservationId, { ttlSeconds: 600 })).outcome, 'expired');

    const c = await hold(sku, 1, 60);
    await confirmReservation(pool, c.reservationId);
    assert.equal((await extendReservation(pool, c.reservationId, { ttlSeconds: 600 })).outcome, 'not-held');
    assert.deepEqual(await extendReservation(pool, 'no-such-reservation', { ttlSeconds: 60 }), {
      outcome: 'missing',
    });
    assert.deepEqual(await stockOf(sku), { onHand: 4, reserved: 0, available: 4 });
  });

  it('a duplicate id reports the existing reservation (even once the stock is gone) and takes nothing', async () => {
    const sku = newSku('dup');
    await stock(sku, 2);
    const id = `dup-${run}`;
    const first = await hold(sku, 2, 60, id);
    assert.equal(first.reservationId, id);
    const again = await reserve(pool, {
      reservationId: id,
      sku,
      warehouseId: 1,
      quantity: 2,
      ttlSeconds: 60,
    });
    assert.deepEqual(again, { ok: false, reason: 'duplicate-id', reservation: first });
    await admin.query('UPDATE inventory SET on_hand = 10 WHERE sku = $1', [sku]);
    // Stock to spare: the insert's unique violation rolls back the inventory update too.
    const retry = await reserve(pool, {
      reservationId: id,
      sku,
      warehouseId: 1,
      quantity: 1,
      ttlSeconds: 60,
    });
    assert.equal(retry.ok ? 'ok' : retry.reason, 'duplicate-id');
    assert.deepEqual(await stockOf(sku), { onHand: 10, reserved: 2, available: 8 });
  });

  it('an unknown SKU or warehouse, and an order id kept with the hold', async () => {
    const sku = newSku('known');
    await stock(sku, 1, 7);
    assert.deepEqual(
      await reserve(pool, { sku: newSku('ghost'), warehouseId: 1, quantity: 1, ttlSeconds: 60 }),
      {
        ok: false,
        reason: 'unknown-sku',
      },
    );
    assert.deepEqual(await reserve(pool, { sku, warehouseId: 8, quantity: 1, ttlSeconds: 60 }), {
      ok: false,
      reason: 'unknown-sku',
    });
    const r = await reserve(pool, { sku, warehouseId: 7, quantity: 1, ttlSeconds: 60, orderId: 'order-1' });
    assert.ok(r.ok);
    assert.match(r.reservation.reservationId, /^res-[0-9a-z]+-[0-9a-f]{12}$/);
    assert.deepEqual(
      { ...r.reservation, reservationId: '', expiresAt: '', createdAt: '', updatedAt: '' },
      {
        reservationId: '',
        sku,
        warehouseId: 7,
        orderId: 'order-1',
        quantity: 1,
        status: 'HELD',
        expiresAt: '',
        createdAt: '',
        updatedAt: '',
      },
    );
    assert.equal(r.available, 0);
    const ttl = Date.parse(r.reservation.expiresAt) - Date.parse(r.reservation.createdAt);
    assert.ok(ttl > 59_000 && ttl <= 60_000, `ttl ${ttl} ms`);
    assert.deepEqual(await getReservation(pool, r.reservation.reservationId), r.reservation);
    assert.equal(await getReservation(pool, 'no-such-reservation'), undefined);
  });

  it('lists by status, SKU, warehouse and deadline, the nearest deadline first', async () => {
    const sku = newSku('list');
    await stock(sku, 10);
    const late = await hold(sku, 1, 3600);
    const soon = await hold(sku, 1, 60);
    const gone = await hold(sku, 1, 120);
    await cancelReservation(pool, gone.reservationId);
    const ids = (rs: { reservationId: string }[]) => rs.map((r) => r.reservationId);
    assert.deepEqual(ids(await listReservations(pool, { sku, status: 'HELD', limit: 10 })), [
      soon.reservationId,
      late.reservationId,
    ]);
    assert.deepEqual(ids(await listReservations(pool, { sku, limit: 10 })), [
      soon.reservationId,
      gone.reservationId,
      late.reservationId,
    ]);
    assert.deepEqual(
      ids(await listReservations(pool, { sku, status: 'HELD', expiringWithinSeconds: 300, limit: 10 })),
      [soon.reservationId],
    );
    assert.deepEqual(ids(await listReservations(pool, { sku, status: 'CANCELLED', limit: 10 })), [
      gone.reservationId,
    ]);
    assert.deepEqual(await listReservations(pool, { sku, warehouseId: 2, limit: 10 }), []);
    assert.deepEqual(ids(await listReservations(pool, { sku, limit: 1 })), [soon.reservationId]);
  });

  it('a hold deleted by hand gets its units back once: retried, concurrent, or while the row exists', async () => {
    const sku = newSku('deleted');
    await stock(sku, 10);
    const keep = await hold(sku, 2, 3600); // a second release would eat into this one's units
    const r = await hold(sku, 3, 3600);
    const owed = { reservationId: r.reservationId, sku, warehouseId: 1, quantity: 3 };
    // While the row exists nothing happens: its own release (cancel, expire) returns the units.
    assert.deepEqual(await releaseDeletedHold(pool, owed), { outcome: 'exists' });
    assert.equal((await stockOf(sku)).reserved, 5);

    await admin.query('DELETE FROM reservations WHERE reservation_id = $1', [r.reservationId]);
    assert.equal((await stockOf(sku)).reserved, 5, 'a plain DELETE leaves the units reserved');
    // Eight at once (an activity retried while the first still runs, the delete heard twice).
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => releaseDeletedHold(pool, owed)));
    assert.deepEqual(
      outcomes.map((o) => o.outcome).sort(),
      ['already-released', ...Array<string>(6).fill('already-released'), 'released'].sort(),
    );
    const again = await releaseDeletedHold(pool, owed);
    assert.equal(again.outcome, 'already-released');
    const first = outcomes.find((o) => o.outcome === 'released')!;
    assert.deepEqual(first, {
      outcome: 'released',
      releasedAt: again.outcome === 'already-released' ? again.releasedAt : '',
      inventoryRow: true,
    });
    assert.deepEqual(await stockOf(sku), { onHand: 10, reserved: 2, available: 8 });
    assert.equal((await getReservation(pool, keep.reservationId))?.status, 'HELD');
  });

  /** The database may not exist yet on a fresh stack (provisioning creates it). */
  async function ensureDatabase(): Promise<void> {
    const c = new Client({ database: 'postgres' });
    await c.connect();
    try {
      const db = process.env.PGDATABASE!;
      if (!(await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount)
        await c.query(`CREATE DATABASE "${db}"`).catch(() => undefined);
    } finally {
      await c.end();
    }
  }
});
