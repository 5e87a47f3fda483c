/**
 * A shard reader's step: runs one activity until it succeeds (the step retry of
 * workflows/common/stepRetry.ts). A failure holds the shard (per-key order
 * is kept by not moving on): it waits with backoff decided here in the workflow, shows STUCK after
 * a few attempts, and can be interrupted by a pause or by an operator's skip of a record in the
 * current batch (thrown as SkipRecord for the batch to handle).
 */
import { condition, isCancellation, workflowInfo } from '@temporalio/workflow';
import { holdBackoffMs } from '../../domain/core/errors';
import { inBatch } from '../../domain/shards/batchRef';
import { retryStep, type StepFailure } from '../common/stepRetry';
import { io } from './activities';
import type { HeldStep, LastError, SkipRequest, TroubleRecord } from './definitions';
import { isPaused, waitWhilePaused } from './pause';
import { note, type ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

/** An operator asked to skip a record of the batch in trouble. */
export class SkipRecord {
  constructor(
    readonly request: SkipRequest,
    /** The step that was held when the operator skipped (publish: the record is already applied). */
    readonly step: string,
  ) {}
}

export interface HoldingStep<T> {
  /** Shown in the status and the Web UI, e.g. `apply`. */
  name: string;
  run: () => Promise<T>;
  /** The record to show while the step fails. */
  inTrouble: () => TroubleRecord | undefined;
  /** Whether a skip request for a record of the current batch interrupts it (default true). */
  skippable?: boolean;
}

/**
 * A long hold continues as new: every retry adds the batch to history again, so an outage of an
 * hour would reach the history limit. The next run pulls the batch again from the checkpoint and
 * shows the step as STUCK from the start.
 */
export class HoldTooLong {
  constructor(readonly held: HeldStep) {}
}

/** Runs a step until it succeeds, holding the shard while it fails (workflows/common/stepRetry.ts). */
export async function runStep<T>(
  s: ShardReaderState,
  show: ShardVisibility,
  { name, run, inTrouble, skippable = true }: HoldingStep<T>,
): Promise<T> {
  const stuckAt = (failures: number) => failures >= s.settings.stuckAfterAttempts;
  return retryStep<T>({
    run,
    // A step still failing when the previous run continued as new goes on counting.
    failures: s.held?.step === name ? s.held.failures : 0,
    onRecovered: (failures) => {
      note(s, `${name} recovered after ${failures} failed attempts`);
      s.trouble = undefined;
      s.held = undefined;
      show.publish('RUNNING');
    },
    onFailure: async (failure, failures) => {
      s.lastError = lastErrorOf(name, failure, failures);
      s.trouble = recordInFailure(failure) ?? inTrouble();
      s.held = {
        step: name,
        failures,
        lastError: s.lastError,
        ...(s.trouble ? { trouble: s.trouble } : {}),
        ...(s.batch ? { batch: s.batch } : {}),
      };
      if (stuckAt(failures)) show.stuck(name);
      await keepIfHeldLong(s);
      if (historyIsLong(s)) throw new HoldTooLong(s.held);
    },
    wait: async (_failure, failures) => {
      const category = s.lastError!.category;
      await condition(
        () => isPaused(s) || s.skipRequests.length > 0,
        holdBackoffMs(category === 'unknown' ? 'transient' : category, failures),
      );
      const skip = takeSkipRequest(s, skippable);
      if (skip) throw new SkipRecord(skip, name);
      if (isPaused(s)) {
        await waitWhilePaused(s, show);
        if (stuckAt(failures)) show.stuck(name);
      }
    },
  });
}

/** The record the activity named as failing (details[0]), if it did: the one to skip. */
function recordInFailure(failure: StepFailure): TroubleRecord | undefined {
  const r = failure.details[0] as Partial<TroubleRecord> | undefined;
  if (!r || typeof r.sequenceNumber !== 'string') return undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : undefined);
  const fields = {
    table: text(r.table),
    entityId: text(r.entityId),
    op: text(r.op),
    version: text(r.version),
  };
  return {
    sequenceNumber: r.sequenceNumber,
    ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)),
  };
}

/**
 * A batch by reference held past a share of the stream's retention goes to S3 (once): its records
 * would otherwise be trimmed while the step keeps failing. A failure to keep it is noted and tried
 * again at the next failure; it never holds the step itself.
 */
async function keepIfHeldLong(s: ShardReaderState): Promise<void> {
  const b = s.batchRef;
  const share = s.settings.keepHeldBatchAfter;
  if (!b || s.batchKept || !s.retentionMs || share === undefined) return;
  if (Date.now() - b.firstArrivalMs < s.retentionMs * share) return;
  try {
    await io.keepHeldBatch(b);
    s.batchKept = true;
    b.kept = true; // in place: the steps of this batch hold this very reference
    note(s, `batch ${b.first}…${b.last} held long: kept in S3 until it is processed`);
  } catch (err) {
    if (isCancellation(err)) throw err;
    note(
      s,
      `batch ${b.first}…${b.last} could not be kept in S3 yet: ${(err as Error).message.slice(0, 200)}`,
    );
  }
}

function historyIsLong(s: ShardReaderState): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= s.settings.maxHistoryEvents;
}

function lastErrorOf(step: string, failure: StepFailure, attempts: number): LastError {
  return {
    step,
    category: failure.type as LastError['category'],
    message: failure.message,
    attempts,
    at: new Date().toISOString(),
  };
}

/**
 * The first skip request naming a record of the current batch (when the step can be skipped);
 * every other request is dropped with a note.
 */
function takeSkipRequest(s: ShardReaderState, skippable: boolean): SkipRequest | undefined {
  const skip = skippable
    ? s.skipRequests.find(
        (r) =>
          s.records.some((rec) => rec.sequenceNumber === r.sequenceNumber) ||
          (s.batchRef !== undefined &&
            inBatch(s.batchRef, r.sequenceNumber) &&
            !s.excluded.includes(r.sequenceNumber)),
      )
    : undefined;
  for (const r of s.skipRequests.splice(0)) {
    if (r !== skip) note(s, `skip of ${r.sequenceNumber} ignored: not in the current batch`);
  }
  return skip;
}
