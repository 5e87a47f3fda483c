/** Where a shard is paused: the operator's pause/resume signals, and waiting while paused. */
import { condition, setHandler } from '@temporalio/workflow';
import { pauseSignal, resumeSignal } from './definitions';
import { PauseRequestSchema, parseRequest } from '../../domain/shards/operatorRequests';
import { note, type ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

export function handlePauseSignals(s: ShardReaderState): void {
  setHandler(pauseSignal, (input?: unknown) => {
    const request = parseRequest(PauseRequestSchema, input);
    if (request.ok) s.pausedReason = request.value.reason;
    else note(s, `pause ignored, invalid input: ${request.reason}`);
  });
  setHandler(resumeSignal, () => {
    s.pausedReason = undefined;
  });
}

export const isPaused = (s: ShardReaderState) => s.pausedReason !== undefined;

/** Shows PAUSED and waits for `resume`; then shows the state it had before. */
export async function waitWhilePaused(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  if (!isPaused(s)) return;
  const before = s.state;
  show.publish('PAUSED');
  await condition(() => !isPaused(s));
  show.publish(before === 'PAUSED' ? 'RUNNING' : before);
}
