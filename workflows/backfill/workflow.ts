/**
 * The backfill workflow (`cdc-backfill:<id>`, docs/backfill.md): plan, then chunk after chunk
 * (one activity each: snapshot, reconcile or replay), paced by workflow timers, pausable,
 * cancellable between chunks, resumable from the last completed chunk (the cursor is in the
 * state, carried across continue-as-new). Rows never enter history: chunks return counts and
 * cursors. A snapshot chunk's (and reconcile page's) watermark is taken before its first attempt
 * and kept in the state, so its retries write and publish the same events. A failing step is held
 * with a bounded backoff; a long hold continues as new like a long backfill does.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ChunkResultBase, ChunkWatermark } from '../../domain/backfill/chunks';
import { addCounts } from '../../domain/backfill/chunks';
import { historyIsLong, holdDelayMs } from '../../domain/backfill/hold';
import { chunkLimit, pacingDelayMs } from '../../domain/backfill/progress';
import { BackfillRequestSchema, MAX_RATE_LIMIT, requestProblem } from '../../domain/backfill/request';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';
import { retryStep, type StepFailure } from '../common/stepRetry';
import {
  backfillProgressQuery,
  cancelBackfillSignal,
  pauseBackfillSignal,
  resumeBackfillSignal,
  setRateLimitSignal,
  type BackfillInput,
  type BackfillReport,
} from './definitions';
import {
  carried,
  currentTable,
  initialState,
  note,
  progressOf,
  recordChunkTime,
  restartPacing,
  type BackfillRunState,
} from './state';
import { show } from './visibility';

/**
 * A chunk is retried 3 times by Temporal (a worker crash: its heartbeat times out and another
 * worker runs it again); after that the workflow holds it, STUCK, and keeps retrying with a
 * backoff of 1 s doubling to 5 min (domain/backfill/hold.ts).
 */
const CHUNK: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
};
const act = proxyActivities<Activities>(CHUNK);
/** Changes of commands, so that histories recorded before them still replay. */
const PATCH_FIXED_WATERMARK = 'backfill-fixed-watermark';
const PATCH_HISTORY_LIMIT = 'backfill-history-limit';
/** A signal ends a held step's wait (resume while STUCK retries at once). */
const PATCH_HOLD_WAKE = 'backfill-hold-wake';
/** A replay chunk that found nothing yet before its end waits this long before asking again. */
const IDLE_MS = 1_000;

export async function backfillWorkflow(input: BackfillInput): Promise<BackfillReport> {
  const { resume, ...request } = input ?? ({} as BackfillInput);
  const problem = requestProblem(request);
  if (problem)
    throw ApplicationFailure.nonRetryable(`invalid backfill input: ${problem}`, 'InvalidBackfillInput');
  const valid = BackfillRequestSchema.parse(request);
  const id = valid.id ?? workflowInfo().workflowId.replace(/^cdc-backfill:/, '');
  const s = initialState(request, { ...valid, id }, resume, Date.now());
  handleSignals(s);
  show(s);

  if (!s.planned) {
    const plan = await attempt(s, 'plan', () => act.planBackfill(valid));
    if (plan) {
      s.tables = plan.tables;
      if (plan.shards) {
        s.shards = plan.shards.map((x) => ({ ...x, done: false, read: 0 }));
        s.untilMs = valid.replay?.until ? Date.parse(valid.replay.until) : Date.parse(s.startedAt);
      }
      if (plan.stream) s.stream = plan.stream;
      s.planned = true;
      show(s);
    }
  }
  for (;;) {
    await condition(() => !s.paused || s.cancelRequested);
    if (s.cancelRequested || !s.planned) break;
    const more = await nextChunk(s);
    if (!more) break;
    show(s);
    await pace(s);
    const info = workflowInfo();
    if (
      !s.cancelRequested &&
      (s.chunksThisRun >= s.request.chunksPerRun ||
        info.continueAsNewSuggested ||
        (historyIsLong(info, s.request.maxHistoryEvents) && patched(PATCH_HISTORY_LIMIT)))
    )
      await continueRun(s);
  }
  s.state = s.cancelRequested ? 'CANCELLED' : 'DONE';
  note(
    s,
    s.state === 'DONE' ? 'done' : `cancelled${s.cancelReason ? `: ${s.cancelReason}` : ''}`,
    Date.now(),
  );
  show(s);
  await condition(allHandlersFinished);
  return progressOf(s);
}

/** Continues as new with everything the next run needs (the request as given, the carried state). */
async function continueRun(s: BackfillRunState): Promise<never> {
  await condition(allHandlersFinished);
  return continueAsNew<typeof backfillWorkflow>({ ...s.input, id: s.id, resume: carried(s) });
}

/**
 * The watermark of the chunk at the cursor: the one kept from its first attempt, or a new one
 * (`backfillWatermark`, held like a chunk). Undefined for histories from before watermarks were
 * kept (the chunk takes its own); null when a cancel ended the hold.
 */
async function chunkWatermark(
  s: BackfillRunState,
  table: string,
): Promise<ChunkWatermark | undefined | null> {
  if (s.chunkWatermark) return s.chunkWatermark;
  if (!patched(PATCH_FIXED_WATERMARK)) return undefined;
  const w = await attempt(s, `watermark ${table}`, () =>
    act.backfillWatermark.executeWithOptions(
      { ...CHUNK, summary: `watermark ${table}: chunk ${s.chunks + 1}` },
      [{ backfillId: s.id, table }],
    ),
  );
  if (!w) return null;
  s.chunkWatermark = w;
  return w;
}

/** Runs the next chunk and records it; false when nothing is left (or a cancel came while it was held). */
async function nextChunk(s: BackfillRunState): Promise<boolean> {
  const stream = s.stream;
  const mode = s.request.mode;
  const limit = chunkLimit(s.request.chunkSize, s.rateLimit);
  if (mode === 'replay') {
    const shard = s.shards?.[s.shardIndex];
    if (!shard || !stream) return false;
    const r = await attempt(s, `replay ${shard.shardId}`, () =>
      act.replayChunk.executeWithOptions(
        {
          ...CHUNK,
          summary: `replay ${shard.shardId}: chunk ${s.chunks + 1}, ${s.counters.read} records so far`,
        },
        [
          {
            backfillId: s.id,
            stream,
            shardId: shard.shardId,
            start: shard.start,
            untilMs: s.untilMs!,
            ...(s.request.tables !== 'all' ? { tables: s.request.tables } : {}),
            limit,
          },
        ],
      ),
    );
    if (!r) return !s.cancelRequested;
    record(s, r);
    shard.read += r.read;
    if (r.lastSequenceNumber)
      shard.start = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: r.lastSequenceNumber };
    if (r.done) {
      shard.done = true;
      s.shardIndex++;
    } else if (r.read === 0) await condition(() => s.cancelRequested, IDLE_MS);
    return true;
  }
  const table = currentTable(s);
  if (!table) return false;
  const watermark = await chunkWatermark(s, table.table);
  if (watermark === null) return !s.cancelRequested;
  const fixed = watermark ? { watermark } : {};
  if (mode === 'snapshot') {
    const r = await attempt(s, `snapshot ${table.table}`, () =>
      act.backfillChunk.executeWithOptions(
        {
          ...CHUNK,
          summary: `snapshot ${table.table}: chunk ${s.chunks + 1}, ${s.counters.read} rows so far`,
        },
        [
          {
            backfillId: s.id,
            table: table.table,
            ...(s.request.filter ? { filter: s.request.filter } : {}),
            ...(s.after ? { after: s.after } : {}),
            limit,
            ...fixed,
          },
        ],
      ),
    );
    if (!r) return !s.cancelRequested;
    record(s, r);
    if (r.after) s.after = r.after;
    if (r.done) nextTable(s);
    return true;
  }
  const r = await attempt(s, `reconcile ${table.table}`, () =>
    act.reconcileChunk.executeWithOptions(
      {
        ...CHUNK,
        summary: `reconcile ${table.table}: page ${s.chunks + 1}, ${s.counters.read} items so far`,
      },
      [
        {
          backfillId: s.id,
          table: table.table,
          ...(s.scanCursor ? { cursor: s.scanCursor } : {}),
          limit,
          ...fixed,
        },
      ],
    ),
  );
  if (!r) return !s.cancelRequested;
  record(s, r);
  if (r.cursor) s.scanCursor = r.cursor;
  if (r.done) nextTable(s);
  return true;
}

function nextTable(s: BackfillRunState): void {
  const t = currentTable(s);
  note(s, `${t?.table ?? '?'} done`, Date.now());
  s.tableIndex++;
  s.readBeforeTable = s.counters.read;
  delete s.after;
  delete s.scanCursor;
}

function record(s: BackfillRunState, r: ChunkResultBase): void {
  addCounts(s.counters, r);
  // The next chunk's watermark: the one this chunk took after its read, or (absent) its own.
  delete s.chunkWatermark;
  if (r.nextWatermark) s.chunkWatermark = r.nextWatermark;
  s.chunks++;
  s.chunksThisRun++;
  if (r.lastKeyLabel !== undefined) {
    // The key of a table with redaction rules is never shown (current details bypass the codec).
    const sensitive = s.request.mode !== 'replay' && currentTable(s)?.sensitive;
    s.lastKeyLabel = sensitive && !r.lastKeyLabel.startsWith('hash:') ? undefined : r.lastKeyLabel;
  }
  if (r.reasons?.length) note(s, `refused: ${r.reasons[0]}`, Date.now());
  recordChunkTime(s, r.read, Date.now());
}

/** Sleeps until the rows read since the pacing window began are due at the rate limit; a signal wakes it. */
async function pace(s: BackfillRunState): Promise<void> {
  const delay = pacingDelayMs(s.window, s.rateLimit, Date.now());
  if (delay <= 0) return;
  const wake = s.wake;
  await condition(() => s.wake !== wake, delay);
}

/**
 * Runs an activity; when it fails after its retries, holds: STUCK with the error in the
 * progress and the Web UI, retried with a bounded backoff until it succeeds, reacting to pause,
 * cancel and `resume` (retry now). What cannot heal by retrying (configuration: an unknown table
 * or column) fails the backfill. When the run's history grows long the hold continues as new
 * (the cursor, the counts, the chunk's watermark and the hold itself are carried), so an outage
 * of days never reaches the history limit. Undefined when a cancel ends the hold.
 */
async function attempt<T>(s: BackfillRunState, what: string, run: () => Promise<T>): Promise<T | undefined> {
  return retryStep<T, undefined>({
    run,
    failures: s.failures,
    onRecovered: () => {
      s.failures = 0;
      delete s.lastError;
      s.state = s.paused ? 'PAUSED' : 'RUNNING';
      note(s, `${what} recovered`, Date.now());
    },
    onFailure: async ({ type, message }: StepFailure, failures: number) => {
      s.failures = failures;
      s.lastError = { message, type, attempts: failures, at: new Date(Date.now()).toISOString() };
      if ((NON_RETRYABLE_FAILURE_TYPES as string[]).includes(type)) {
        s.state = 'FAILED';
        note(s, `${what} failed: ${message}`, Date.now());
        show(s);
        throw ApplicationFailure.nonRetryable(
          `backfill ${s.id}: ${what} failed: ${message}`,
          'BackfillFailed',
        );
      }
      s.state = 'STUCK';
      show(s);
      if (historyIsLong(workflowInfo(), s.request.maxHistoryEvents) && patched(PATCH_HISTORY_LIMIT)) {
        note(s, `${what} held for ${s.failures} attempts: continuing as new`, Date.now());
        await continueRun(s);
      }
    },
    wait: async () => {
      // A signal (resume: retry now) ends the wait early; histories recorded before the patch waited
      // for the timer whatever came, and must replay that way.
      const wakeable = patched(PATCH_HOLD_WAKE);
      const wake = s.wake;
      await condition(() => s.cancelRequested || (wakeable && s.wake !== wake), holdDelayMs(s.failures));
      await condition(() => !s.paused || s.cancelRequested);
      return s.cancelRequested ? { stop: undefined } : undefined;
    },
  });
}

function handleSignals(s: BackfillRunState): void {
  const wake = () => {
    s.wake++;
    show(s);
  };
  setHandler(backfillProgressQuery, () => progressOf(s));
  setHandler(pauseBackfillSignal, (arg) => {
    const reason = typeof arg?.reason === 'string' ? arg.reason.slice(0, 300) : 'paused by an operator';
    s.paused = true;
    s.pausedReason = reason;
    if (s.state === 'RUNNING') s.state = 'PAUSED';
    note(s, `pause: ${reason}`, Date.now());
    wake();
  });
  setHandler(resumeBackfillSignal, () => {
    if (!s.paused && s.state === 'STUCK' && patched(PATCH_HOLD_WAKE)) {
      note(s, 'resume: retrying now', Date.now());
      return wake();
    }
    if (!s.paused) return;
    s.paused = false;
    delete s.pausedReason;
    if (s.state === 'PAUSED') s.state = 'RUNNING';
    restartPacing(s, Date.now());
    note(s, 'resume', Date.now());
    wake();
  });
  setHandler(cancelBackfillSignal, (arg) => {
    s.cancelRequested = true;
    if (typeof arg?.reason === 'string') s.cancelReason = arg.reason.slice(0, 300);
    note(
      s,
      `cancel requested${s.cancelReason ? `: ${s.cancelReason}` : ''}: finishing the current chunk`,
      Date.now(),
    );
    wake();
  });
  setHandler(setRateLimitSignal, (arg) => {
    const n = typeof arg === 'number' ? arg : typeof arg === 'object' && arg ? arg.rowsPerSecond : NaN;
    if (typeof n !== 'number' || !(n > 0) || n > MAX_RATE_LIMIT) {
      note(s, `setRateLimit ignored: expected rows per second in (0, ${MAX_RATE_LIMIT}]`, Date.now());
      return wake();
    }
    note(s, `rate limit ${s.rateLimit} → ${n} rows/s`, Date.now());
    s.rateLimit = n;
    restartPacing(s, Date.now());
    wake();
  });
}
