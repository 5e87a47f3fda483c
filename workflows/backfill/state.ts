/**
 * The backfill's whole state in one object (the part continue-as-new carries is `CarriedState`),
 * and the progress computed from it. Pure: no Temporal calls here.
 */
import { emptyCounts, type TablePlan } from '../../domain/backfill/chunks';
import {
  addSample,
  etaSeconds,
  measuredRate,
  percentDone,
  progressLine,
  type RateSample,
  type RateWindow,
} from '../../domain/backfill/progress';
import type { BackfillRequest, ValidBackfillRequest } from '../../domain/backfill/request';
import { MAX_NOTES, type BackfillProgress, type BackfillStateName, type CarriedState } from './definitions';

export interface BackfillRunState extends CarriedState {
  /** The request as given (continue-as-new passes it on as it came). */
  readonly input: BackfillRequest;
  readonly request: ValidBackfillRequest & { id: string };
  planned: boolean;
  state: BackfillStateName;
  /** Rows read at the end of recent chunks: the measured rate. */
  samples: RateSample[];
  /** Rows read since the rate last changed (or the backfill resumed): the pacing. */
  window: RateWindow;
  chunksThisRun: number;
  /** Consecutive failed attempts of the current chunk (STUCK from the first). */
  failures: number;
  lastError?: BackfillProgress['lastError'];
  /** Bumped by every signal, so a sleep between chunks reacts at once. */
  wake: number;
}

export function initialState(
  input: BackfillRequest,
  request: ValidBackfillRequest & { id: string },
  carried: CarriedState | undefined,
  nowMs: number,
): BackfillRunState {
  const c: CarriedState = carried ?? {
    id: request.id,
    tables: [],
    tableIndex: 0,
    shardIndex: 0,
    counters: emptyCounts(),
    chunks: 0,
    readBeforeTable: 0,
    rateLimit: request.rateLimit,
    paused: false,
    cancelRequested: false,
    startedAt: new Date(nowMs).toISOString(),
    notes: [],
    runs: 0,
  };
  const { held, ...rest } = c;
  return {
    ...rest,
    counters: { ...c.counters },
    notes: [...c.notes],
    runs: c.runs + 1,
    input,
    request,
    state: c.paused ? 'PAUSED' : held ? 'STUCK' : 'RUNNING',
    planned: carried !== undefined && carried.planned !== false,
    samples: [{ atMs: nowMs, rows: c.counters.read }],
    window: { startMs: nowMs, rows: 0 },
    chunksThisRun: 0,
    // A step held when the previous run continued as new goes on counting (and backing off).
    failures: held?.failures ?? 0,
    ...(held?.lastError ? { lastError: { ...held.lastError } } : {}),
    wake: 0,
  };
}

/** What the next run starts from. */
export function carried(s: BackfillRunState): CarriedState {
  const {
    input: _i,
    request: _r,
    state: _s,
    planned,
    samples: _samples,
    window: _w,
    chunksThisRun: _c,
    failures,
    lastError,
    wake: _wake,
    held: _h,
    ...rest
  } = s;
  return {
    ...rest,
    ...(planned ? {} : { planned: false }),
    ...(failures > 0 ? { held: { failures, ...(lastError ? { lastError: { ...lastError } } : {}) } } : {}),
  };
}

export function note(s: BackfillRunState, text: string, nowMs: number): void {
  s.notes.push(`${new Date(nowMs).toISOString()} ${text}`.slice(0, 400));
  s.notes.splice(0, Math.max(0, s.notes.length - MAX_NOTES));
}

/** After a chunk: its sample for the measured rate, its rows for the pacing. */
export function recordChunkTime(s: BackfillRunState, read: number, nowMs: number): void {
  s.samples = addSample(s.samples, { atMs: nowMs, rows: s.counters.read });
  s.window.rows += read;
}

/** A new pacing window (the rate changed, the backfill resumed): the past does not count. */
export function restartPacing(s: BackfillRunState, nowMs: number): void {
  s.window = { startMs: nowMs, rows: 0 };
  s.samples = [{ atMs: nowMs, rows: s.counters.read }];
}

export const currentTable = (s: BackfillRunState): TablePlan | undefined => s.tables[s.tableIndex];

/** The rows the whole backfill is estimated to read (snapshot with every table estimated). */
export function totalEstimate(s: BackfillRunState): number | undefined {
  if (s.request.mode !== 'snapshot' || !s.tables.length) return undefined;
  let sum = 0;
  for (const t of s.tables) {
    if (t.estimate === undefined) return undefined;
    sum += t.estimate;
  }
  // Tables already read count with what they really had.
  const done = s.tables.slice(0, s.tableIndex).reduce((n, t) => n + (t.estimate ?? 0), 0);
  return Math.max(sum - done + s.readBeforeTable, s.counters.read);
}

export function progressOf(s: BackfillRunState): BackfillProgress {
  const finished = s.state === 'DONE';
  const rate = measuredRate(s.samples);
  const estimate = totalEstimate(s);
  const eta = finished ? 0 : etaSeconds(s.counters.read, estimate, rate);
  const percent = percentDone(s.counters.read, estimate, finished);
  const current = s.request.mode === 'replay' ? s.shards?.[s.shardIndex]?.shardId : currentTable(s)?.table;
  return {
    id: s.id,
    mode: s.request.mode,
    state: s.state,
    tables: s.tables.map((t) => t.table),
    ...(current ? { current } : {}),
    counters: { ...s.counters },
    chunks: s.chunks,
    ...(s.lastKeyLabel !== undefined ? { lastKey: s.lastKeyLabel } : {}),
    rateLimit: s.rateLimit,
    ...(rate !== undefined ? { rate: Math.round(rate) } : {}),
    ...(estimate !== undefined ? { estimate } : {}),
    ...(eta !== undefined ? { etaSeconds: eta } : {}),
    ...(percent !== undefined ? { percent } : {}),
    line: progressLine({ done: s.counters.read, estimate, rate, finished }),
    startedAt: s.startedAt,
    ...(s.pausedReason !== undefined ? { pausedReason: s.pausedReason } : {}),
    ...(s.cancelReason !== undefined ? { cancelReason: s.cancelReason } : {}),
    ...(s.lastError ? { lastError: { ...s.lastError } } : {}),
    notes: [...s.notes],
    ...(s.shards ? { shards: s.shards.map((x) => ({ ...x })) } : {}),
  };
}
