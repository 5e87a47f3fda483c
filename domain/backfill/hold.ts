/**
 * How the backfill workflow holds a chunk that keeps failing (a table's database down, DynamoDB
 * unavailable): retried with a backoff that doubles up to a cap, so an outage of days costs a
 * few hundred attempts a day; the workflow continues as new when a run's history grows long.
 * Pure: the workflow and its tests share it.
 */

/** The wait after the first failed attempt of a held chunk (after Temporal's own 3 attempts). */
export const HOLD_MIN_MS = 1_000;
/** The longest wait between two attempts: a recovered database is noticed within this (or at once with `resume`). */
export const HOLD_MAX_MS = 5 * 60_000;

/** The wait after `failures` failed attempts in a row (1, 2, 4 … seconds, at most HOLD_MAX_MS). */
export function holdDelayMs(failures: number): number {
  const n = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(HOLD_MAX_MS, HOLD_MIN_MS * 2 ** n);
}

/** Whether a run's history is long enough to continue as new. */
export function historyIsLong(
  info: { historyLength: number; continueAsNewSuggested: boolean },
  maxHistoryEvents: number,
): boolean {
  return info.continueAsNewSuggested || info.historyLength >= maxHistoryEvents;
}
