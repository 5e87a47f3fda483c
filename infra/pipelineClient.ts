import type { Client } from '@temporalio/client';
import { captureWorkflow, streamSupervisorWorkflow } from '../workflows';
import type { CaptureWorkflowInput } from '../workflows/capture';
import { captureWorkflowId, supervisorWorkflowId } from '../workflows/names';
import type { BatchSettings } from '../workflows/shardReader';
import type { PipelineConfig } from './config';

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
  const supervisor = await client.workflow.start(streamSupervisorWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: supervisorWorkflowId(config.stream, config.consumer),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [
      {
        stream: config.stream,
        consumer: config.consumer,
        ...(opts.settings ? { settings: opts.settings } : {}),
        ...(opts.rescanSeconds ? { rescanSeconds: opts.rescanSeconds } : {}),
      },
    ],
  });
  return { capture, supervisor };
}
