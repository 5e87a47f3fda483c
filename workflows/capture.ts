import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RetryPolicy, SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  CAPTURE_FATAL_FAILURE_TYPES,
  holdBackoffMs,
  isFailureType,
  type FailureType,
} from '../domain/core/errors';
import type { SlotHealth } from '../domain/capture/captureTypes';
import { retryStep, type StepFailure } from './common/stepRetry';
import { SA, type ShardState } from './names';

export interface CaptureWorkflowInput {
  slot: string;
  publication: string;
  /** The Kinesis stream capture writes to, shown as `CdcStream` (optional: older starts lack it). */
  stream?: string;
  /** One activity run holds the replication stream this long, then returns and is started again. */
  runMinutes?: number;
  /**
   * After a failure, a run holds the stream at most this long, so that a run that completes
   * shows capture recovered (RUNNING) without waiting for a full run.
   */
  recoverySeconds?: number;
  /** How often slot health is read and the heartbeat row written (default 120 s; 30 s in runs before CAPTURE_IDLE_COST_PATCH). */
  healthSeconds?: number;
  /** Unacknowledged WAL above which `alert.replication_lag` is raised (once per crossing). */
  lagAlertBytes?: number;
  /** Continue-as-new after this many history events even if the server has not suggested it yet. */
  maxHistoryEvents?: number;
  /** Carried across continue-as-new. */
  lagging?: boolean;
  captureRuns?: number;
  /** Carried across continue-as-new: capture was failing, shown as STUCK from the start. */
  held?: CaptureError;
}

/** What capture shows: running, or failing again and again (`CdcState`). */
export type CaptureState = Extract<ShardState, 'RUNNING' | 'STUCK'>;

/** The failure capture is held by (the last one, while STUCK). No row data: errors name no values. */
export interface CaptureError {
  step: 'capture';
  /** The failure type of the error registry (domain/core/errors.ts); `unknown` for timeouts and others. */
  category: FailureType | 'unknown';
  message: string;
  /** Failed runs in a row; each run is one activity with its own few retries. */
  failures: number;
  /** Failed activity attempts in a row. */
  attempts: number;
  /** First failure of this streak. */
  since: string;
  at: string;
  /** When capture tries again. */
  retryAt?: string;
}

export interface CaptureStatus {
  slot: string;
  stream?: string;
  state: CaptureState;
  /** The last failure (kept after recovery, for the record). */
  lastError?: CaptureError;
  health?: SlotHealth;
  /** The source epoch capture's changes carry (from `health.source`; docs/failover.md). */
  epoch?: number;
  lagging: boolean;
  lagAlertBytes: number;
  captureRuns: number;
  lastAlertId?: string;
}

export const healthQuery = defineQuery<CaptureStatus>('health');

/**
 * Runs started before this change retry the capture activity forever inside Temporal and show no
 * state; runs started after it retry it a few times, then hold and show STUCK in the workflow.
 * Replace with `deprecatePatch` once no run started before it is open, then remove.
 */
export const CAPTURE_HELD_IN_WORKFLOW_PATCH = 'capture-held-in-workflow';

/**
 * Runs started after this change cost fewer Temporal actions idle: slot health and the heartbeat
 * row every 2 minutes (not 30 s), and the capture activity's heartbeat timeout 60 s (not 15 s),
 * so the SDK sends one heartbeat in 48 s, not in 12 (each one that reaches the server is an action).
 */
export const CAPTURE_IDLE_COST_PATCH = 'capture-idle-cost';

/** Activity attempts of one capture run before the workflow sees the failure. */
export const CAPTURE_ATTEMPTS = 3;

const captureActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '15 seconds',
  // Wait for a cancelled run to close its replication connection before the next one starts.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
const heldRetry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '10 seconds',
  maximumAttempts: CAPTURE_ATTEMPTS,
  nonRetryableErrorTypes: CAPTURE_FATAL_FAILURE_TYPES,
};
/** Bounded: the workflow holds, backs off and shows STUCK (holdBackoffMs); the slot types are fatal. */
const held15s = proxyActivities<Activities>({ ...captureActivityOptions, retry: heldRetry });
/** The same with fewer heartbeats reaching the server (CAPTURE_IDLE_COST_PATCH): a lost worker is noticed within 60 s. */
const held60s = proxyActivities<Activities>({
  ...captureActivityOptions,
  heartbeatTimeout: '60 seconds',
  retry: heldRetry,
});
/** Before the patch: Temporal retried forever and the workflow never saw a failure. */
const legacy = proxyActivities<Activities>({
  ...captureActivityOptions,
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
 * the lag passes its threshold. A run that keeps failing holds capture: STUCK with the error in
 * the Web UI, retried with backoff, RUNNING again once a run succeeds. A slot that is missing or
 * invalidated fails the workflow (an operator must re-provision and backfill).
 */
export async function captureWorkflow(input: CaptureWorkflowInput): Promise<void> {
  const heldInWorkflow = patched(CAPTURE_HELD_IN_WORKFLOW_PATCH);
  const idleCost = heldInWorkflow && patched(CAPTURE_IDLE_COST_PATCH);
  const { captureChanges } = idleCost ? held60s : held15s;
  const healthMs = (input.healthSeconds ?? (idleCost ? 120 : 30)) * 1000;
  const runMs = (input.runMinutes ?? 30) * 60_000;
  const recoveryMs = Math.min(runMs, (input.recoverySeconds ?? 60) * 1000);
  const lagAlertBytes = input.lagAlertBytes ?? 256 * 1024 * 1024;
  let lagging = input.lagging ?? false;
  let captureRuns = input.captureRuns ?? 0;
  let held = input.held;
  let lastError = input.held;
  let slotHealth: SlotHealth | undefined;
  let lastAlertId: string | undefined;
  const show = new CaptureVisibility(input, heldInWorkflow);
  setHandler(healthQuery, () => ({
    slot: input.slot,
    ...(input.stream ? { stream: input.stream } : {}),
    state: held ? 'STUCK' : 'RUNNING',
    ...(lastError ? { lastError } : {}),
    ...(slotHealth ? { health: slotHealth } : {}),
    ...(slotHealth?.source ? { epoch: slotHealth.source.epoch } : {}),
    lagging,
    lagAlertBytes,
    captureRuns,
    ...(lastAlertId ? { lastAlertId } : {}),
  }));
  show.update(held);

  let failure: unknown;
  let stopped = false;
  const scope = new CancellationScope();
  const capturing = scope
    .run(async () => {
      for (;;) {
        const args = { slot: input.slot, publication: input.publication };
        if (!heldInWorkflow) {
          await legacy.captureChanges({ ...args, maxRunMs: runMs });
          captureRuns++;
          continue;
        }
        let backoffMs = 0;
        await retryStep({
          run: () => captureChanges({ ...args, maxRunMs: held ? recoveryMs : runMs }),
          failures: held?.failures ?? 0,
          onRecovered: () => {
            log.info('capture recovered', { slot: input.slot, failedRuns: held?.failures });
            held = undefined;
            show.update(held);
          },
          onFailure: (f) => {
            // What retrying cannot heal (no slot, no publication) fails the workflow.
            if ((CAPTURE_FATAL_FAILURE_TYPES as string[]).includes(f.type)) throw f.error;
            held = captureError(f, held);
            backoffMs = holdBackoffMs(
              isFailureType(held.category) ? held.category : 'transient',
              held.failures,
            );
            held.retryAt = new Date(Date.now() + backoffMs).toISOString();
            lastError = held;
            log.warn('capture failing; holding with backoff', { slot: input.slot, ...held });
            show.update(held);
          },
          wait: () => sleep(backoffMs),
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
    if (info.continueAsNewSuggested || info.historyLength > (input.maxHistoryEvents ?? 5_000)) {
      scope.cancel();
      await capturing;
      if (failure) throw failure;
      await continueAsNew<typeof captureWorkflow>({ ...input, lagging, captureRuns, held });
    }
  }
}

/** The slot is gone or unusable: retrying cannot help. */
function captureError(failure: StepFailure, previous: CaptureError | undefined): CaptureError {
  const err = failure.error;
  const attempts =
    err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' ? CAPTURE_ATTEMPTS : 1;
  const now = new Date().toISOString();
  return {
    step: 'capture',
    category: isFailureType(failure.type) ? failure.type : 'unknown',
    message: failure.message,
    failures: (previous?.failures ?? 0) + 1,
    attempts: (previous?.attempts ?? 0) + attempts,
    since: previous?.since ?? now,
    at: now,
  };
}

/**
 * What the Web UI shows of capture: `CdcStream`, `CdcState` (RUNNING or STUCK; upserted only when
 * it changes) and, while STUCK, current details: the error, the slot and what to do. Runs started
 * before the patch show nothing (their histories have no such commands).
 */
class CaptureVisibility {
  private shown: CaptureState | undefined;

  constructor(
    private readonly input: CaptureWorkflowInput,
    private readonly enabled: boolean,
  ) {}

  update(held: CaptureError | undefined): void {
    if (!this.enabled) return;
    const state: CaptureState = held ? 'STUCK' : 'RUNNING';
    if (state !== this.shown) {
      const pairs: SearchAttributeUpdatePair[] = [{ key: SA.state, value: state }];
      if (this.shown === undefined && this.input.stream)
        pairs.push({ key: SA.stream, value: this.input.stream });
      upsertSearchAttributes(pairs);
      this.shown = state;
    }
    setCurrentDetails(held ? this.stuckDetails(held) : '');
  }

  private stuckDetails(e: CaptureError): string {
    const { slot, stream } = this.input;
    return [
      `**STUCK** in \`capture\` (slot \`${slot}\`${stream ? `, stream \`${stream}\`` : ''}): ${e.failures} failed runs in a row, ${e.attempts} attempts`,
      `- error (${e.category}): ${e.message}`,
      `- failing since ${e.since}; next attempt ${e.retryAt ? `at ${e.retryAt}` : 'now'}`,
      `- meanwhile PostgreSQL retains WAL for the slot: query \`health\` for the lag and retained WAL`,
      `- act: fix what the error names: PostgreSQL reachable (the slot: \`SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = '${slot}'\`)${stream ? `, the Kinesis stream \`${stream}\` present and writable` : ', the Kinesis stream present and writable'}, the worker's logs. Capture retries by itself with backoff and returns to RUNNING once a run succeeds.`,
    ].join('\n');
  }
}
