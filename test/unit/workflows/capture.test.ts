import assert from 'node:assert/strict';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { StubCapture, withCaptureWorker } from '../../support/captureStubs';
import { createTimeSkippingEnv } from '../../support/timeSkipping';
import { workflowBundle } from '../../support/workflowHarness';
import {
  CAPTURE_ATTEMPTS,
  captureWorkflow,
  healthQuery,
  type CaptureStatus,
  type CaptureWorkflowInput,
} from '../../../workflows/capture';
import { SA } from '../../../workflows/names';

/**
 * The capture workflow's control plane in seconds: real workflow code on Temporal's time-skipping
 * test server, stub capture activities. Backoff timers are skipped, not waited for.
 */
describe('capture workflow (time-skipping, stub activities)', function () {
  this.timeout(60_000);
  let env: TestWorkflowEnvironment;
  // A server per test: a test that fails cannot leave an activity in flight that holds the next
  // test's clock, and no connection lives long enough for the test server's keepalive limits.
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown().catch(() => undefined);
  });

  let n = 0;
  const start = (taskQueue: string, input: Partial<CaptureWorkflowInput> = {}) =>
    env.client.workflow.start(captureWorkflow, {
      taskQueue,
      workflowId: `cdc-capture:capture-test-${++n}`,
      args: [{ slot: `slot_${n}`, publication: 'pub', ...input }],
    });

  /** Polls the health query until `ok`, skipping time between polls. */
  async function until(
    handle: WorkflowHandle<typeof captureWorkflow>,
    ok: (s: CaptureStatus) => boolean,
    what: string,
  ): Promise<CaptureStatus> {
    let last: CaptureStatus | undefined;
    for (let i = 0; i < 100; i++) {
      last = await handle.query(healthQuery);
      if (ok(last)) return last;
      await env.sleep('1 second');
    }
    throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
  }
  /**
   * Ends a capture workflow without an activity in flight (terminating it mid-activity would hold
   * the test server's clock for the tests after it): the next run finds its slot gone.
   */
  const end = async (stub: StubCapture, handle: WorkflowHandle<typeof captureWorkflow>) => {
    stub.fail = () => 'slot-missing';
    await assert.rejects(handle.result());
  };
  const searchAttributes = async (handle: WorkflowHandle<typeof captureWorkflow>) => {
    const { typedSearchAttributes } = await handle.describe();
    return { state: typedSearchAttributes.get(SA.state), stream: typedSearchAttributes.get(SA.stream) };
  };
  const details = async (handle: WorkflowHandle<typeof captureWorkflow>) =>
    (await handle.query(workflowMetadataQuery)).currentDetails ?? '';

  it('shows STUCK with current details while capture keeps failing, then RUNNING once a run succeeds', async () => {
    const stub = new StubCapture();
    let broken = true;
    stub.fail = () => (broken ? 'transient' : undefined);
    await withCaptureWorker(env, stub, async (tq) => {
      const handle = await start(tq, { stream: 'cdc-inventory', recoverySeconds: 45 });
      const stuck = await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      assert.equal(stuck.stream, 'cdc-inventory');
      assert.equal(stuck.lastError?.step, 'capture');
      assert.equal(stuck.lastError?.category, 'transient');
      assert.match(stuck.lastError!.message, /ECONNREFUSED 127\.0\.0\.1:15432/);
      assert.ok(stuck.lastError!.failures >= 1);
      assert.equal(stuck.lastError!.attempts, stuck.lastError!.failures * CAPTURE_ATTEMPTS);
      assert.ok(stuck.lastError!.retryAt, 'says when it tries again');
      // Bounded activity retries: the workflow saw the failure after CAPTURE_ATTEMPTS attempts.
      assert.ok(stub.attempts.length >= CAPTURE_ATTEMPTS);
      assert.deepEqual(await searchAttributes(handle), { state: 'STUCK', stream: 'cdc-inventory' });
      const shown = await details(handle);
      assert.match(shown, /\*\*STUCK\*\* in `capture`/);
      assert.match(shown, new RegExp(`slot \`${stuck.slot}\``));
      assert.match(shown, /error \(transient\): Error: connect ECONNREFUSED/);
      assert.match(shown, /\d+ attempts/);
      assert.match(shown, /act: /);

      // Failures back off (holdBackoffMs) in the workflow; the retries keep going while STUCK.
      const attempts = stub.attempts.length;
      await until(handle, (s) => (s.lastError?.failures ?? 0) >= 3, 'a third failed run');
      assert.ok(stub.attempts.length > attempts);

      broken = false;
      const running = await until(handle, (s) => s.state === 'RUNNING', 'RUNNING');
      assert.ok(running.captureRuns >= 1);
      assert.equal(running.lastError?.category, 'transient', 'the last error stays on record');
      assert.deepEqual(await searchAttributes(handle), { state: 'RUNNING', stream: 'cdc-inventory' });
      assert.equal(await details(handle), '');
      // The first run after a failure is short (recoverySeconds), so recovery shows at once; then full runs.
      const ok = stub.attempts.filter((a) => a.outcome === 'ok').map((a) => a.input.maxRunMs);
      assert.equal(ok[0], 45_000);
      await until(handle, (s) => s.captureRuns >= 2, 'a second run');
      assert.equal(stub.attempts.filter((a) => a.outcome === 'ok')[1].input.maxRunMs, 30 * 60_000);
      await end(stub, handle);
      // The new code replays its own history (STUCK, backoff, recovery) deterministically.
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory());
    });
  });

  it('a STUCK capture continues as new still STUCK, its failure count going on', async () => {
    const stub = new StubCapture();
    let broken = true;
    stub.fail = () => (broken ? 'throttling' : undefined);
    await withCaptureWorker(env, stub, async (tq) => {
      // Every health round (10 s) continues as new: the first comes after the first failed run.
      const handle = await start(tq, { stream: 'cdc-inventory', healthSeconds: 10, maxHistoryEvents: 1 });
      const firstRun = handle.firstExecutionRunId;
      await until(handle, (s) => s.state === 'STUCK', 'STUCK');
      let runId = firstRun;
      for (let i = 0; i < 100 && runId === firstRun; i++) {
        await env.sleep('1 second');
        runId = (await handle.describe()).runId;
      }
      assert.notEqual(runId, firstRun, 'continued as new');
      const carried = await handle.query(healthQuery);
      assert.equal(carried.state, 'STUCK');
      assert.equal(carried.lastError?.category, 'throttling');
      assert.ok(carried.lastError!.failures >= 1);
      assert.equal((await searchAttributes(handle)).state, 'STUCK');
      assert.match(await details(handle), /\*\*STUCK\*\* in `capture`/);
      const later = await until(
        handle,
        (s) => (s.lastError?.failures ?? 0) > carried.lastError!.failures,
        'the failure count to go on',
      );
      assert.equal(later.lastError!.since, carried.lastError!.since, 'one streak of failures');
      broken = false;
      await until(handle, (s) => s.state === 'RUNNING', 'RUNNING');
      assert.equal((await searchAttributes(handle)).state, 'RUNNING');
      await end(stub, handle);
    });
  });

  it('fails at once, without holding, when the slot is missing (fatal, as before)', async () => {
    const stub = new StubCapture();
    stub.fail = () => 'slot-missing';
    await withCaptureWorker(env, stub, async (tq) => {
      const handle = await start(tq); // no stream: an input from before CdcStream existed
      await assert.rejects(
        handle.result(),
        (err: Error & { cause?: Error & { cause?: { type?: string } } }) => {
          assert.equal(err.cause?.cause?.type, 'slot-missing');
          return true;
        },
      );
      assert.equal(stub.attempts.length, 1, 'not retried');
      const sa = await searchAttributes(handle);
      assert.equal(sa.state, 'RUNNING', 'never shown STUCK');
      assert.equal(sa.stream, undefined);
    });
  });
});
