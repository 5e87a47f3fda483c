import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { CaptureInput, SlotHealth } from '../../domain/capture/captureTypes';
import type { FailureType } from '../../domain/core/errors';
import { withWorker } from './workflowHarness';

/**
 * Stub capture activities for fast workflow tests on the time-skipping test server: a capture run
 * that fails on demand (with a failure type of the error registry) or returns after a short real
 * wait, and a slot that is always healthy. No PostgreSQL, no Kinesis: the integration tests cover
 * those.
 */
export class StubCapture {
  /** Every capture attempt, in order, with how it ended. */
  attempts: { input: CaptureInput; outcome: 'ok' | FailureType }[] = [];
  /** Decides each attempt: a failure type to throw, or undefined to succeed. */
  fail: (attempt: number) => FailureType | undefined = () => undefined;
  message = 'connect ECONNREFUSED 127.0.0.1:15432 (stub)';

  activities(): Partial<Activities> {
    return {
      captureChanges: async (input: CaptureInput) => {
        const type = this.fail(this.attempts.length + 1);
        this.attempts.push({ input, outcome: type ?? 'ok' });
        if (type) throw ApplicationFailure.create({ type, message: `Error: ${this.message}` });
        // A short real wait, like a run that holds the stream (the test server keeps its clock meanwhile).
        await new Promise((r) => setTimeout(r, 50));
        return { ackedLsn: '0/1', changes: 0, transactions: 0 };
      },
      writeCaptureHeartbeat: async () => undefined,
      slotHealth: async (slot: string): Promise<SlotHealth> => ({
        slot,
        active: true,
        walStatus: 'reserved',
        confirmedFlushLsn: '0/1',
        currentLsn: '0/1',
        lagBytes: 0,
        walRetainedBytes: 0,
        checkedAt: new Date().toISOString(),
      }),
    };
  }
}

/** Runs `fn` with a worker hosting the real workflows and the stub's activities on a fresh task queue. */
export const withCaptureWorker = withWorker;
