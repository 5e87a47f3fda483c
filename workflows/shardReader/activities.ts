/** The activities a shard reader runs, and how: retried briefly by Temporal, then held by the workflow (hold.ts). */
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';

export const ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
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

/** The pure CPU steps (transform, redact) as local activities: fewer history events per batch. */
export const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: ACTIVITY_OPTIONS.retry,
});
