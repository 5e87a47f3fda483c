/** Pulling the next batch after the checkpoint; a pause cancels a pull that is waiting for records. */
import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import type { PullResult } from '../../domain/shards/shardTypes';
import { pulling } from './activities';
import { hold } from './hold';
import { isPaused } from './pause';
import type { ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

/** The next batch, or undefined when a pause came first and nothing was read. */
export async function pullUnlessPaused(
  s: ShardReaderState,
  show: ShardVisibility,
): Promise<PullResult | undefined> {
  const scope = new CancellationScope();
  const pull = scope.run(() =>
    hold(s, show, {
      name: 'pull',
      run: () =>
        pulling.pullRecords({
          stream: s.input.stream,
          shardId: s.input.shardId,
          ...(s.checkpoint ? { afterSequenceNumber: s.checkpoint } : {}),
          ...(s.checkpoint && s.checkpointUnsaved ? { saveCheckpoint: true as const } : {}),
          maxRecords: s.settings.maxRecords,
          maxBytes: s.settings.maxBytes,
          waitMs: s.settings.idleWaitMs,
          ...(s.retention.checkpointArrivalMs !== undefined
            ? { checkpointArrivalMs: s.retention.checkpointArrivalMs }
            : {}),
        }),
      inTrouble: () => (s.checkpoint ? { sequenceNumber: s.checkpoint } : undefined),
      skippable: false,
    }),
  );
  const paused = scope.run(() => condition(() => isPaused(s)));
  paused.catch(() => undefined); // cancelled below when the pull wins
  pull.catch(() => undefined); // awaited below
  const pausedFirst = await Promise.race([pull.then(() => false), paused.then(() => true)]).catch(
    () => false,
  );
  scope.cancel();
  try {
    const result = await pull; // it may have finished just before the cancel
    s.checkpointUnsaved = false; // the pull wrote it before reading
    return pausedFirst && result.records.length === 0 ? undefined : result;
  } catch (err) {
    if (isCancellation(err)) return undefined;
    throw err;
  }
}
