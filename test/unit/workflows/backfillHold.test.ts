import assert from 'node:assert/strict';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../../activities';
import type {
  ChunkWatermark,
  SnapshotChunkInput,
  SnapshotChunkResult,
} from '../../../domain/backfill/chunks';
import {
  backfillProgressQuery,
  backfillWorkflow,
  resumeBackfillSignal,
  type BackfillInput,
  type BackfillReport,
} from '../../../workflows/backfill';
import { createTimeSkippingEnv } from '../../support/timeSkipping';
import { withWorker } from '../../support/workflowHarness';

const DAY_MS = 86_400_000;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * A table read in key order by stub snapshot activities. The chunk starting after `failAfter`
 * fails while `failing` says so (judged by the attempt's scheduled time: the test server's
 * skipped clock). Each watermark taken is a new, larger LSN, as on a busy database.
 */
class OutageTable {
  chunkCalls: SnapshotChunkInput[] = [];
  watermarks: ChunkWatermark[] = [];
  seen = new Map<string, number>();
  failing: (input: SnapshotChunkInput, scheduledMs: number) => boolean = () => false;
  /** Chunks return a watermark for the next chunk (as the activities do when no transaction holds it). */
  giveNext = false;
  nexts: ChunkWatermark[] = [];
  constructor(readonly rows: number) {}

  next(): ChunkWatermark {
    const w = {
      lsn: `0/${(0x9000 + this.nexts.length).toString(16)}`,
      db: 'inventory',
      readAt: new Date().toISOString(),
      waitedMs: 0,
    };
    this.nexts.push(w);
    return w;
  }

  activities(): Partial<Activities> {
    const keys = Array.from({ length: this.rows }, (_, i) => `k${String(i).padStart(6, '0')}`);
    return {
      planBackfill: async () => ({ tables: [{ table: 'products', estimate: this.rows, sensitive: false }] }),
      backfillWatermark: async (): Promise<ChunkWatermark> => {
        const w = {
          lsn: `0/${(0x1000 + this.watermarks.length).toString(16).toUpperCase()}`,
          db: 'inventory',
          readAt: new Date(Context.current().info.currentAttemptScheduledTimestampMs).toISOString(),
          waitedMs: 0,
        };
        this.watermarks.push(w);
        return w;
      },
      backfillChunk: async (input: SnapshotChunkInput): Promise<SnapshotChunkResult> => {
        this.chunkCalls.push(input);
        if (this.failing(input, Context.current().info.currentAttemptScheduledTimestampMs))
          throw ApplicationFailure.create({
            type: 'transient',
            message: 'connection refused (stub database down)',
          });
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
          ...(input.watermark ? { watermark: input.watermark.lsn } : {}),
          ...(this.giveNext ? { nextWatermark: this.next() } : {}),
        };
      },
    };
  }
}

/** Every run of a workflow (first to last, following continue-as-new) with its history length. */
async function runsOf(env: TestWorkflowEnvironment, workflowId: string, firstRunId: string) {
  const runs: { runId: string; events: number }[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: { events?: HistoryEvent[] | null } = await env.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runs.push({ runId, events: events.length });
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

describe('backfill hold (time-skipping, stub activities)', function () {
  this.timeout(600_000);
  let env: TestWorkflowEnvironment;
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown().catch(() => undefined);
  });

  const input = (over: Partial<BackfillInput> = {}): BackfillInput => ({
    tables: ['products'],
    chunkSize: 100,
    rateLimit: 1000,
    ...over,
  });

  it('holds a chunk through a 3-day outage in runs of bounded history, then finishes from the same cursor with the same watermark', async () => {
    /** Events one run may hold: the default history threshold (5,000) plus one hold cycle's worth. */
    const BOUND = 5_500;
    const table = new OutageTable(300);
    let outageEndsMs: number | undefined;
    table.failing = (i, scheduledMs) => {
      if (i.after?.[0] !== 'k000099') return false; // the second chunk
      outageEndsMs ??= scheduledMs + 3 * DAY_MS;
      return scheduledMs < outageEndsMs;
    };
    await withWorker(env, table, async (taskQueue) => {
      const workflowId = 'cdc-backfill:outage';
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId,
        args: [input()],
      });
      // Before the fix a run's history grows without bound: fail as soon as the current run is past it.
      let report: BackfillReport | undefined;
      const result = handle.result().then((r) => (report = r));
      let checked = 0;
      while (!report) {
        await Promise.race([result, new Promise((r) => setTimeout(r, 2_000))]);
        if (report) break;
        const { runId } = await handle.describe();
        const events = (await env.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
        assert.ok(events.length < BOUND, `run ${++checked}: ${events.length} events, more than ${BOUND}`);
      }
      await result;
      assert.ok(report);
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, 300);
      assert.ok(
        [...table.seen.values()].every((n) => n === 1) && table.seen.size === 300,
        'each row read once',
      );
      assert.ok(report.notes.some((n) => n.includes('recovered')));

      const runs = await runsOf(env, workflowId, handle.firstExecutionRunId);
      const total = runs.reduce((n, r) => n + r.events, 0);
      assert.ok(runs.length >= 2, `the hold continued as new (${runs.length} runs, ${total} events)`);
      for (const r of runs) assert.ok(r.events < BOUND, `a run of ${r.events} events`);

      // The chunk in trouble: retried from the same cursor with the watermark of its first attempt.
      const held = table.chunkCalls.filter((c) => c.after?.[0] === 'k000099');
      assert.ok(held.length > 100, `retried through the outage (${held.length} attempts)`);
      assert.ok(held.every((c) => c.limit === 100));
      assert.equal(
        new Set(held.map((c) => JSON.stringify(c.watermark))).size,
        1,
        'one watermark for every attempt',
      );
      assert.ok(held[0].watermark, 'the chunk was given its watermark');
      assert.equal(table.watermarks.length, report.chunks, 'one watermark per chunk');
      // Bounded backoff: retries are spaced, but the outage's end is noticed within the cap.
      const attemptsPerDay = held.length / 3;
      console.log(
        `      ${runs.length} runs of ${runs.map((r) => r.events).join(', ')} events; ${held.length} attempts of the held chunk`,
      );
      assert.ok(attemptsPerDay < 3 * 24 * 60, `${Math.round(attemptsPerDay)} activity attempts a day`);
    });
  });

  it('a chunk that fails after its first attempt keeps its watermark (version, event ids) through retries', async () => {
    const table = new OutageTable(250);
    let failures = 4; // the second chunk fails its 3 activity attempts, then once more
    table.failing = (i) => i.after?.[0] === 'k000099' && failures-- > 0;
    await withWorker(env, table, async (taskQueue) => {
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:fixed-watermark',
        args: [input()],
      });
      const report = await handle.result();
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, 250);
      const byChunk = new Map<string, SnapshotChunkInput[]>();
      for (const c of table.chunkCalls) {
        const k = c.after?.[0] ?? '';
        byChunk.set(k, [...(byChunk.get(k) ?? []), c]);
      }
      assert.deepEqual(
        [...byChunk.values()].map((c) => c.length),
        [1, 5, 1],
      );
      assert.equal(table.watermarks.length, 3, 'one watermark per chunk, none per retry');
      [...byChunk.values()].forEach((calls, i) => {
        for (const c of calls) assert.deepEqual(c.watermark, table.watermarks[i]);
      });
    });
  });

  it('`resume` while STUCK retries at once instead of waiting out the backoff', async () => {
    const table = new OutageTable(150);
    let down = true;
    const attempts: { scheduledMs: number; ok: boolean }[] = [];
    table.failing = (i, scheduledMs) => {
      const fail = i.after?.[0] === 'k000099' && down;
      if (i.after?.[0] === 'k000099') attempts.push({ scheduledMs, ok: !fail });
      return fail;
    };
    await withWorker(env, table, async (taskQueue) => {
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:resume-now',
        args: [input()],
      });
      // Held long enough for the backoff to reach its cap (5 min).
      for (let i = 0; i < 60; i++) {
        const p = await handle.query(backfillProgressQuery);
        if (p.state === 'STUCK' && (p.lastError?.attempts ?? 0) >= 12) break;
        await env.sleep('1 minute');
      }
      assert.ok((await handle.query(backfillProgressQuery)).lastError!.attempts >= 12);
      down = false;
      const signalledMs = await env.currentTimeMs();
      await handle.signal(resumeBackfillSignal);
      const report = await handle.result();
      assert.equal(report.state, 'DONE');
      assert.ok(report.notes.some((n) => n.includes('resume: retrying now')));
      const ok = attempts.find((a) => a.ok)!;
      assert.ok(
        ok.scheduledMs - signalledMs < 30_000,
        `retried ${ok.scheduledMs - signalledMs} ms after resume`,
      );
    });
  });

  it("takes the next chunk's watermark from the chunk before (no activity of its own), still fixed through retries", async () => {
    const table = new OutageTable(250);
    table.giveNext = true;
    let failures = 4;
    table.failing = (i) => i.after?.[0] === 'k000099' && failures-- > 0;
    await withWorker(env, table, async (taskQueue) => {
      const handle = await env.client.workflow.start(backfillWorkflow, {
        taskQueue,
        workflowId: 'cdc-backfill:next-watermark',
        args: [input()],
      });
      const report = await handle.result();
      assert.equal(report.state, 'DONE');
      assert.equal(report.counters.read, 250);
      assert.equal(table.watermarks.length, 1, 'backfillWatermark only for the first chunk');
      const second = table.chunkCalls.filter((c) => c.after?.[0] === 'k000099');
      assert.equal(second.length, 5);
      for (const c of second) assert.deepEqual(c.watermark, table.nexts[0]);
    });
  });
});
