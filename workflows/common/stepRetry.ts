/**
 * The step retry of the long-running workflows (shard reader, capture, backfill): an activity that
 * failed after Temporal's own attempts runs again and again, with a backoff the workflow decides,
 * until it succeeds, while the workflow shows the failure (STUCK), as PeerDB's flows do. What
 * differs per workflow comes in as callbacks: how a failure is recorded and shown, how long to
 * wait and what ends the wait early (a pause, a skip, a cancel, `resume`). The loop, the reading
 * of a failure and the recovery are here, once.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, TemporalFailure } from '@temporalio/workflow';

/** A failed attempt of a step, as its activity reported it. */
export interface StepFailure {
  /** The activity's failure type (a category of domain/core/errors.ts), `unknown` when it has none. */
  type: string;
  /** The activity's message (at most 500 characters; never row values, activities/failures.ts). */
  message: string;
  /** The activity's failure details (e.g. the record in trouble). */
  details: unknown[];
  error: TemporalFailure;
}

/**
 * A step's activity failed: an ActivityFailure (its cause the activity's error) from an activity,
 * the activity's own failure (ApplicationFailure, TimeoutFailure) from a local activity. Anything
 * else (a cancellation, a bug in the workflow) is not the step's to retry.
 */
export function isStepFailure(err: unknown): err is TemporalFailure {
  return err instanceof TemporalFailure && !isCancellation(err);
}

export function stepFailureOf(err: TemporalFailure): StepFailure {
  const cause =
    err instanceof ApplicationFailure
      ? err
      : err instanceof ActivityFailure && err.cause instanceof ApplicationFailure
        ? err.cause
        : undefined;
  return {
    type: cause?.type ?? 'unknown',
    message: (
      cause?.message ??
      (err instanceof ActivityFailure ? err.cause?.message : undefined) ??
      err.message
    ).slice(0, 500),
    details: cause?.details ? [...cause.details] : [],
    error: err,
  };
}

export interface StepRetry<T, S> {
  run: () => Promise<T>;
  /** Failed attempts already counted (a step still failing when the run continued as new). */
  failures?: number;
  /**
   * Records the failure (state, visibility, logs) before the wait. It may throw to stop retrying:
   * a failure retrying cannot heal, a continue-as-new.
   */
  onFailure: (failure: StepFailure, failures: number) => void | Promise<void>;
  /** Waits before the next attempt; `{ stop }` ends the retries with that value instead. */
  wait: (failure: StepFailure, failures: number) => Promise<{ stop: S } | void>;
  /** The step succeeded after `failures` failed attempts. */
  onRecovered?: (failures: number) => void;
}

/** Runs the step until it succeeds (its result) or a wait stops it (the wait's value). */
export async function retryStep<T, S = never>(step: StepRetry<T, S>): Promise<T | S> {
  let failures = step.failures ?? 0;
  for (;;) {
    try {
      const result = await step.run();
      if (failures > 0) step.onRecovered?.(failures);
      return result;
    } catch (err) {
      if (!isStepFailure(err)) throw err;
      const failure = stepFailureOf(err);
      failures++;
      await step.onFailure(failure, failures);
      const waited = await step.wait(failure, failures);
      if (waited) return waited.stop;
    }
  }
}
