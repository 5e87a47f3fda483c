import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { planShards } from '../../domain/shards/reshardPlan';
import type { SupervisorInput } from './definitions';
import { startReaders } from './readers';
import { handleSignals } from './signals';
import { initialState, rescanSecondsOf, showIdentity, showState } from './state';

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
  const st = initialState(input);
  showIdentity(st);
  showState(st);
  handleSignals(st);

  for (let round = 0; ; round++) {
    const shards = await listShards(input.stream);
    const ended = new Set(await endedShards(shards.map((s) => s.shardId)));
    st.plan = planShards(shards, ended);
    st.lastScan = new Date().toISOString();
    await startReaders(st);
    if (workflowInfo().continueAsNewSuggested || round >= (input.scansPerRun ?? 500)) break;
    st.rescanNow = false;
    await condition(() => st.rescanNow, `${rescanSecondsOf(st)} seconds`);
  }
  // A pause or resume being forwarded to the shards finishes first: continue-as-new would cut it off.
  await condition(allHandlersFinished);
  await continueAsNew<typeof streamSupervisorWorkflow>({ ...input, pausedReason: st.pausedReason });
}
