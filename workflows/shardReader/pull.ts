/** Pulling the next batch after the checkpoint; a pause cancels a pull that is waiting for records. */
import { CancellationScope, condition, isCancellation, patched } from '@temporalio/workflow';
import type { BatchRef } from '../../domain/shards/batchRef';
import type { PullInput, PullResult } from '../../domain/shards/shardTypes';
import { pulling } from './activities';
import { hold } from './hold';
import { isPaused } from './pause';
import type { ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

/**
 * What a pull brought: records (histories recorded before the patch `batch-references`), or the
 * batch's reference with `records` empty: the rows stay with the workers.
 */
export type Pulled = PullResult & { batch?: BatchRef };

/** Marks the histories whose batches travel by reference (activities/batches.ts). */
const BATCH_REFERENCES_PATCH = 'batch-references';

/** The next batch, or undefined when a pause came first and nothing was read. */
export async function pullUnlessPaused(
  s: ShardReaderState,
  show: ShardVisibility,
): Promise<Pulled | undefined> {
  const byReference = patched(BATCH_REFERENCES_PATCH);
  const pullOnce = async (input: PullInput): Promise<Pulled> =>
    byReference ? { records: [], ...(await pulling.pullBatch(input)) } : pulling.pullRecords(input);
  const scope = new CancellationScope();
  const pull = scope.run(() =>
    hold(s, show, {
      name: 'pull',
      run: () =>
        pullOnce({
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
    return pausedFirst && result.records.length === 0 && !result.batch ? undefined : result;
  } catch (err) {
    if (isCancellation(err)) return undefined;
    throw err;
  }
}
