import {
  allHandlersFinished,
  patched,
  upsertSearchAttributes,
  ParentClosePolicy,
  WorkflowIdReusePolicy,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { PauseRequestSchema, parseRequest } from '../domain/shards/operatorRequests';
import { planShards, type ShardPlanEntry } from '../domain/shards/reshardPlan';
import { SA, shardWorkflowId } from './names';
import { pauseSignal, resumeSignal, shardReaderWorkflow, type BatchSettings } from './shardReader';

export interface SupervisorInput {
  stream: string;
  consumer: string;
  settings?: Partial<BatchSettings>;
  /** How often the shard list is read again. */
  rescanSeconds?: number;
  /** Scans before continue-as-new (default 500), unless the server suggests it earlier. */
  scansPerRun?: number;
  pausedReason?: string;
}

export interface SupervisorOverview {
  stream: string;
  consumer: string;
  pausedReason?: string;
  shards: (ShardPlanEntry & { workflowId: string })[];
  lastScan?: string;
  /** The last few things worth telling an operator (e.g. an invalid signal). */
  notes: string[];
}

export const pauseAllSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeAllSignal = defineSignal('resume');
/** Reads the shard list now (e.g. right after a reshard) instead of at the next scan. */
export const rescanSignal = defineSignal('rescan');
export const overviewQuery = defineQuery<SupervisorOverview>('overview');

const { listShards, endedShards } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumInterval: '30 seconds' },
});

/**
 * Keeps exactly one shard-reader workflow per shard that is to be read: open shards, and closed
 * shards not yet read to their end. A child shard starts only after its parent(s) reached
 * SHARD_END and checkpointed (split and merge). Pause and resume are forwarded to every shard.
 */
export async function streamSupervisorWorkflow(input: SupervisorInput): Promise<void> {
  let pausedReason = input.pausedReason;
  let plan: ShardPlanEntry[] = [];
  let lastScan: string | undefined;
  let rescanNow = false;
  const notes: string[] = [];
  const note = (text: string) => {
    notes.push(text);
    if (notes.length > 5) notes.shift();
  };
  const started = new Set<string>();
  const wfId = (shardId: string) => shardWorkflowId(input.stream, input.consumer, shardId);
  // Histories recorded before these existed replay without them (a safe deployment).
  const watchShards = patched('restart-closed-shard-readers');
  const showState = patched('supervisor-search-attributes');
  /** Shard readers this run started and watches: a closed one is restarted at once. */
  const watched = new Set<string>();
  const publishState = () => {
    if (showState)
      upsertSearchAttributes([{ key: SA.state, value: pausedReason !== undefined ? 'PAUSED' : 'RUNNING' }]);
  };
  if (showState)
    upsertSearchAttributes([
      { key: SA.stream, value: input.stream },
      { key: SA.consumer, value: input.consumer },
    ]);
  publishState();

  const forward = async (signal: typeof pauseSignal | typeof resumeSignal, arg?: { reason: string }) => {
    for (const e of plan.filter((p) => p.phase === 'read')) {
      const handle = getExternalWorkflowHandle(wfId(e.shardId));
      try {
        if (signal === pauseSignal) await handle.signal(pauseSignal, arg!);
        else await handle.signal(resumeSignal);
      } catch {
        // The shard workflow finished (e.g. reached SHARD_END) in the meantime.
      }
    }
  };
  setHandler(pauseAllSignal, async (arg?: unknown) => {
    const request = parseRequest(PauseRequestSchema, arg);
    if (!request.ok) {
      note(`pause ignored, invalid input: ${request.reason}`); // a signal handler never throws
      return;
    }
    pausedReason = request.value.reason;
    publishState();
    await forward(pauseSignal, { reason: pausedReason });
  });
  setHandler(resumeAllSignal, async () => {
    pausedReason = undefined;
    publishState();
    await forward(resumeSignal);
  });
  setHandler(rescanSignal, () => {
    rescanNow = true;
  });
  setHandler(overviewQuery, () => ({
    stream: input.stream,
    consumer: input.consumer,
    ...(pausedReason !== undefined ? { pausedReason } : {}),
    shards: plan.map((p) => ({ ...p, workflowId: wfId(p.shardId) })),
    ...(lastScan ? { lastScan } : {}),
    notes: [...notes],
  }));

  /** When a shard reader closes other than by reading its shard to the end, scan now: it is restarted. */
  function watch(shardId: string, result: Promise<unknown>): void {
    watched.add(shardId);
    result.then(
      () => watched.delete(shardId),
      (err: unknown) => {
        watched.delete(shardId);
        note(
          `shard reader ${shardId} closed (${err instanceof Error ? err.message : 'failed'}); restarting it`,
        );
        rescanNow = true;
      },
    );
  }

  for (let round = 0; ; round++) {
    const shards = await listShards(input.stream);
    const ended = new Set(await endedShards(shards.map((s) => s.shardId)));
    plan = planShards(shards, ended);
    lastScan = new Date().toISOString();
    // Every shard to read that is not known to run gets a start: one started by an earlier run is
    // found running (already started) and tried again next scan, so a closed one is restarted.
    const known = watchShards ? watched : started;
    for (const entry of plan.filter((p) => p.phase === 'read' && !known.has(p.shardId))) {
      try {
        const child = await startChild(shardReaderWorkflow, {
          workflowId: wfId(entry.shardId),
          args: [
            {
              stream: input.stream,
              consumer: input.consumer,
              shardId: entry.shardId,
              ...(input.settings ? { settings: input.settings } : {}),
              ...(pausedReason !== undefined ? { pausedReason } : {}),
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
        if (watchShards) watch(entry.shardId, child.result());
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      started.add(entry.shardId);
    }
    if (workflowInfo().continueAsNewSuggested || round >= (input.scansPerRun ?? 500)) break;
    rescanNow = false;
    await condition(() => rescanNow, `${input.rescanSeconds ?? 30} seconds`);
  }
  // A pause or resume being forwarded to the shards finishes first: continue-as-new would cut it off.
  await condition(allHandlersFinished);
  await continueAsNew<typeof streamSupervisorWorkflow>({ ...input, pausedReason });
}
