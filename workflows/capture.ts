import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

export interface CaptureWorkflowInput {
  slot: string;
  publication: string;
  /** One activity run holds the replication stream this long, then returns and is started again. */
  runMinutes?: number;
}

const { captureChanges } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['SlotMissing', 'SlotInvalidated'],
  },
});

/** Singleton per slot: keeps the capture activity running somewhere; if a worker dies, another resumes from the slot. */
export async function captureWorkflow(input: CaptureWorkflowInput): Promise<void> {
  const runMs = (input.runMinutes ?? 30) * 60_000;
  for (let run = 0; run < 20; run++) {
    await captureChanges({ slot: input.slot, publication: input.publication, maxRunMs: runMs });
  }
  await continueAsNew<typeof captureWorkflow>(input);
}
