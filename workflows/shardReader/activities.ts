/** The activities a shard reader runs, and how: retried briefly by Temporal, then held by the workflow (hold.ts). */
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

/** The pull heartbeats while it waits for records, so a lost worker is noticed within 20 s. */
export const pulling = proxyActivities<Activities>({ ...ACTIVITY_OPTIONS, heartbeatTimeout: '20 seconds' });

/** The pure CPU steps (transform, redact) as local activities: fewer history events per batch. */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: ACTIVITY_OPTIONS.retry,
});
