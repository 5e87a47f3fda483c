/** Pause and resume of every shard: the supervisor's signals, forwarded to each shard being read. */
import { getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { PauseRequestSchema, parseRequest } from '../../domain/shards/operatorRequests';
import { pauseSignal, resumeSignal } from '../shardReader';
import { overviewQuery, pauseAllSignal, rescanSignal, resumeAllSignal } from './definitions';
import { note, overviewOf, readerId, showState, type SupervisorState } from './state';

export function handleSignals(st: SupervisorState): void {
  setHandler(pauseAllSignal, async (arg?: unknown) => {
    const request = parseRequest(PauseRequestSchema, arg);
    if (!request.ok) {
      note(st, `pause ignored, invalid input: ${request.reason}`); // a signal handler never throws
      return;
    }
    st.pausedReason = request.value.reason;
    showState(st);
    await forward(st, { reason: st.pausedReason });
  });
  setHandler(resumeAllSignal, async () => {
    st.pausedReason = undefined;
    showState(st);
    await forward(st);
  });
  setHandler(rescanSignal, () => {
    st.rescanNow = true;
  });
  setHandler(overviewQuery, () => overviewOf(st));
}

/** Sends pause (with a reason) or resume (without) to every shard being read. */
async function forward(st: SupervisorState, pause?: { reason: string }): Promise<void> {
  for (const e of st.plan.filter((p) => p.phase === 'read')) {
    const handle = getExternalWorkflowHandle(readerId(st, e.shardId));
    try {
      if (pause) await handle.signal(pauseSignal, pause);
      else await handle.signal(resumeSignal);
    } catch {
      // The shard workflow finished (e.g. reached SHARD_END) in the meantime.
    }
  }
}
