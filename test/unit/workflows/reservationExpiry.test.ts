import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../../activities';
import type { HoldChange } from '../../../domain/reservations/hold';
import type {
  DeletedHold,
  DeletedHoldRelease,
  ReleaseOutcome,
  Reservation,
} from '../../../infra/reservationStore';
import { reservationExpiryWorkflowId, SA } from '../../../workflows/names';
import {
  MAX_SIGNALS_PER_RUN,
  NOT_DUE_MAX_BACKOFF_MS,
  reservationChangedSignal,
  reservationExpiryWorkflow,
  reservationStatusQuery,
} from '../../../workflows/reservationExpiry';
import { createTimeSkippingEnv } from '../../support/timeSkipping';
import { waitFor } from '../../support/waitFor';
import { withWorker } from '../../support/workflowHarness';

/**
 * The hold's row as a stub store keeps it; "now" is the server's (skipped) clock when the release
 * was scheduled, so a release is due exactly as PostgreSQL would judge it.
 */
class StubHolds {
  row: Reservation;
  releases: { at: number; outcome: ReleaseOutcome['outcome'] }[] = [];
  /**
   * PostgreSQL's clock behind the server's: this many more calls find the hold not yet due
   * although its deadline passed by the server's clock.
   */
  clockBehindFor = 0;
  /** Awaited inside expireHold before it answers (to deliver a signal while it runs). */
  gate: Promise<void> | undefined;
  /** The row is gone: expireHold answers `missing`. */
  deleted = false;
  /** The releases of deleted holds asked for. */
  deletedReleases: DeletedHold[] = [];
  constructor(expiresAt: number) {
    this.row = {
      reservationId: 'r-1',
      sku: 'SKU-1',
      warehouseId: 2,
      orderId: null,
      quantity: 3,
      status: 'HELD',
      expiresAt: new Date(expiresAt).toISOString(),
      createdAt: new Date(expiresAt - 60_000).toISOString(),
      updatedAt: new Date(expiresAt - 60_000).toISOString(),
    };
  }
  activities(): Partial<Activities> {
    return {
      expireHold: async (): Promise<ReleaseOutcome> => {
        const now = Context.current().info.currentAttemptScheduledTimestampMs;
        if (this.gate) await this.gate;
        if (this.deleted) {
          this.releases.push({ at: now, outcome: 'missing' });
          return { outcome: 'missing' };
        }
        const behind = this.row.status === 'HELD' && this.clockBehindFor > 0;
        if (behind) this.clockBehindFor--;
        const outcome: ReleaseOutcome =
          this.row.status !== 'HELD'
            ? { outcome: 'not-held', reservation: this.row }
            : behind || Date.parse(this.row.expiresAt) > now
              ? { outcome: 'not-due', reservation: this.row }
              : {
                  outcome: 'released',
                  reservation: (this.row = {
                    ...this.row,
                    status: 'EXPIRED',
                    updatedAt: new Date(now).toISOString(),
                  }),
                };
        this.releases.push({ at: now, outcome: outcome.outcome });
        return outcome;
      },
      releaseDeletedHold: async (h: DeletedHold): Promise<DeletedHoldRelease> => {
        this.deletedReleases.push(h);
        const releasedAt = new Date(Context.current().info.currentAttemptScheduledTimestampMs).toISOString();
        return this.deletedReleases.length === 1
          ? { outcome: 'released', releasedAt, inventoryRow: true }
          : { outcome: 'already-released', releasedAt };
      },
    };
  }
}

describe('reservation-expiry workflow (time-skipping, stub release)', function () {
  this.timeout(60_000);
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown().catch(() => undefined);
  });

  let n = 0;
  const change = (expiresAt: number, extra: Partial<HoldChange> = {}): HoldChange => ({
    reservationId: 'r-1',
    status: 'HELD',
    sku: 'SKU-1',
    warehouseId: 2,
    quantity: 3,
    expiresAt: new Date(expiresAt).toISOString(),
    version: '0000000000000010.0000000000',
    ...extra,
  });
  const start = (taskQueue: string, hold: HoldChange) =>
    env.client.workflow.signalWithStart(reservationExpiryWorkflow, {
      taskQueue,
      workflowId: `${reservationExpiryWorkflowId('r-1')}-${++n}`,
      args: [{ reservationId: 'r-1', hold }],
      signal: reservationChangedSignal,
      signalArgs: [hold],
    });

  it('releases a hold at its deadline, once, and says so', async () => {
    const deadline = (await env.currentTimeMs()) + 15 * 60_000;
    const store = new StubHolds(deadline);
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      const held = await handle.query(reservationStatusQuery);
      assert.equal(held.state, 'HELD');
      assert.equal(held.expiresAt, new Date(deadline).toISOString());
      const desc = await handle.describe();
      assert.equal(desc.typedSearchAttributes.get(SA.state), 'HELD');
      assert.equal(desc.typedSearchAttributes.get(SA.expiresAt)?.getTime(), deadline);
      const result = await handle.result();
      assert.equal(result.state, 'EXPIRED');
      assert.deepEqual(
        store.releases.map((r) => r.outcome),
        ['released'],
      );
      assert.ok(store.releases[0].at >= deadline, 'not released before the deadline');
      assert.ok(store.releases[0].at - deadline < 5_000, 'released at the deadline');
      assert.equal(result.lateMs, store.releases[0].at - deadline);
      assert.equal((await handle.describe()).typedSearchAttributes.get(SA.state), 'EXPIRED');
    });
  });

  it('ends without a release when the hold is confirmed or cancelled first', async () => {
    for (const status of ['CONFIRMED', 'CANCELLED'] as const) {
      const deadline = (await env.currentTimeMs()) + 10 * 60_000;
      const store = new StubHolds(deadline);
      await withWorker(env, store, async (tq) => {
        const handle = await start(tq, change(deadline));
        await handle.signal(
          reservationChangedSignal,
          change(deadline, { status, version: '0000000000000011.0000000000' }),
        );
        const result = await handle.result();
        assert.equal(result.state, status);
        assert.equal(store.releases.length, 0, `${status}: no release`);
      });
    }
  });

  it('moves the timer when the deadline moves, and ignores an older change', async () => {
    const deadline = (await env.currentTimeMs()) + 10 * 60_000;
    const later = deadline + 20 * 60_000;
    const store = new StubHolds(deadline);
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      await env.sleep('5 minutes');
      store.row = { ...store.row, expiresAt: new Date(later).toISOString() };
      await handle.signal(
        reservationChangedSignal,
        change(later, { version: '0000000000000012.0000000000' }),
      );
      // A late duplicate of the first change must not bring the old deadline back.
      await handle.signal(reservationChangedSignal, change(deadline));
      const result = await handle.result();
      assert.equal(result.state, 'EXPIRED');
      assert.deepEqual(
        store.releases.map((r) => r.outcome),
        ['released'],
      );
      assert.ok(store.releases[0].at >= later, 'released at the new deadline only');
      assert.match(result.notes.join('\n'), /ignored change 0000000000000010\.0000000000 \(older\)/);
      // The replay test's history of this workflow type (test/unit/replay.test.ts): plain payloads.
      const dir = process.env.CDC_RECORD_HISTORIES;
      if (dir)
        writeFileSync(
          join(dir, 'reservationExpiryWorkflow.json'),
          JSON.stringify(await handle.fetchHistory()),
        );
    });
  });

  it('sleeps again when PostgreSQL has a later deadline than the stream has told yet', async () => {
    const deadline = (await env.currentTimeMs()) + 10 * 60_000;
    const later = deadline + 30 * 60_000;
    const store = new StubHolds(later); // extended in PostgreSQL; the signal is still on its way
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      const result = await handle.result();
      assert.deepEqual(
        store.releases.map((r) => r.outcome),
        ['not-due', 'released'],
      );
      assert.ok(store.releases[1].at >= later);
      assert.equal(result.state, 'EXPIRED');
    });
  });

  it('reports a hold that ended elsewhere without releasing it', async () => {
    const deadline = (await env.currentTimeMs()) + 60_000;
    const store = new StubHolds(deadline);
    store.row = { ...store.row, status: 'CONFIRMED' };
    await withWorker(env, store, async (tq) => {
      const result = await (await start(tq, change(deadline))).result();
      assert.equal(result.state, 'CONFIRMED');
      assert.deepEqual(
        store.releases.map((r) => r.outcome),
        ['not-held'],
      );
    });
  });

  it('continues as new after many changes and keeps the hold', async () => {
    const deadline = (await env.currentTimeMs()) + 60 * 60_000;
    const store = new StubHolds(deadline + MAX_SIGNALS_PER_RUN * 1000);
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      const firstRun = (await handle.describe()).runId;
      for (let i = 1; i <= MAX_SIGNALS_PER_RUN; i++)
        await handle.signal(
          reservationChangedSignal,
          change(deadline + i * 1000, { version: `${(16 + i).toString(16).padStart(16, '0')}.0000000000` }),
        );
      const result = await handle.result();
      assert.equal(result.state, 'EXPIRED');
      assert.equal(result.signalsSeen, MAX_SIGNALS_PER_RUN + 1);
      assert.notEqual((await handle.describe()).runId, firstRun, 'a new run');
      assert.equal(store.releases.filter((r) => r.outcome === 'released').length, 1);
    });
  });
  it('backs off when PostgreSQL keeps finding the hold not due (its clock behind): 1 s doubling, capped', async () => {
    const deadline = (await env.currentTimeMs()) + 60_000;
    const store = new StubHolds(deadline);
    store.clockBehindFor = 9;
    await withWorker(env, store, async (tq) => {
      const result = await (await start(tq, change(deadline))).result();
      assert.equal(result.state, 'EXPIRED');
      const outcomes = store.releases.map((r) => r.outcome);
      assert.deepEqual(outcomes, [...Array<string>(9).fill('not-due'), 'released']);
      const gaps = store.releases.slice(1).map((r, i) => r.at - store.releases[i]!.at);
      // Every retry waits at least 1 s, each wait at least the one before, none beyond the cap.
      for (const [i, gap] of gaps.entries()) {
        assert.ok(gap >= 1_000, `retry ${i + 1} waited ${gap} ms: not a busy loop`);
        if (i > 0) assert.ok(gap >= gaps[i - 1]! - 50, `retry ${i + 1} waited less than the one before`);
        assert.ok(gap <= NOT_DUE_MAX_BACKOFF_MS + 1_000, `retry ${i + 1} waited ${gap} ms: capped`);
      }
      assert.ok(gaps[3]! >= 8_000, `doubling: the 4th retry waited ${gaps[3]} ms`);
      assert.ok(gaps.at(-1)! >= NOT_DUE_MAX_BACKOFF_MS - 50, 'reaches the cap');
      // Bounded over simulated time: 1 + 6 doublings to the cap, then one a minute at most.
      const span = store.releases.at(-1)!.at - store.releases[0]!.at;
      assert.ok(
        store.releases.length <= 7 + Math.ceil(span / NOT_DUE_MAX_BACKOFF_MS) + 1,
        `${store.releases.length} calls in ${span} ms of simulated time`,
      );
    });
  });

  it('a CONFIRMED arriving while expireHold finds the hold not due ends the workflow without a release', async () => {
    // Due by the server's clock already: the release runs at once.
    const deadline = (await env.currentTimeMs()) - 1_000;
    const store = new StubHolds(deadline);
    store.clockBehindFor = 200;
    let open!: () => void;
    store.gate = new Promise<void>((resolve) => (open = resolve));
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      await waitFor('the release to run', async () =>
        (await handle.query(reservationStatusQuery)).state === 'RELEASING' ? true : undefined,
      );
      await handle.signal(
        reservationChangedSignal,
        change(deadline, { status: 'CONFIRMED', version: '0000000000000011.0000000000' }),
      );
      store.gate = undefined;
      open();
      const result = await handle.result();
      assert.equal(result.state, 'CONFIRMED');
      assert.ok(!store.releases.some((r) => r.outcome === 'released'), 'no release');
      assert.equal(store.releases.length, 1, 'no further attempt');
    });
  });

  it('a CONFIRMED arriving during the not-due wait ends the workflow without a release', async () => {
    // Due by the server's clock already: the release runs at once.
    const deadline = (await env.currentTimeMs()) - 1_000;
    const store = new StubHolds(deadline);
    store.clockBehindFor = 200;
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      await waitFor('a not-due answer', async () => (store.releases.length ? true : undefined));
      await handle.signal(
        reservationChangedSignal,
        change(deadline, { status: 'CONFIRMED', version: '0000000000000011.0000000000' }),
      );
      const result = await handle.result();
      assert.equal(result.state, 'CONFIRMED');
      assert.ok(!store.releases.some((r) => r.outcome === 'released'), 'no release');
      assert.ok(store.releases.length <= 2, `${store.releases.length} attempts`);
    });
  });

  it('a HELD reservation deleted directly gets its units back once, from the hold it knew', async () => {
    const deadline = (await env.currentTimeMs()) + 10 * 60_000;
    const store = new StubHolds(deadline);
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      // REPLICA IDENTITY DEFAULT: the delete carries the key only; the workflow's state has the rest.
      await handle.signal(
        reservationChangedSignal,
        change(deadline, {
          status: 'DELETED',
          sku: '',
          warehouseId: 0,
          quantity: 0,
          expiresAt: '',
          version: '0000000000000011.0000000000',
        }),
      );
      const result = await handle.result();
      assert.equal(result.state, 'GONE');
      assert.deepEqual(store.deletedReleases, [
        { reservationId: 'r-1', sku: 'SKU-1', warehouseId: 2, quantity: 3 },
      ]);
      assert.equal(store.releases.length, 0, 'no expire');
      assert.match(result.notes.join('\n'), /deleted while held: 3 units back/);
      assert.deepEqual(
        [result.sku, result.warehouseId, result.quantity],
        ['SKU-1', 2, 3],
        'still shows the hold',
      );
    });
  });

  it('a reservation deleted after it left HELD (the delete says so) gets nothing back', async () => {
    const deadline = (await env.currentTimeMs()) + 10 * 60_000;
    const store = new StubHolds(deadline);
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      // Cancelled and deleted in one batch: only the delete arrives, its before image says CANCELLED.
      await handle.signal(
        reservationChangedSignal,
        change(deadline, {
          status: 'DELETED',
          statusBeforeDelete: 'CANCELLED',
          version: '0000000000000011.0000000000',
        }),
      );
      const result = await handle.result();
      assert.equal(result.state, 'GONE');
      assert.deepEqual(store.deletedReleases, []);
    });
  });

  it('a row found missing at the deadline: waits for the stream to say what was deleted', async () => {
    const deadline = (await env.currentTimeMs()) - 1_000;
    const store = new StubHolds(deadline);
    store.deleted = true;
    await withWorker(env, store, async (tq) => {
      const handle = await start(tq, change(deadline));
      await waitFor('the release to find the row missing', async () =>
        store.releases.length ? true : undefined,
      );
      assert.deepEqual(store.deletedReleases, [], 'nothing given back before the stream says it was HELD');
      await handle.signal(
        reservationChangedSignal,
        change(deadline, {
          status: 'DELETED',
          statusBeforeDelete: 'HELD',
          version: '0000000000000011.0000000000',
        }),
      );
      const result = await handle.result();
      assert.equal(result.state, 'GONE');
      assert.deepEqual(store.deletedReleases, [
        { reservationId: 'r-1', sku: 'SKU-1', warehouseId: 2, quantity: 3 },
      ]);
    });
    // The stream never tells (expiry switched off meanwhile): after a day, GONE without a release.
    const silent = new StubHolds(deadline);
    silent.deleted = true;
    await withWorker(env, silent, async (tq) => {
      const result = await (await start(tq, change(deadline))).result();
      assert.equal(result.state, 'GONE');
      assert.deepEqual(silent.deletedReleases, []);
      assert.equal(silent.releases.length, 1);
    });
  });
});
