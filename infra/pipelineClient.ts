import type { Client } from '@temporalio/client';
import { captureWorkflow, streamSupervisorWorkflow } from '../workflows';
import { captureWorkflowId, supervisorWorkflowId } from '../workflows/names';
import type { BatchSettings } from '../workflows/shardReader';
import type { PipelineConfig } from './config';

/**
 * Starts the long-running workflows of the pipeline (capture singleton and stream supervisor),
 * or leaves them be when they already run: safe to call on every start.
 */
export async function startPipeline(
  client: Client,
  config: PipelineConfig,
  settings?: Partial<BatchSettings>,
  supervisor: { rescanSeconds?: number } = {},
) {
  const capture = await client.workflow.start(captureWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: captureWorkflowId(config.slot),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [{ slot: config.slot, publication: config.publication }],
  });
  const supervisorHandle = await client.workflow.start(streamSupervisorWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: supervisorWorkflowId(config.stream, config.consumer),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [
      { stream: config.stream, consumer: config.consumer, ...(settings ? { settings } : {}), ...supervisor },
    ],
  });
  return { capture, supervisor: supervisorHandle };
}
