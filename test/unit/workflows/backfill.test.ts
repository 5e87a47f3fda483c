import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../../activities';
import type { SnapshotChunkInput, SnapshotChunkResult } from '../../../domain/backfill/chunks';
import {
  backfillProgressQuery,
  backfillWorkflow,
  cancelBackfillSignal,
  pauseBackfillSignal,
  resumeBackfillSignal,
  setRateLimitSignal,
  type BackfillInput,
} from '../../../workflows/backfill';
import { createTimeSkippingEnv } from '../../support/timeSkipping';
import { withWorker } from '../../support/workflowHarness';

/** A table of `rows` keys read in key order by stub chunk activities; chunks can fail on demand. */
class StubTable {
  reads: SnapshotChunkInput[] = [];
  seen = new Map<string, number>();
  failNext = 0;
  onChunk: (n: number) => Promise<void> = async () => undefined;
  constructor(readonly rows: number) {}

  activities(): Partial<Activities> {
    const keys = Array.from({ length: this.rows }, (_, i) => `k${String(i).padStart(6, '0')}`);
    return {
      planBackfill: async () => ({ tables: [{ table: 'products', estimate: this.rows, sensitive: false }] }),
      backfillWatermark: async () => ({
        lsn: '0/10',
        db: 'inventory',
        readAt: new Date().toISOString(),
        waitedMs: 0,
      }),
      backfillChunk: async (input: SnapshotChunkInput): Promise<SnapshotChunkResult> => {
        if (this.failNext > 0) {
          this.failNext--;
          throw ApplicationFailure.create({ type: 'transient', message: 'DynamoDB unavailable' });
        }
        this.reads.push(input);
        await this.onChunk(this.reads.length);
        const from = input.after ? keys.findIndex((k) => k > input.after![0]) : 0;
        const chunk = from < 0 ? [] : keys.slice(from, from + input.limit);
        for (const k of chunk) this.seen.set(k, (this.seen.get(k) ?? 0) + 1);
        return {
          read: chunk.length,
          applied: chunk.length,
          stale: 0,
          published: chunk.length,
          rejected: 0,
          tombstoned: 0,
          skipped: 0,
          done: chunk.length < input.limit,
          ...(chunk.length ? { after: [chunk.at(-1)!], lastKeyLabel: chunk.at(-1)! } : {}),
        };
      },
    };
  }
}

describe('backfill workflow (time-skipping, stub activities)', function () {
  this.timeout(120_000);
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown().catch(() => undefined);
  });

  const input = (over: Partial<BackfillInput> = {}): BackfillInput => ({
    id: 't',
    tables: ['products'],
    chunkSize: 100,
    rateLimit: 1000,
    ...over,
  });

  it('reads every row once across continue-as-new, paced by the rate limit', async () => {
    const table = new StubTable(1050);
    await withWorker(env, table, async (taskQueue) => {
      const started = Date.now();
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:t1',
        args: [input({ chunksPerRun: 3 })],
      });
      const report = await handle.result();
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, 1050);
      assert.equal(report.chunks, 11);
      assert.equal(report.percent, 100);
      assert.ok(
        [...table.seen.values()].every((n) => n === 1) && table.seen.size === 1050,
        'each row read once',
      );
      assert.ok(table.reads.every((r) => r.limit === 100));
      // 1050 rows at 1000 rows/s: at least a second of (skipped) workflow time.
      const d = await handle.describe();
      assert.ok(d.runId !== handle.firstExecutionRunId, 'continued as new');
      assert.ok(Date.now() - started < 60_000);
    });
  });

  it('pauses, changes the rate, resumes and cancels cleanly with a final report', async () => {
    const table = new StubTable(100_000);
    await withWorker(env, table, async (taskQueue) => {
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:t2',
        args: [input({ rateLimit: 100 })],
      });
      table.onChunk = async (n) => {
        if (n === 2) await handle.signal(pauseBackfillSignal, { reason: 'peak' });
      };
      let p = await handle.query(backfillProgressQuery);
      for (let i = 0; i < 50 && p.state !== 'PAUSED'; i++) {
        await env.sleep('1 second');
        p = await handle.query(backfillProgressQuery);
      }
      assert.equal(p.state, 'PAUSED');
      assert.equal(p.pausedReason, 'peak');
      const read = p.counters.read;
      await env.sleep('1 minute');
      assert.equal(
        (await handle.query(backfillProgressQuery)).counters.read,
        read,
        'nothing read while paused',
      );
      await handle.signal(setRateLimitSignal, 50);
      await handle.signal(setRateLimitSignal, { rowsPerSecond: -1 });
      await handle.signal(resumeBackfillSignal);
      await env.sleep('5 seconds');
      await handle.signal(cancelBackfillSignal, { reason: 'enough' });
      const report = await handle.result();
      assert.equal(report.state, 'CANCELLED');
      assert.equal(report.cancelReason, 'enough');
      assert.equal(report.rateLimit, 50);
      assert.ok(report.counters.read > read && report.counters.read < 100_000);
      assert.ok(report.notes.some((n) => n.includes('setRateLimit ignored')));
      assert.ok(
        table.reads.every((r) => r.limit <= 100),
        'a chunk holds at most one second of the rate',
      );
      assert.equal(table.reads.at(-1)!.limit, 50);
    });
  });

  it('holds a failing chunk STUCK, then recovers and goes on from the same cursor', async () => {
    const table = new StubTable(300);
    await withWorker(env, table, async (taskQueue) => {
      table.onChunk = async (n) => {
        if (n === 1) table.failNext = 4; // the second chunk fails its 3 attempts, then once more
      };
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:t3',
        args: [input()],
      });
      const report = await handle.result();
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, 300);
      assert.ok([...table.seen.values()].every((n) => n === 1));
      assert.ok(report.notes.some((n) => n.includes('recovered')));
    });
  });

  it('refuses an invalid input with a clear message', async () => {
    const table = new StubTable(1);
    await withWorker(env, table, async (taskQueue) => {
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:t4',
        args: [{ tables: ['products'], chunkSize: 0 } as BackfillInput],
      });
      await assert.rejects(handle.result(), (err: Error) => {
        assert.match(String((err.cause as Error)?.message), /invalid backfill input: chunkSize/);
        return true;
      });
    });
  });
});
