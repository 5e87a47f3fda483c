import {
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  continueAsNew,
  proxyActivities,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { SA, shardWorkflowId } from './names';
import { shardReaderWorkflow, type BatchSettings } from './shardReader';

export interface SupervisorInput {
  stream: string;
  consumer: string;
  settings?: Partial<BatchSettings>;
  /** How often the shard list is read again. */
  rescanSeconds?: number;
}

const { listShards } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

/** Keeps one shard-reader workflow running per open shard of the stream. */
export async function streamSupervisorWorkflow(input: SupervisorInput): Promise<void> {
  const started = new Set<string>();
  for (let round = 0; round < 100; round++) {
    const shards = await listShards(input.stream);
    for (const shard of shards.filter((s) => s.open && !started.has(s.shardId))) {
      try {
        await startChild(shardReaderWorkflow, {
          workflowId: shardWorkflowId(input.stream, input.consumer, shard.shardId),
          args: [
            {
              stream: input.stream,
              consumer: input.consumer,
              shardId: shard.shardId,
              settings: input.settings,
            },
          ],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          typedSearchAttributes: [
            { key: SA.stream, value: input.stream },
            { key: SA.consumer, value: input.consumer },
            { key: SA.shard, value: shard.shardId },
          ],
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      started.add(shard.shardId);
    }
    if (workflowInfo().continueAsNewSuggested) break;
    await sleep(`${input.rescanSeconds ?? 30} seconds`);
  }
  await continueAsNew<typeof streamSupervisorWorkflow>(input);
}
