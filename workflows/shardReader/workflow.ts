import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { parseRequest, SkipRequestSchema } from '../../domain/shards/operatorRequests';
import type { BatchRef } from '../../domain/shards/batchRef';
import { io } from './activities';
import { processBatch } from './batch';
import { processBatchByReference } from './batchByReference';
import { skipRecordSignal, statusQuery, type ShardReaderInput, type ShardStatus } from './definitions';
import { isStepFailure } from '../common/stepRetry';
import { HoldTooLong, runStep } from './runStep';
import { handlePauseSignals, isPaused, waitWhilePaused } from './pause';
import { CHAINS_PATCH, pullUnlessPaused, type Pulled } from './pull';
import { watchRetention } from './retention';
import { carriedInput, initialState, note, statusOf, type ShardReaderState } from './state';
import { ShardVisibility } from './visibility';

/**
 * One shard of the stream: pull → transform → redact → apply → publish → checkpoint, in a loop.
 * A failing step holds the shard (per-key order) and is retried with backoff; after a few
 * attempts the shard shows STUCK with the record in trouble, until the cause goes away, an
 * operator pauses it, or skips the record to the dead-letter table.
 */
export async function shardReaderWorkflow(input: ShardReaderInput): Promise<ShardStatus> {
  const s = initialState(input);
  const show = new ShardVisibility(s);
  setHandler(statusQuery, () => statusOf(s));
  handlePauseSignals(s);
  setHandler(skipRecordSignal, (input: unknown) => {
    const request = parseRequest(SkipRequestSchema, input);
    if (request.ok) s.skipRequests.push(request.value);
    else note(s, `skipRecord ignored, invalid input: ${request.reason}`);
  });
  try {
    return await readShard(s, show);
  } catch (err) {
    if (!(err instanceof HoldTooLong)) throw err;
    note(s, `continued as new while holding ${err.held.step} (${err.held.failures} failed attempts)`);
    await condition(allHandlersFinished);
    return await continueAsNew<typeof shardReaderWorkflow>(carriedInput(s));
  }
}

async function readShard(s: ShardReaderState, show: ShardVisibility): Promise<ShardStatus> {
  if (s.checkpoint === undefined)
    s.checkpoint = await runStep(s, show, {
      name: 'loadCheckpoint',
      run: () => io.loadCheckpoint(s.input.shardId),
      inTrouble: () => undefined,
    });
  if (s.held) show.stuck(s.held.step);
  else show.publish(s.state);

  // The checkpoint of a batch is written by the next pull, before it reads: one activity per
  // batch instead of two, same guarantee (nothing is read past an unwritten checkpoint). Before a
  // pause it is written on its own, so a paused shard's checkpoint in cdc_state is current; across
  // continue-as-new an unwritten one is carried and the next run's first pull writes it. Histories
  // recorded before the patch wrote it with an activity of its own while the next batch was
  // pulled (`saving`).
  let saving: Promise<unknown> | undefined;
  for (;;) {
    if (isPaused(s)) await saveUnsavedCheckpoint(s, show);
    await waitWhilePaused(s, show);
    // A batch held and kept in S3 before continue-as-new is processed before anything is pulled.
    const pulled = s.batchKept && s.batchRef ? keptBatch(s.batchRef) : await pullUnlessPaused(s, show);
    await saving;
    saving = undefined;
    if (!pulled) continue; // paused while waiting for records
    s.lagMs = pulled.millisBehindLatest;
    await watchRetention(s, show, pulled);
    if (pulled.records.length === 0 && !pulled.batch) {
      if (pulled.shardEnded) {
        await endShard(s, show);
        return statusOf(s);
      }
      show.publish('CAUGHT_UP');
    } else {
      ({ saving } = await processAndCheckpoint(s, show, pulled));
    }
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength >= s.settings.maxHistoryEvents) {
      await saving;
      await recordChain();
      await condition(allHandlersFinished);
      await continueAsNew<typeof shardReaderWorkflow>(carriedInput(s));
    }
  }
}

/**
 * Continue-as-new in a workflow task of its own (a 1 ms timer, one action per run): a signal that
 * arrives while a task completes the run makes the server refuse that completion, and the local
 * activities of a chain in the same task (pull.ts) would run again on the next attempt.
 */
async function recordChain(): Promise<void> {
  if (patched(CHAINS_PATCH)) await sleep(1);
}

/** A kept batch as if just pulled (its lag is unknown until the next pull). */
const keptBatch = (batch: BatchRef): Pulled => ({
  records: [],
  batch,
  millisBehindLatest: 0,
  shardEnded: false,
});

/** Processes a pulled batch and starts writing its checkpoint; returns that write, to be awaited later. */
async function processAndCheckpoint(
  s: ShardReaderState,
  show: ShardVisibility,
  pulled: Pulled,
): Promise<{ saving: Promise<unknown> }> {
  const ref = pulled.batch;
  let last: string;
  let lastArrivalMs: number;
  if (ref) {
    last = ref.last;
    lastArrivalMs = ref.lastArrivalMs;
    s.batchRef = ref;
    s.batch = { first: ref.first, last, size: ref.count };
    await processBatchByReference(s, show);
    if (s.batchKept) await forgetKeptBatch(s);
  } else {
    s.records = pulled.records;
    last = s.records[s.records.length - 1].sequenceNumber;
    lastArrivalMs = s.records[s.records.length - 1].arrivalMs;
    s.batch = { first: s.records[0].sequenceNumber, last, size: s.records.length };
    await processBatch(s, show);
  }
  const size = s.batch.size;
  let saving: Promise<unknown> = Promise.resolve();
  if (patched(CHECKPOINT_IN_PULL_PATCH)) s.checkpointUnsaved = true;
  else {
    saving = checkpointStep(s, show, last);
    saving.catch(() => undefined); // its failure is thrown where it is awaited
  }
  s.checkpoint = last;
  s.retention.checkpointArrivalMs = lastArrivalMs;
  s.counters.batches++;
  s.counters.records += size;
  s.batch = undefined;
  s.records = [];
  s.batchRef = undefined;
  s.excluded = [];
  s.batchKept = undefined;
  show.publish(s.lagMs > 0 ? 'RUNNING' : 'CAUGHT_UP');
  return { saving };
}

/**
 * A batch kept in S3 (held long) is deleted there once processed (patch `forget-kept-batch`;
 * before it, kept batches stayed until the bucket's lifecycle took them). A failed delete is
 * noted, never held: the copy is encrypted and the lifecycle removes it.
 */
async function forgetKeptBatch(s: ShardReaderState): Promise<void> {
  const ref = s.batchRef;
  if (!ref || !patched(FORGET_KEPT_BATCH_PATCH)) return;
  try {
    await io.forgetKeptBatch(ref);
  } catch (err) {
    if (!isStepFailure(err)) throw err;
    note(s, `kept batch ${ref.first}…${ref.last} not deleted from S3: ${err.message.slice(0, 200)}`);
  }
}

const FORGET_KEPT_BATCH_PATCH = 'forget-kept-batch';

/** Marks the histories whose pulls write the previous batch's checkpoint. */
const CHECKPOINT_IN_PULL_PATCH = 'checkpoint-in-pull';

const checkpointStep = (s: ShardReaderState, show: ShardVisibility, sequenceNumber: string) =>
  runStep(s, show, {
    name: 'checkpoint',
    run: () => io.saveCheckpoint({ shardId: s.input.shardId, sequenceNumber }),
    inTrouble: () => ({ sequenceNumber }),
    skippable: false,
  });

/** Writes a checkpoint no pull has written yet (before a pause). */
async function saveUnsavedCheckpoint(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  if (!s.checkpointUnsaved || s.checkpoint === undefined) return;
  await checkpointStep(s, show, s.checkpoint);
  s.checkpointUnsaved = false;
}

/** SHARD_END: every record was read and checkpointed; the marker lets the supervisor start the children. */
async function endShard(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  await runStep(s, show, {
    name: 'markShardEnded',
    run: () => io.markShardEnded(s.input.shardId),
    inTrouble: () => undefined,
  });
  s.batch = undefined;
  show.publish('ENDED');
}
