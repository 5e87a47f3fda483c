import type { Client } from '@temporalio/client';
import { captureWorkflow } from '../workflows';
import type { CaptureWorkflowInput } from '../workflows/capture';
import { captureWorkflowId } from '../workflows/names';
import type { BatchSettings } from '../workflows/shardReader';
import type { PipelineConfig } from './config';
import { startConsumer } from './consumers';

export interface StartOptions {
  /** Batch settings for the shard readers. */
  settings?: Partial<BatchSettings>;
  rescanSeconds?: number;
  /** Start the supervisor and its shard readers (default true); false runs capture alone. */
  readers?: boolean;
  capture?: Pick<CaptureWorkflowInput, 'healthSeconds' | 'lagAlertBytes' | 'runMinutes' | 'recoverySeconds'>;
}

/**
 * Starts the long-running workflows of the pipeline (capture singleton and stream supervisor),
 * or leaves them be when they already run: safe to call on every start.
 */
export async function startPipeline(client: Client, config: PipelineConfig, opts: StartOptions = {}) {
  const capture = await client.workflow.start(captureWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: captureWorkflowId(config.slot),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [{ slot: config.slot, publication: config.publication, stream: config.stream, ...opts.capture }],
  });
  if (opts.readers === false) return { capture };
  // The configured consumer's supervisor, as every other consumer's is started (infra/consumers.ts).
  const supervisor = await startConsumer(client, config, {
    ...(opts.settings ? { settings: opts.settings } : {}),
    ...(opts.rescanSeconds ? { rescanSeconds: opts.rescanSeconds } : {}),
  });
  return { capture, supervisor };
}
