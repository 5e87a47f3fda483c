import assert from 'node:assert/strict';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Pool } from 'pg';
import { signalHold } from '../../activities/reservations';
import { awsClients } from '../../infra/aws';
import { startBackfill } from '../../infra/backfillClient';
import { eventRouting } from '../../infra/provisioning';
import {
  cancelReservation,
  confirmReservation,
  extendReservation,
  getReservation,
  releaseDeletedHold,
  reserve,
  type Reservation,
} from '../../infra/reservationStore';
import { inventoryKey } from '../../domain/core/itemKeys';
import { reservationExpiryWorkflowId } from '../../workflows/names';
import { reservationStatusQuery, type ReservationExpiryStatus } from '../../workflows/reservationExpiry';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';
import { awaitHolds, takeHolds } from '../support/holdLoad';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Holds expire through the whole product: a reservation taken in PostgreSQL reaches its
 * reservation-expiry workflow through capture → Kinesis → shard reader (signal-with-start), the
 * workflow's durable timer fires at the deadline, the release flows back through the pipeline to
 * DynamoDB (`available` restored) and EventBridge (`reservation.expired`). The worker is a process
 * of its own, so a test can SIGKILL it with timers pending.
 */
describe('reservation expiry through the local stack', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let pool: Pool;
  const run = Date.now().toString(36);
  let skus = 0;

  /** A hold taken before the pipeline existed: the stream never carries it, a backfill finds it. */
  let orphan: Reservation;
  let orphanSku: string;

  before(async function () {
    this.timeout(240_000);
    await stackUp();
    applyLocalStackEnv();
    pool = new Pool({ max: 10 });
    orphanSku = await stock(5);
    orphan = await hold(orphanSku, 2, 40);
    p = await startTestPipeline({}, { workerProcess: true, reservationExpiry: true });
    // Warm up: the first change travels only once capture and the shard readers are running.
    const sku = await stock(1);
    await waitFor(
      'the pipeline to deliver a first change',
      async () => ((await view(sku)) ? true : undefined),
      {
        timeoutMs: 60_000,
      },
    );
  });
  after(async () => {
    await pool?.end();
    await p?.stop();
  });

  /** A fresh SKU with `onHand` units in warehouse 1. */
  async function stock(onHand: number): Promise<string> {
    const sku = `hold-${run}-${++skus}`;
    await pool.query('INSERT INTO inventory (sku, warehouse_id, on_hand, reserved) VALUES ($1, 1, $2, 0)', [
      sku,
      onHand,
    ]);
    return sku;
  }
  const inventory = async (sku: string) =>
    (
      await pool.query<{ on_hand: number; reserved: number }>(
        'SELECT on_hand, reserved FROM inventory WHERE sku = $1 AND warehouse_id = 1',
        [sku],
      )
    ).rows[0]!;
  const view = async (sku: string) =>
    (
      await awsClients().doc.send(
        new GetCommand({
          TableName: p.config.tables.inventory,
          Key: { pk: inventoryKey(sku, 1) },
          ConsistentRead: true,
        }),
      )
    ).Item;
  async function hold(sku: string, quantity: number, ttlSeconds: number): Promise<Reservation> {
    const r = await reserve(pool, { sku, warehouseId: 1, quantity, ttlSeconds });
    assert.ok(r.ok, `reserve: ${JSON.stringify(r)}`);
    return r.reservation;
  }
  const expiry = (id: string) => p.client.workflow.getHandle(reservationExpiryWorkflowId(id));
  /** The expiry workflow's status once it exists (the change stream started it). */
  const expiryStatus = (id: string, timeoutMs = 30_000) =>
    waitFor(`the expiry workflow of ${id}`, () => expiry(id).query(reservationStatusQuery), { timeoutMs });
  const ended = (id: string, timeoutMs = 60_000): Promise<ReservationExpiryStatus> =>
    waitFor(
      `the expiry workflow of ${id} to end`,
      async () => {
        const d = await expiry(id).describe();
        return d.status.name === 'COMPLETED'
          ? ((await expiry(id).result()) as ReservationExpiryStatus)
          : undefined;
      },
      { timeoutMs, intervalMs: 500 },
    );
  const rowOf = async (id: string) => (await getReservation(pool, id))!;

  it('expires a short hold: row EXPIRED, units back, DynamoDB available restored, reservation.expired published', async () => {
    const sku = await stock(10);
    const r = await hold(sku, 3, 8);
    const pending = await expiryStatus(r.reservationId);
    assert.equal(pending.state, 'HELD');
    assert.equal(pending.expiresAt, r.expiresAt);
    assert.deepEqual([pending.sku, pending.warehouseId, pending.quantity], [sku, 1, 3]);
    await waitFor('DynamoDB to show the hold', async () =>
      (await view(sku))?.available === 7 ? true : undefined,
    );

    const done = await ended(r.reservationId);
    assert.equal(done.state, 'EXPIRED');
    const row = await rowOf(r.reservationId);
    assert.equal(row.status, 'EXPIRED');
    assert.ok(Date.parse(row.updatedAt) >= Date.parse(r.expiresAt), 'not released before the deadline');
    assert.deepEqual(await inventory(sku), { on_hand: 10, reserved: 0 });
    await waitFor('DynamoDB available back to 10', async () =>
      (await view(sku))?.available === 10 ? true : undefined,
    );
    const event = await probes(p).receiveUntil(
      eventRouting(p.config.eventBus).queues.inventory,
      (b) =>
        b['detail-type'] === 'reservation.expired' &&
        JSON.stringify((b.detail as Record<string, unknown>).entityId ?? '').includes(r.reservationId),
      60_000,
    );
    const detail = event.detail as { after?: { status?: string } | null; data?: unknown };
    assert.ok(JSON.stringify(detail).includes('EXPIRED'));

    // The HELD change replayed (a backfill replay, a redelivered batch): no second workflow run.
    const runId = (await expiry(r.reservationId).describe()).runId;
    const replayed = await signalHold(p.client, p.config.taskQueue, {
      reservationId: r.reservationId,
      status: 'HELD',
      sku,
      warehouseId: 1,
      quantity: 3,
      expiresAt: r.expiresAt,
      version: '0000000000000001.0000000000',
    });
    assert.equal(replayed, 'ignored');
    const after = await expiry(r.reservationId).describe();
    assert.deepEqual([after.runId, after.status.name], [runId, 'COMPLETED']);
  });

  it('a hold the stream never carried gets its expiry workflow from a snapshot backfill', async () => {
    const handle = await startBackfill(p.client, p.config, {
      id: `holds-${run}`,
      tables: ['reservations'],
      mode: 'snapshot',
      filter: { equals: { sku: orphanSku } },
    });
    await handle.result();
    const s = await expiryStatus(orphan.reservationId);
    assert.deepEqual([s.state, s.expiresAt, s.quantity], ['HELD', orphan.expiresAt, 2]);
  });

  it('a hold confirmed before its deadline is never released', async () => {
    const sku = await stock(10);
    const r = await hold(sku, 2, 5);
    // A marker: a hold on the same row, due after it. Once the marker has expired, expiry has run
    // past the confirmed hold's deadline.
    const marker = await hold(sku, 1, 5);
    assert.ok(Date.parse(marker.expiresAt) >= Date.parse(r.expiresAt));
    await expiryStatus(r.reservationId);
    assert.equal((await confirmReservation(pool, r.reservationId)).outcome, 'confirmed');
    const done = await ended(r.reservationId);
    assert.equal(done.state, 'CONFIRMED');
    assert.equal((await ended(marker.reservationId)).state, 'EXPIRED', 'the marker expired');
    assert.equal((await rowOf(r.reservationId)).status, 'CONFIRMED');
    assert.deepEqual(await inventory(sku), { on_hand: 8, reserved: 0 });
  });

  it('an extended hold is released at the new deadline only', async () => {
    const sku = await stock(10);
    const r = await hold(sku, 4, 4);
    // A marker due after the old deadline: once it has expired, the old deadline has passed through expiry.
    const marker = await hold(sku, 1, 4);
    assert.ok(Date.parse(marker.expiresAt) >= Date.parse(r.expiresAt));
    await expiryStatus(r.reservationId);
    const ext = await extendReservation(pool, r.reservationId, { ttlSeconds: 12 });
    assert.equal(ext.outcome, 'extended');
    const newDeadline = ext.outcome === 'extended' ? Date.parse(ext.reservation.expiresAt) : 0;
    await waitFor('the workflow to move its timer', async () => {
      const s = await expiry(r.reservationId).query(reservationStatusQuery);
      return Date.parse(s.expiresAt ?? '') === newDeadline ? s : undefined;
    });
    assert.equal((await ended(marker.reservationId)).state, 'EXPIRED', 'the marker expired');
    assert.equal((await rowOf(r.reservationId)).status, 'HELD', 'still held after the old deadline');
    assert.equal((await inventory(sku)).reserved, 4);
    const done = await ended(r.reservationId);
    assert.equal(done.state, 'EXPIRED');
    const row = await rowOf(r.reservationId);
    assert.ok(Date.parse(row.updatedAt) >= newDeadline, 'released at the new deadline');
    assert.deepEqual(await inventory(sku), { on_hand: 10, reserved: 0 });
  });

  it('a cancelled hold is released once', async () => {
    const sku = await stock(10);
    const keep = await hold(sku, 1, 3600); // a hold that stays: a second release would eat into it
    const r = await hold(sku, 5, 30);
    await expiryStatus(r.reservationId);
    assert.equal((await cancelReservation(pool, r.reservationId)).outcome, 'released');
    assert.equal((await cancelReservation(pool, r.reservationId)).outcome, 'not-held');
    const done = await ended(r.reservationId);
    assert.equal(done.state, 'CANCELLED');
    assert.deepEqual(await inventory(sku), { on_hand: 10, reserved: 1 });
    await waitFor('DynamoDB available 9', async () =>
      (await view(sku))?.available === 9 ? true : undefined,
    );
    assert.equal((await rowOf(keep.reservationId)).status, 'HELD');
  });

  it('a HELD reservation deleted directly gets its units back once, even when the release runs twice', async () => {
    const sku = await stock(10);
    const keep = await hold(sku, 1, 3600); // a hold that stays: a second release would eat into it
    const before = await inventory(sku);
    const r = await hold(sku, 4, 3600);
    await expiryStatus(r.reservationId);
    assert.deepEqual(await inventory(sku), { on_hand: 10, reserved: 5 });
    // Not a cancel: the row is simply gone.
    await pool.query('DELETE FROM reservations WHERE reservation_id = $1', [r.reservationId]);
    const done = await ended(r.reservationId);
    assert.equal(done.state, 'GONE');
    assert.match(done.notes.join('\n'), /deleted while held: 4 units back/);
    assert.deepEqual(await inventory(sku), before, 'reserved back to what it was before the hold');
    // The release again (an activity retried, the delete heard twice): nothing more comes back.
    const owed = { reservationId: r.reservationId, sku, warehouseId: 1, quantity: 4 };
    for (let i = 0; i < 2; i++)
      assert.equal((await releaseDeletedHold(pool, owed)).outcome, 'already-released');
    const replayed = await signalHold(p.client, p.config.taskQueue, {
      ...owed,
      status: 'DELETED',
      statusBeforeDelete: 'HELD',
      expiresAt: r.expiresAt,
      version: 'ffffffffffffffff.0000000000',
    });
    assert.equal(replayed, 'ignored', 'the ended workflow is not started again');
    assert.deepEqual(await inventory(sku), before);
    assert.equal((await rowOf(keep.reservationId)).status, 'HELD');
    await waitFor('DynamoDB available back to 9', async () =>
      (await view(sku))?.available === 9 ? true : undefined,
    );
  });

  it('a hold taken and deleted in one transaction (its expiry workflow never started) gets its units back', async () => {
    const sku = await stock(10);
    const keep = await hold(sku, 1, 3600);
    const before = await inventory(sku);
    const c = await pool.connect();
    let id: string;
    try {
      await c.query('BEGIN');
      const r = await reserve(c, { sku, warehouseId: 1, quantity: 3, ttlSeconds: 3600 });
      assert.ok(r.ok);
      id = r.reservation.reservationId;
      await c.query('DELETE FROM reservations WHERE reservation_id = $1', [id]);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    assert.deepEqual(await inventory(sku), { on_hand: 10, reserved: 4 }, 'the DELETE left 3 units reserved');
    // The batch's newest change of the hold is its delete (before image HELD): it starts the workflow.
    const done = await ended(id);
    assert.equal(done.state, 'GONE');
    assert.deepEqual(await inventory(sku), before);
    assert.equal((await rowOf(keep.reservationId)).status, 'HELD');
  });

  // 1,000 holds locally (`CDC_TEST_HOLDS` to change it); CI takes 300 to stay short, and
  // `npm run bench:holds` measures 1,000 with their cost.
  const HOLDS = Number(process.env.CDC_TEST_HOLDS ?? (process.env.CI ? 300 : 1000));
  it(`${HOLDS} holds with random deadlines in a 10 s window all expire once; lateness reported`, async function () {
    const load = await takeHolds(pool, {
      holds: HOLDS,
      minTtlSeconds: 5,
      maxTtlSeconds: 15,
      tag: `${run}-many`,
    });
    const out = await awaitHolds(pool, load, load.lastDeadline - Date.now() + 180_000);
    console.log(
      `      ${HOLDS} holds: ${JSON.stringify(out.byStatus)}; release lateness after the deadline ms: ` +
        `p50 ${out.lateness.p50}, p99 ${out.lateness.p99}, max ${out.lateness.max} (min ${out.lateness.min})`,
    );
    assert.deepEqual(out.byStatus, { EXPIRED: HOLDS });
    assert.equal(out.reserved, 0, 'every unit back, none twice');
    assert.ok(out.lateness.min >= 0, 'none released before its deadline');
  });

  it('every hold still expires, none twice, when the worker is SIGKILLed with timers pending', async () => {
    const sku = await stock(100);
    const keep = await hold(sku, 7, 3600);
    const holds = await Promise.all(Array.from({ length: 20 }, (_, i) => hold(sku, 1, 6 + (i % 6))));
    await Promise.all(holds.map((h) => expiryStatus(h.reservationId, 60_000)));
    // The server told at once that the worker is gone (not after its sticky-queue timeout): the
    // timers that fire next go to the new worker, which has none of the workflows in its cache.
    await p.killWorker({ noticeNow: true });
    const states = await Promise.all(holds.map((h) => ended(h.reservationId, 120_000)));
    assert.deepEqual(new Set(states.map((s) => s.state)), new Set(['EXPIRED']));
    for (const h of holds) assert.equal((await rowOf(h.reservationId)).status, 'EXPIRED');
    // Exactly the 20 units came back: a double release would have taken the kept hold's too.
    assert.deepEqual(await inventory(sku), { on_hand: 100, reserved: 7 });
    assert.equal((await rowOf(keep.reservationId)).status, 'HELD');
    assert.equal((await expiry(keep.reservationId).describe()).status.name, 'RUNNING');
  });
});
