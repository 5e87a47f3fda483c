/** Starting the shard readers of a scan's plan, and watching the ones started, to restart a closed one. */
import { ParentClosePolicy, WorkflowIdReusePolicy, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { SA } from '../names';
import { shardReaderWorkflow } from '../shardReader';
import { note, readerId, type SupervisorState } from './state';

/**
 * Every shard to read that is not known to run gets a start: one started by an earlier run is
 * found running (already started) and tried again next scan, so a closed one is restarted.
 */
export async function startReaders(st: SupervisorState): Promise<void> {
  const { input } = st;
  const known = st.watchShards ? st.watched : st.started;
  for (const entry of st.plan.filter((p) => p.phase === 'read' && !known.has(p.shardId))) {
    try {
      const child = await startChild(shardReaderWorkflow, {
        workflowId: readerId(st, entry.shardId),
        args: [
          {
            stream: input.stream,
            consumer: input.consumer,
            shardId: entry.shardId,
            ...(input.settings ? { settings: input.settings } : {}),
            ...(st.pausedReason !== undefined ? { pausedReason: st.pausedReason } : {}),
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        typedSearchAttributes: [
          { key: SA.stream, value: input.stream },
          { key: SA.consumer, value: input.consumer },
          { key: SA.shard, value: entry.shardId },
        ],
      });
      if (st.watchShards) watch(st, entry.shardId, child.result());
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    st.started.add(entry.shardId);
  }
}

/**
 * When a shard reader closes other than by reading its shard to the end, scan now: it is
 * restarted. When it read its shard to the end (a reshard closed it), scan now too (sparse-scan
 * runs): the shards split or merged from it start without waiting for the next scan.
 */
function watch(st: SupervisorState, shardId: string, result: Promise<unknown>): void {
  st.watched.add(shardId);
  result.then(
    () => {
      st.watched.delete(shardId);
      if (st.sparseScans) st.rescanNow = true;
    },
    (err: unknown) => {
      st.watched.delete(shardId);
      note(
        st,
        `shard reader ${shardId} closed (${err instanceof Error ? err.message : 'failed'}); restarting it`,
      );
      st.rescanNow = true;
    },
  );
}
