import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { sourceVersion } from '../../../domain/processing/version';
import { captureWorkflowId } from '../../../workflows/names';
import { probes } from '../../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../../support/testPipeline';
import { waitFor } from '../../support/waitFor';

/**
 * The crash test: the worker process is SIGKILLed again and again while a load generator commits
 * changes, each time while capture streams on it (it acknowledged changes committed after the
 * worker before it was killed), at a random point of the load. Every committed change must be on
 * the stream afterwards (duplicates allowed, gaps never) and the changes of every key in commit
 * order.
 *
 * After a SIGKILL Temporal notices the lost capture attempt at its heartbeat timeout (60 s); the
 * test tells the server at once instead (`killWorker({ noticeNow: true })`: the attempt fails by
 * its activity id, as the timeout would fail it), so that the next kill hits a capture running
 * again rather than a worker idle until the timeout.
 */
describe('capture survives SIGKILL of the worker', function () {
  this.timeout(600_000);
  let p: TestPipeline;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({}, { readers: false, workerProcess: true });
    await waitFor(
      'capture to hold the slot',
      async () => {
        const r = await p.pg.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [
          p.config.slot,
        ]);
        return r.rows[0]?.active ? true : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });
  after(async () => {
    await p?.stop();
  });

  it('loses no committed change and keeps per-key order across repeated SIGKILLs', async () => {
    const sku = `CRASH${Date.now().toString(36)}`.toUpperCase();
    const keys = 40;
    await p.pg.query(
      'INSERT INTO inventory (sku, warehouse_id, on_hand) SELECT $1, g, 0 FROM generate_series(1, $2) g',
      [sku, keys],
    );
    const committed = new Map<number, number[]>(); // warehouse → on_hand values, in commit order
    for (let w = 1; w <= keys; w++) committed.set(w, [0]);
    let running = true;
    let commits = 0;
    let kills = 0;
    const load = (async () => {
      for (let n = 1; running; n++) {
        // Two keys per transaction, so transactions span keys.
        const a = (n % keys) + 1;
        const b = ((n * 7) % keys) + 1;
        await p.pg.query('BEGIN');
        await p.pg.query('UPDATE inventory SET on_hand = $3 WHERE sku = $1 AND warehouse_id = $2', [
          sku,
          a,
          n,
        ]);
        if (b !== a)
          await p.pg.query('UPDATE inventory SET on_hand = $3 WHERE sku = $1 AND warehouse_id = $2', [
            sku,
            b,
            n,
          ]);
        await p.pg.query('COMMIT');
        committed.get(a)!.push(n);
        if (b !== a) committed.get(b)!.push(n);
        commits++;
        await sleep(20);
      }
    })();
    const handle = p.client.workflow.getHandle(captureWorkflowId(p.config.slot));
    const lsnNow = async () =>
      (await p.pg.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
    /** Capture streams on the current worker: it acknowledged changes committed after `lsn`. */
    const streamingPast = (lsn: string, what: string) =>
      waitFor(
        what,
        async () => {
          const r = await p.pg.query<{ done: boolean }>(
            'SELECT active AND confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
            [p.config.slot, lsn],
          );
          return r.rows[0]?.done ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
    let since = await lsnNow();
    for (let i = 0; i < 4; i++) {
      await streamingPast(since, `capture streaming again before kill ${i + 1}`);
      // A random point of the load: 20 to 100 more transactions.
      const at = commits + 20 + Math.floor(Math.random() * 80);
      await waitFor(`transaction ${at}`, async () => (commits >= at ? true : undefined), {
        intervalMs: 10,
      });
      await p.killWorker({ noticeNow: true });
      kills++;
      since = await lsnNow();
    }
    await streamingPast(since, 'capture streaming again after the last kill');
    running = false;
    await load;

    const endLsn = (await p.pg.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l;
    await waitFor(
      'capture to acknowledge everything committed',
      async () => {
        const r = await p.pg.query<{ done: boolean }>(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
          [p.config.slot, endLsn],
        );
        return r.rows[0]?.done ? true : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );

    const changes = (await probes(p).streamChanges()).filter(
      (c) => c.event.source.table === 'inventory' && c.event.key.sku === sku,
    );
    const found = new Map<number, ChangeEvent[]>();
    const seen = new Set<string>();
    let duplicates = 0;
    for (const { event } of changes) {
      const w = Number(event.key.warehouse_id);
      const id = `${w}@${sourceVersion(event.source.lsn, event.source.index)}`;
      if (seen.has(id)) {
        duplicates++;
        continue;
      }
      seen.add(id);
      found.set(w, [...(found.get(w) ?? []), event]);
    }
    let missing = 0;
    let expectedTotal = 0;
    for (const [w, values] of committed) {
      expectedTotal += values.length;
      const got = (found.get(w) ?? []).map((e) => e.after!.on_hand as number);
      missing += values.filter((v) => !got.includes(v)).length;
      assert.deepEqual(got, values, `warehouse ${w}: every committed value, in commit order`);
    }
    // Each SIGKILL cut the capture activity off mid-run; Temporal ran it again on the new worker
    // (a retry of the same activity, or, after three attempts, a new run the workflow started).
    const pending = (await handle.describe()).raw.pendingActivities?.find(
      (a) => a.activityType?.name === 'captureChanges',
    )?.attempt;
    const history = await handle.fetchHistory();
    const retriedRuns = (history.events ?? []).filter(
      (e) =>
        (e.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2 ||
        (e.activityTaskTimedOutEventAttributes !== undefined &&
          e.activityTaskTimedOutEventAttributes !== null),
    ).length;
    assert.ok(
      (pending ?? 0) >= 2 || retriedRuns > 0,
      `the capture activity was run again after the kills (pending attempt ${pending ?? 0}, retried runs ${retriedRuns})`,
    );
    console.log(
      `      crash test: ${kills} SIGKILLs (capture run again: pending attempt ${pending ?? 0}, ${retriedRuns} retried runs), ${commits} transactions, ${expectedTotal} changes committed, ` +
        `${seen.size} found, ${duplicates} duplicates, ${missing} missing`,
    );
    assert.equal(missing, 0);
    assert.ok(kills >= 4);
  });
});
