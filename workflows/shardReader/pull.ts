/** Pulling the next batch after the checkpoint; a pause cancels a pull that is waiting for records. */
import { CancellationScope, condition, isCancellation, patched } from '@temporalio/workflow';
import type { BatchRef } from '../../domain/shards/batchRef';
import type { PullInput, PullResult } from '../../domain/shards/shardTypes';
import { chained, pulling } from './activities';
import { isStepFailure } from '../common/stepRetry';
import { runStep } from './runStep';
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

/**
 * Marks the histories whose batches run in chains (patch `local-chains`): once an activity pull
 * brings a batch, that batch's steps and the next pulls and steps run as local activities in the
 * same workflow task, until a pull finds nothing within CHAIN_WAIT_MS, the chain's pulls have
 * taken `chainMs`, CHAIN_MAX_BATCHES ran, or a step fails (it falls back to its activity and the
 * step retry). Then the workflow task completes: its markers are history, its local activities one
 * action, and the next pull is an activity again (signals and queries are answered in between).
 * A worker lost during a chain loses the chain's markers: the new worker runs its batches again
 * from the last recorded checkpoint (the checkpoint row only moves forward; a change applied
 * again holds its own version, so it is published again under the same event id, as after any
 * activity retry).
 */
export const CHAINS_PATCH = 'local-chains';

/** A pull in a chain waits this long for the next records; when none come, the chain ends. */
const CHAIN_WAIT_MS = 1_000;

/** A chain ends after this many batches, whatever its pulls took (a backlog: full batches back to back). */
const CHAIN_MAX_BATCHES = 10;

/** The next batch, or undefined when a pause came first and nothing was read. */
export async function pullUnlessPaused(
  s: ShardReaderState,
  show: ShardVisibility,
): Promise<Pulled | undefined> {
  const byReference = patched(BATCH_REFERENCES_PATCH);
  const input = (): PullInput => ({
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
  });
  if (byReference && s.chain) {
    const next = await pullInChain(s, input());
    if (next) return next;
  }
  const pullOnce = async (input: PullInput): Promise<Pulled> =>
    byReference ? { records: [], ...(await pulling.pullBatch(input)) } : pulling.pullRecords(input);
  const scope = new CancellationScope();
  const pull = scope.run(() =>
    runStep(s, show, {
      name: 'pull',
      run: () => pullOnce(input()),
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
    if (pausedFirst && result.records.length === 0 && !result.batch) return undefined;
    if (result.batch && !pausedFirst && (s.settings.chainMs ?? 0) > 0 && patched(CHAINS_PATCH))
      s.chain = { ms: 0, batches: 0 };
    return result;
  } catch (err) {
    if (isCancellation(err)) return undefined;
    throw err;
  }
}

/**
 * The next pull of a chain, as a local activity; undefined when the chain ends here (the activity
 * pull takes over: its retries, then runStep's). An empty pull ends the chain and is returned.
 */
async function pullInChain(s: ShardReaderState, input: PullInput): Promise<Pulled | undefined> {
  const chain = s.chain!;
  if (isPaused(s) || chain.ms >= (s.settings.chainMs ?? 0) || chain.batches >= CHAIN_MAX_BATCHES) {
    s.chain = undefined;
    return undefined;
  }
  try {
    const result = await chained.pullBatch({ ...input, waitMs: Math.min(CHAIN_WAIT_MS, input.waitMs) });
    s.checkpointUnsaved = false; // the pull wrote it before reading
    chain.ms += result.tookMs ?? CHAIN_WAIT_MS;
    chain.batches++;
    if (!result.batch) s.chain = undefined;
    return { records: [], ...result };
  } catch (err) {
    if (!isStepFailure(err)) throw err;
    s.chain = undefined;
    return undefined;
  }
}
