/**
 * The arithmetic of a backfill's pace and progress (pure; the workflow and the CLI share it):
 * how long to sleep to keep a rate, the rate measured, the ETA, the progress line.
 */

/** Rows counted since `startMs` (reset when the rate changes or the backfill resumes). */
export interface RateWindow {
  startMs: number;
  rows: number;
}

/**
 * How long to wait before the next chunk so that the rows of the window stay at `rowsPerSecond`:
 * the time those rows are due at that rate, minus the time already spent.
 */
export function pacingDelayMs(window: RateWindow, rowsPerSecond: number, nowMs: number): number {
  if (!(rowsPerSecond > 0)) return 0;
  const dueMs = window.startMs + (window.rows / rowsPerSecond) * 1000;
  return Math.max(0, Math.ceil(dueMs - nowMs));
}

/**
 * Rows to ask for in one chunk: the chunk size, but not more than one second of the rate (so a
 * low rate is kept smoothly, not in bursts of a whole chunk followed by long sleeps).
 */
export function chunkLimit(chunkSize: number, rowsPerSecond: number): number {
  return Math.max(1, Math.min(chunkSize, Math.ceil(rowsPerSecond)));
}

export interface RateSample {
  atMs: number;
  /** Rows read so far (cumulative). */
  rows: number;
}

/** Keeps the last `keep` samples (the window the rate is measured over). */
export function addSample(samples: RateSample[], sample: RateSample, keep = 20): RateSample[] {
  return [...samples, sample].slice(-keep);
}

/** Rows per second between the first and the last sample; undefined with fewer than two or no time between. */
export function measuredRate(samples: readonly RateSample[]): number | undefined {
  if (samples.length < 2) return undefined;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const ms = last.atMs - first.atMs;
  if (ms <= 0) return undefined;
  return ((last.rows - first.rows) * 1000) / ms;
}

/** Seconds until `estimate` rows are read at `rate`; undefined when either is unknown. 0 when past the estimate. */
export function etaSeconds(
  done: number,
  estimate: number | undefined,
  rate: number | undefined,
): number | undefined {
  if (estimate === undefined || estimate < 0 || rate === undefined || !(rate > 0)) return undefined;
  return Math.max(0, Math.ceil((estimate - done) / rate));
}

/** Percent done (0–100) against an estimate; below 100 until `finished` (estimates are estimates). */
export function percentDone(
  done: number,
  estimate: number | undefined,
  finished = false,
): number | undefined {
  if (finished) return 100;
  if (estimate === undefined || estimate <= 0) return undefined;
  return Math.min(99, Math.floor((done * 100) / estimate));
}

/** 1234567 → "1,234,567" (no Intl: the same in a workflow sandbox). */
export function groupDigits(n: number): string {
  const s = String(Math.round(n));
  const neg = s.startsWith('-');
  const digits = neg ? s.slice(1) : s;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${grouped}` : grouped;
}

/** `[#####-----] 52%` (width cells), or `[??????????]` when the total is unknown. */
export function progressBar(percent: number | undefined, width = 10): string {
  if (percent === undefined) return `[${'?'.repeat(width)}]`;
  const filled = Math.max(0, Math.min(width, Math.floor((percent * width) / 100)));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent}%`;
}

/** `26 s`, `4 min 05 s`, `2 h 10 min`. */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined) return '?';
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** `[#####-----] 52% 52,000/100,000 rows, 1,830 rows/s, ETA 26 s` */
export function progressLine(p: {
  done: number;
  estimate?: number | undefined;
  rate?: number | undefined;
  finished?: boolean;
}): string {
  const percent = percentDone(p.done, p.estimate, p.finished);
  const total =
    p.estimate !== undefined && p.estimate >= 0 ? `/${groupDigits(Math.max(p.estimate, p.done))}` : '';
  const rate = p.rate !== undefined ? `, ${groupDigits(p.rate)} rows/s` : '';
  const eta = p.finished ? '' : `, ETA ${formatEta(etaSeconds(p.done, p.estimate, p.rate))}`;
  return `${progressBar(percent)} ${groupDigits(p.done)}${total} rows${rate}${eta}`;
}
