import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs, RETRY_BACKOFF, type BackoffKind } from '../domain/core/backoff';

/**
 * How the activities' retry loops wait between attempts: a random source for the jitter and a
 * sleep. The real ones by default; tests inject a seeded random and a sleep that records.
 */
export interface RetryWaits {
  /** Uniform in [0, 1). */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const REAL_RETRY_WAITS: RetryWaits = {
  random: Math.random,
  sleep: async (ms) => {
    await sleep(ms);
  },
};

/**
 * Waits the backoff of `kind` (RETRY_BACKOFF, full jitter) after `attempt` failed attempts, but
 * never longer than `maxMs` (a deadline's remaining time); resolves with the wait, in milliseconds.
 */
export async function backoff(
  kind: BackoffKind,
  attempt: number,
  waits: RetryWaits = REAL_RETRY_WAITS,
  maxMs = Infinity,
): Promise<number> {
  const ms = Math.max(0, Math.min(maxMs, backoffMs(attempt, RETRY_BACKOFF[kind], waits.random)));
  await waits.sleep(ms);
  return ms;
}
