import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createDevServerEnv, createTimeSkippingEnv } from '../../support/timeSkipping';
import { event, record, StubPipeline, withWorker } from '../../support/workflowHarness';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import type { StreamRecord } from '../../../domain/shards/shardTypes';
import {
  pauseSignal,
  resumeSignal,
  shardReaderWorkflow,
  skipRecordSignal,
  statusQuery,
  type ShardReaderInput,
  type ShardStatus,
} from '../../../workflows/shardReader';
import { SA } from '../../../workflows/names';

/**
 * The shard reader's control plane in seconds: real workflow code on Temporal's time-skipping
 * test server, stub activities. Timers (hold backoff) are skipped, not waited for.
 */
/** Length of the simulated outage (CDC_OUTAGE_HOURS=24 for a long run; CI uses 1 hour). */
const OUTAGE_HOURS = Number(process.env.CDC_OUTAGE_HOURS ?? 1);

describe('shard-reader workflow (time-skipping, stub activities)', function () {
  this.timeout(120_000);
  let env: TestWorkflowEnvironment;
  // The real dev server: none of these tests needs its clock skipped (the outage test below does).
  before(async () => {
    env = await createDevServerEnv();
  });
  after(async () => {
    await env?.teardown().catch(() => undefined);
  });

  let n = 0;
  const input = (shardId: string, extra: Partial<ShardReaderInput> = {}): ShardReaderInput => ({
    stream: 'test-stream',
    consumer: 'test',
    shardId,
    ...extra,
  });
  const start = (taskQueue: string, i: ShardReaderInput) =>
    env.client.workflow.start(shardReaderWorkflow, {
      taskQueue,
      workflowId: `shard-test-${++n}`,
      args: [i],
    });

  /** Polls the status query until `ok`, skipping time between polls. */
  async function until(
    handle: { query: (q: typeof statusQuery) => Promise<ShardStatus> },
    ok: (s: ShardStatus) => boolean,
    what: string,
  ): Promise<ShardStatus> {
    let last: ShardStatus | undefined;
    for (let i = 0; i < 100; i++) {
      last = await handle.query(statusQuery);
      if (ok(last)) return last;
      await (env.supportsTimeSkipping ? env.sleep('1 second') : new Promise((r) => setTimeout(r, 250)));
    }
    throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
  }

  it('shows STUCK after repeated failures of a step, then returns to RUNNING by itself', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-1', 3, { closed: true });
    let broken = true;
    stub.failApply = () => broken;
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-1'));
      const stuck = await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      assert.equal(stuck.lastError?.step, 'apply');
      assert.equal(stuck.lastError?.category, 'transient');
      assert.ok(stuck.lastError!.attempts >= 2);
      assert.equal(stuck.trouble?.sequenceNumber, stub.shards.get('shard-1')!.records[0].sequenceNumber);
      assert.deepEqual(stuck.batch?.size, 3);
      assert.equal(stub.applied.length, 0, 'nothing applied while stuck');
      broken = false;
      const done = await handle.result();
      assert.equal(done.state, 'ENDED');
      assert.equal(done.counters.applied, 3);
      assert.equal(done.trouble, undefined);
      assert.ok(done.notes.some((x) => /apply recovered after \d+ failed attempts/.test(x)));
      assert.equal(stub.checkpoints.get('shard-1'), stub.shards.get('shard-1')!.records[2].sequenceNumber);
    });
  });

  it('skipRecord parks the record in trouble as operator-skip and processes the rest of the batch', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-2', 3, { closed: true });
    const bad = records[1].sequenceNumber;
    stub.failApply = (events) => events.some((e) => e.position.sequenceNumber === bad);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-2'));
      await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      await handle.signal(skipRecordSignal, { sequenceNumber: bad, reason: 'ticket OPS-1' });
      const done = await handle.result();
      assert.equal(done.state, 'ENDED');
      assert.deepEqual(
        stub.deadLetters.map((d) => [d.record.sequenceNumber, d.category, d.reason]),
        [[bad, 'operator-skip', 'ticket OPS-1']],
      );
      assert.deepEqual(
        stub.applied.map((e) => e.position.sequenceNumber),
        [records[0].sequenceNumber, records[2].sequenceNumber],
      );
      assert.equal(done.counters.skipped, 1);
      assert.equal(done.counters.deadLettered, 1);
      assert.ok(done.notes.some((x) => x.includes(`skipped ${bad}`)));
    });
  });

  it('a skip request for a record outside the batch is ignored with a note', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-3', 2, { closed: true });
    let broken = true;
    stub.failApply = () => broken;
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-3'));
      await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      await handle.signal(skipRecordSignal, { sequenceNumber: '999', reason: 'wrong one' });
      await until(handle, (s) => s.notes.some((x) => x.includes('skip of 999 ignored')), 'the note');
      broken = false;
      const done = await handle.result();
      assert.equal(done.counters.skipped, 0);
      assert.equal(stub.deadLetters.length, 0);
    });
  });

  it('pause holds the shard (no pulls) until resume', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-4', 2);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-4'));
      await until(handle, (s) => s.counters.applied === 2, 'the first records');
      await handle.signal(pauseSignal, { reason: 'deploying consumer' });
      const paused = await until(handle, (s) => s.state === 'PAUSED', 'PAUSED');
      assert.equal(paused.pausedReason, 'deploying consumer');
      const pulls = stub.pulls;
      assert.equal(
        stub.checkpoints.get('shard-4'),
        records[1].sequenceNumber,
        'checkpoint written before the pause',
      );
      records.push(record('shard-4', 3)); // a new record arrives while paused
      // A signal the workflow must answer (an invalid skip, noted): it ran a task after the record
      // arrived, and still did not pull.
      await handle.signal(skipRecordSignal, {} as never);
      await until(
        handle,
        (s) => s.notes.some((n) => n.startsWith('skipRecord ignored')),
        'the marker signal handled',
      );
      assert.equal(stub.pulls, pulls, 'no pull while paused');
      assert.equal(stub.applied.length, 2);
      await handle.signal(resumeSignal);
      const resumed = await until(handle, (s) => s.counters.applied === 3, 'the record after resume');
      assert.notEqual(resumed.state, 'PAUSED');
      assert.equal(resumed.pausedReason, undefined);
      // Ended by closing the shard, not by terminating it (an activity in flight would hold the test server's clock).
      stub.shards.get('shard-4')!.closed = true;
      assert.equal((await handle.result()).state, 'ENDED');
    });
  });

  it('the next pull writes a batch’s checkpoint before it reads: no checkpoint activity per batch', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-9', 5, { closed: true });
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-9', { settings: { maxRecords: 2 } }));
      assert.equal((await handle.result()).state, 'ENDED');
    });
    assert.equal(stub.checkpointSaves, 0, 'no saveCheckpoint activity');
    assert.equal(
      stub.checkpoints.get('shard-9'),
      records[4].sequenceNumber,
      'the last batch’s, written by the SHARD_END pull',
    );
    assert.deepEqual(
      stub.pullReads.map((p) => p.after),
      [records[1], records[3], records[4]].map((r) => r.sequenceNumber),
    );
    for (const p of stub.pullReads)
      assert.equal(p.written, p.after, 'never read past an unwritten checkpoint');
  });

  /** The activity types the workflow scheduled (local activities are markers, not counted here). */
  async function scheduled(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }) {
    const events = ((await handle.fetchHistory()).events ?? []) as {
      activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
      markerRecordedEventAttributes?: unknown;
    }[];
    const types = events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((t): t is string => typeof t === 'string');
    return { types, markers: events.filter((e) => e.markerRecordedEventAttributes).length };
  }

  it('while records keep coming, batches run as local activities in one chain: one activity pull, steps and pulls as markers', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-20', 6, { closed: true });
    const handle = await withWorker(env, stub, async (tq) => {
      const h = await start(tq, input('shard-20', { settings: { maxRecords: 1 } }));
      const done = await h.result();
      assert.equal(done.state, 'ENDED');
      assert.equal(done.counters.batches, 6);
      assert.equal(done.counters.published, 6);
      return h;
    });
    assert.deepEqual(
      stub.published.map((e) => e.position.sequenceNumber),
      records.map((r) => r.sequenceNumber),
      'every record published once, in order',
    );
    assert.equal(stub.checkpoints.get('shard-20'), records[5].sequenceNumber);
    const { types, markers } = await scheduled(handle);
    assert.deepEqual(
      types.filter((t) => t !== 'loadCheckpoint' && t !== 'markShardEnded'),
      ['pullBatch'],
      'only the chain’s first pull is an activity',
    );
    assert.ok(markers >= 6 * 4, `${markers} markers: each batch’s pull, prepare, apply and publish`);
  });

  it('a step failing in a chain falls back to its activity (retries, then the hold): nothing lost, the chain ends', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-21', 4, { closed: true });
    let failures = 0;
    // The 3rd record's apply fails once: the local attempt; its activity then succeeds.
    stub.failApply = (events) =>
      events[0]?.position.sequenceNumber === records[2].sequenceNumber && failures++ < 1;
    const handle = await withWorker(env, stub, async (tq) => {
      const h = await start(tq, input('shard-21', { settings: { maxRecords: 1 } }));
      assert.equal((await h.result()).counters.published, 4);
      return h;
    });
    assert.deepEqual(
      stub.published.map((e) => e.position.sequenceNumber),
      records.map((r) => r.sequenceNumber),
    );
    const { types } = await scheduled(handle);
    assert.ok(types.includes('applyBatch'), `the failed apply ran again as an activity: ${types.join(', ')}`);
    assert.ok(types.includes('publishBatch'), 'and the rest of that batch too');
    assert.equal(types.filter((t) => t === 'pullBatch').length, 2, 'the next pull starts a new chain');
    // The replay test's history of a shard reader by reference with chains (test/unit/replay.test.ts).
    const dir = process.env.CDC_RECORD_HISTORIES;
    if (dir)
      writeFileSync(
        join(dir, 'shardReaderWorkflow.local-chains.json'),
        JSON.stringify(await handle.fetchHistory()),
      );
  });

  it('a failing transform (a local activity) holds the shard as STUCK instead of failing the workflow', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-23', 2, { closed: true });
    let failing = true;
    stub.failPrepare = () => failing;
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-23', { settings: { chainMs: 0 } }));
      const stuck = await until(handle, (st) => st.state === 'STUCK', 'STUCK');
      assert.equal(stuck.lastError?.step, 'transform');
      assert.equal(stuck.lastError?.message, 'transform failed (stub)');
      failing = false;
      assert.equal((await handle.result()).counters.published, 2);
    });
  });

  it('chainMs 0: every pull and step is an activity, as before chains', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-22', 3, { closed: true });
    const handle = await withWorker(env, stub, async (tq) => {
      const h = await start(tq, input('shard-22', { settings: { maxRecords: 1, chainMs: 0 } }));
      assert.equal((await h.result()).counters.published, 3);
      return h;
    });
    const { types } = await scheduled(handle);
    assert.equal(types.filter((t) => t === 'applyBatch').length, 3);
    assert.equal(types.filter((t) => t === 'pullBatch').length, 4);
  });

  it('upserts a new checkpoint alone at most every 5 s, a new state at once, and ends with the last checkpoint', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-10', 8, { closed: true });
    const handle = await withWorker(env, stub, async (tq) => {
      const h = await start(tq, input('shard-10', { settings: { maxRecords: 1 } }));
      assert.equal((await h.result()).counters.batches, 8);
      return h;
    });
    const upserts = (await handle.fetchHistory()).events!.filter(
      (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.CdcCheckpoint,
    );
    assert.ok(
      upserts.length <= 3,
      `${upserts.length} upserts for 8 batches in well under 5 s (was one per batch)`,
    );
    const sa = (await handle.describe()).typedSearchAttributes;
    assert.equal(sa.get(SA.state), 'ENDED');
    assert.equal(sa.get(SA.checkpoint), records[7].sequenceNumber);
  });

  it('continue-as-new carries checkpoint, counters and a pause', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-5', 4, { closed: true });
    await withWorker(env, stub, async (tq) => {
      let paused = false;
      stub.onApply = async (events) => {
        // During the second batch: pause; the run continues as new after that batch.
        if (events[0].position.sequenceNumber.endsWith('000002') && !paused) {
          paused = true;
          await handle.signal(pauseSignal, { reason: 'across continue-as-new' });
        }
      };
      const handle = await start(tq, input('shard-5', { settings: { maxRecords: 1, maxHistoryEvents: 1 } }));
      const firstRun = handle.firstExecutionRunId;
      const carried = await until(handle, (s) => s.state === 'PAUSED', 'PAUSED in a later run');
      assert.equal(carried.pausedReason, 'across continue-as-new');
      assert.equal(carried.counters.batches, 2);
      assert.equal(carried.counters.applied, 2);
      const { runId } = await handle.describe();
      assert.notEqual(runId, firstRun, 'the pause was carried into a new run');
      await handle.signal(resumeSignal);
      const done = await handle.result(); // a resumed shard must not be paused again by its next run
      assert.equal(done.state, 'ENDED');
      assert.deepEqual([done.counters.batches, done.counters.records, done.counters.applied], [4, 4, 4]);
      assert.equal(stub.applied.length, 4, 'every record applied once, none twice');
    });
  });

  it('signals with missing or invalid input never break the workflow: pause defaults, the rest is noted', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-6', 1);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-6'));
      await until(handle, (s) => s.counters.applied === 1, 'the first record');
      // As `temporal workflow signal --name pause` without --input sends it: no argument at all.
      await env.client.workflow.getHandle(handle.workflowId).signal('pause');
      const paused = await until(handle, (s) => s.state === 'PAUSED', 'PAUSED');
      assert.equal(paused.pausedReason, 'paused by operator');
      await handle.signal('resume');
      await handle.signal('pause', { reason: 42 } as never);
      await handle.signal('skipRecord', {} as never);
      await handle.signal('skipRecord', 'not an object' as never);
      const noted = await until(
        handle,
        (s) => s.notes.filter((x) => x.includes('ignored, invalid input')).length === 3,
        'three notes',
      );
      assert.notEqual(noted.state, 'PAUSED');
      assert.match(noted.notes.join('\n'), /skipRecord ignored, invalid input: sequenceNumber/);
      const { status } = await handle.describe();
      assert.equal(status.name, 'RUNNING', 'the workflow did not fail');
      stub.shards.get('shard-6')!.closed = true;
      assert.equal((await handle.result()).state, 'ENDED');
    });
  });

  it('the record in trouble is the one the activity names as failing, not the batch’s first', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-8', 3, { closed: true });
    const bad = records[2].sequenceNumber;
    stub.failApply = (events) => (events.some((e) => e.position.sequenceNumber === bad) ? bad : false);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-8'));
      const stuck = await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      assert.equal(stuck.trouble?.sequenceNumber, bad, 'the failing record, so skipping it is right');
      await handle.signal(skipRecordSignal, {
        sequenceNumber: stuck.trouble!.sequenceNumber,
        reason: 'OPS-8',
      });
      const done = await handle.result();
      assert.deepEqual(
        stub.deadLetters.map((d) => d.record.sequenceNumber),
        [bad],
      );
      assert.equal(done.counters.applied, 2);
    });
  });

  it('a record skipped while publish is held is parked as applied but not published', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-9', 2, { closed: true });
    const bad = records[0].sequenceNumber;
    stub.failPublish = (events) => events.some((e) => e.position.sequenceNumber === bad);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-9'));
      const stuck = await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      assert.equal(stuck.lastError?.step, 'publish');
      // The failing step names its first record (by entity, as the status shows one).
      assert.equal(stuck.trouble?.sequenceNumber, bad);
      assert.equal(stuck.trouble?.entityId, 'SKU-1');
      await handle.signal(skipRecordSignal, { sequenceNumber: bad, reason: 'consumer outage' });
      await handle.result();
      assert.equal(stub.deadLetters.length, 1);
      assert.equal(stub.deadLetters[0].category, 'operator-skip');
      assert.equal(stub.deadLetters[0].appliedNotPublished, true);
      assert.ok(
        stub.applied.some((e) => e.position.sequenceNumber === bad),
        'DynamoDB has it',
      );
      assert.ok(!stub.published.some((e) => e.position.sequenceNumber === bad), 'consumers do not');
    });
  });

  it('a record skipped while its hold signal is held is parked as applied but not published', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-12', 2, { closed: true });
    const bad = records[0].sequenceNumber;
    stub.eventOf = (shardId, r) => holdEvent(shardId, r);
    stub.failHolds = (holds) => holds.some((h) => h.reservationId === `R-${bad}`);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-12'));
      const stuck = await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      assert.equal(stuck.lastError?.step, 'reservations');
      await handle.signal(skipRecordSignal, { sequenceNumber: bad, reason: 'expiry workflows down' });
      await handle.result();
      assert.equal(stub.deadLetters.length, 1);
      assert.equal(stub.deadLetters[0].category, 'operator-skip');
      assert.equal(stub.deadLetters[0].appliedNotPublished, true, 'a redrive must publish it');
      assert.ok(
        stub.applied.some((e) => e.position.sequenceNumber === bad),
        'DynamoDB has it',
      );
      assert.ok(!stub.published.some((e) => e.position.sequenceNumber === bad), 'consumers do not');
    });
  });

  it('a change older than what DynamoDB held is neither published nor told to holds, and is counted', async () => {
    const stub = new StubPipeline();
    const records = stub.addShard('shard-13', 3, { closed: true });
    const old = records[1].sequenceNumber;
    stub.eventOf = (shardId, r) => holdEvent(shardId, r);
    stub.outdatedOf = (events) =>
      events.filter((e) => e.position.sequenceNumber === old).map((e) => e.eventId);
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-13'));
      const done = await until(handle, (s) => s.state === 'ENDED', 'ENDED');
      assert.deepEqual(
        stub.published.map((e) => e.position.sequenceNumber),
        [records[0].sequenceNumber, records[2].sequenceNumber],
      );
      assert.ok(!stub.holds.some((h) => h.reservationId === `R-${old}`), 'not told to its hold either');
      assert.equal(done.counters.outdated, 1);
      assert.equal(done.counters.published, 2);
    });
  });

  it('raises the retention alerts: lag past the threshold once per crossing, trimmed records once, shown in the status', async () => {
    const stub = new StubPipeline();
    stub.addShard('shard-10', 3);
    let lag = 0;
    let trimmed = false;
    stub.pullExtras = () => ({
      millisBehindLatest: lag,
      retention: { retentionMs: 100_000, lagAlertMs: 50_000 },
      ...(trimmed ? { trimmed: true as const } : {}),
    });
    await withWorker(env, stub, async (tq) => {
      const handle = await start(tq, input('shard-10', { settings: { maxRecords: 1 } }));
      await until(handle, (s) => s.counters.applied === 3, 'the records');
      lag = 60_000;
      await until(handle, () => stub.shardAlerts.length === 1, 'the lag alert');
      await env.sleep('1 second');
      assert.deepEqual(
        stub.shardAlerts.map((a) => a.kind),
        ['SHARD_LAG'],
        'once per crossing',
      );
      trimmed = true;
      const gap = await until(handle, (s) => s.retentionGap !== undefined, 'the retention gap in the status');
      assert.equal(
        gap.retentionGap?.afterSequenceNumber,
        stub.shards.get('shard-10')!.records[2].sequenceNumber,
      );
      await env.sleep('1 second');
      assert.deepEqual(
        stub.shardAlerts.map((a) => a.kind),
        ['SHARD_LAG', 'RETENTION_GAP'],
        'the gap once',
      );
      assert.ok(gap.notes.some((n) => n.includes('trimmed')));
      stub.shards.get('shard-10')!.closed = true;
      await handle.result();
    });
  });

  describe('on the time-skipping test server', () => {
    let dev: TestWorkflowEnvironment;
    let skipping: TestWorkflowEnvironment;
    before(async () => {
      dev = env;
      skipping = await createTimeSkippingEnv();
      env = skipping;
    });
    after(async () => {
      env = dev;
      await skipping?.teardown().catch(() => undefined);
    });

    it(`an outage of ${OUTAGE_HOURS} h continues as new from inside the hold, still STUCK, and loses nothing`, async function () {
      this.timeout(60_000 + OUTAGE_HOURS * 20_000);
      const stub = new StubPipeline();
      stub.addShard('shard-7', 3, { closed: true });
      let broken = true;
      stub.failApply = () => broken;
      await withWorker(env, stub, async (tq) => {
        const handle = await start(tq, input('shard-7', { settings: { maxHistoryEvents: 200 } }));
        await until(handle, (s) => s.state === 'STUCK', 'STUCK');
        await env.sleep(`${OUTAGE_HOURS} hours`);
        const later = await handle.query(statusQuery);
        const run = await handle.describe();
        assert.notEqual(run.runId, handle.firstExecutionRunId, 'the hold continued as new');
        assert.ok(run.historyLength < 300, `history stays bounded (${run.historyLength} events)`);
        assert.equal(later.state, 'STUCK', 'still shown as STUCK after continue-as-new');
        assert.equal(later.lastError?.step, 'apply');
        assert.ok(
          later.lastError!.attempts > 100 * OUTAGE_HOURS,
          `failures keep counting (${later.lastError!.attempts})`,
        );
        assert.equal(later.batch?.size, 3);
        assert.ok(later.notes.some((x) => x.startsWith('continued as new while holding apply')));
        broken = false;
        const done = await handle.result();
        assert.equal(done.state, 'ENDED');
        assert.equal(done.counters.applied, 3);
        assert.equal(stub.applied.length, 3);
        assert.equal(done.trouble, undefined);
      });
    });
  });
});

/** A HELD reservation's insert, one reservation per record. */
function holdEvent(shardId: string, r: StreamRecord): PipelineEvent {
  const reservationId = `R-${r.sequenceNumber}`;
  return {
    ...event(shardId, r),
    table: 'reservations',
    entityType: 'reservation',
    entityId: reservationId,
    key: { reservation_id: reservationId },
    op: 'c',
    eventType: 'reservation.created',
    after: {
      reservation_id: reservationId,
      status: 'HELD',
      sku: 'SKU-1',
      warehouse_id: 1,
      quantity: 1,
      expires_at: '2026-01-01T00:15:00.000Z',
    },
  };
}
