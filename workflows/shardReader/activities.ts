/** The activities a shard reader runs, and how: retried briefly by Temporal, then retried by the workflow (runStep.ts). */
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';

/**
 * Apply, publish, dead-letter and checkpoint: bounded by their start-to-close timeout only. They
 * do not heartbeat, so they get no heartbeat timeout (a large batch must not time out).
 */
export const ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
};

/** Activities doing I/O. */
export const io = proxyActivities<Activities>(ACTIVITY_OPTIONS);

/**
 * The pull waits up to `idleWaitMs` (60 s) for records and heartbeats only when its heartbeat
 * timeout requires it (activities/stream/streamReader.ts): an idle pull sends none, one action a
 * minute. A lost worker is noticed within the heartbeat timeout.
 */
export const pulling = proxyActivities<Activities>({
  ...ACTIVITY_OPTIONS,
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '75 seconds',
});

/** The pure CPU steps (transform, redact) as local activities: fewer history events per batch. */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: ACTIVITY_OPTIONS.retry,
});

/**
 * The steps of a chain (pull.ts): while records keep coming, pulls and steps run as local
 * activities in one workflow task. Not retried here: a failure falls back at once to the step's
 * activity above (its retries, then runStep's), so a failing step looks as it always did.
 */
export const chained = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 1 },
});
