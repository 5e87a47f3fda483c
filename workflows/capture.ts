import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  proxyActivities,
  workflowInfo,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CAPTURE_FATAL_FAILURE_TYPES } from '../domain/core/errors';
import type { SlotHealth } from '../domain/capture/captureTypes';

export interface CaptureWorkflowInput {
  slot: string;
  publication: string;
  /** One activity run holds the replication stream this long, then returns and is started again. */
  runMinutes?: number;
  /** How often slot health is read and the heartbeat row written. */
  healthSeconds?: number;
  /** Unacknowledged WAL above which `alert.replication_lag` is raised (once per crossing). */
  lagAlertBytes?: number;
  /** Carried across continue-as-new. */
  lagging?: boolean;
  captureRuns?: number;
}

export interface CaptureStatus {
  slot: string;
  health?: SlotHealth;
  lagging: boolean;
  lagAlertBytes: number;
  captureRuns: number;
  lastAlertId?: string;
}

export const healthQuery = defineQuery<CaptureStatus>('health');

const { captureChanges } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15 seconds',
  // Wait for a cancelled run to close its replication connection before the next one starts.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: CAPTURE_FATAL_FAILURE_TYPES,
  },
});
const health = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: {
    maximumInterval: '10 seconds',
    maximumAttempts: 3,
    nonRetryableErrorTypes: CAPTURE_FATAL_FAILURE_TYPES,
  },
});

/**
 * Singleton per slot: keeps the capture activity running somewhere (if a worker dies, another
 * resumes from the slot), and beside it watches slot health: lag and retained WAL (query
 * `health`), a heartbeat row so a quiet database does not retain WAL forever, and an alert when
 * the lag passes its threshold.
 */
export async function captureWorkflow(input: CaptureWorkflowInput): Promise<void> {
  const healthMs = (input.healthSeconds ?? 30) * 1000;
  const lagAlertBytes = input.lagAlertBytes ?? 256 * 1024 * 1024;
  let lagging = input.lagging ?? false;
  let captureRuns = input.captureRuns ?? 0;
  let slotHealth: SlotHealth | undefined;
  let lastAlertId: string | undefined;
  setHandler(healthQuery, () => ({
    slot: input.slot,
    ...(slotHealth ? { health: slotHealth } : {}),
    lagging,
    lagAlertBytes,
    captureRuns,
    ...(lastAlertId ? { lastAlertId } : {}),
  }));

  let failure: unknown;
  let stopped = false;
  const scope = new CancellationScope();
  const capturing = scope
    .run(async () => {
      for (;;) {
        await captureChanges({
          slot: input.slot,
          publication: input.publication,
          maxRunMs: (input.runMinutes ?? 30) * 60_000,
        });
        captureRuns++;
      }
    })
    .catch((err: unknown) => {
      if (!isCancellation(err)) failure = err;
    })
    .finally(() => {
      stopped = true;
    });

  for (;;) {
    await condition(() => stopped, healthMs);
    if (failure) throw failure; // e.g. the slot does not exist: a clear, non-retryable error
    try {
      await health.writeCaptureHeartbeat(input.slot);
      slotHealth = await health.slotHealth(input.slot);
      if (!lagging && slotHealth.lagBytes > lagAlertBytes) {
        // Marked only once raised: an alert that failed to go out is tried again next round.
        lastAlertId = await health.raiseReplicationLagAlert({
          slot: input.slot,
          lagBytes: slotHealth.lagBytes,
          walRetainedBytes: slotHealth.walRetainedBytes,
          thresholdBytes: lagAlertBytes,
          at: slotHealth.checkedAt,
        });
        lagging = true;
      } else if (lagging && slotHealth.lagBytes < lagAlertBytes / 2) {
        lagging = false; // re-arm once the lag is well below the threshold
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Health is advisory; capture goes on. The next round tries again.
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > 5_000) {
      scope.cancel();
      await capturing;
      if (failure) throw failure;
      await continueAsNew<typeof captureWorkflow>({ ...input, lagging, captureRuns });
    }
  }
}
