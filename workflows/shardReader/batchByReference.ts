/**
 * One batch through the pipeline by reference (issue 20; patch `batch-references`): the same
 * steps as batch.ts (transform → redact → apply → reservations → publish, each a holding step,
 * dead letters and skips), but the workflow passes the batch's reference and gets counts and the
 * records in trouble back by sequence number. No row value enters the history, not even
 * encrypted; the activities find the records in the worker that pulled them, or read them again.
 */
import type { BatchRef, LetterRef, PreparedBatch } from '../../domain/shards/batchRef';
import type { Rejection } from '../../domain/shards/shardTypes';
import { ACTIVITY_OPTIONS, chained, io, local } from './activities';
import type { TroubleRecord } from './definitions';
import { runStep, SkipRecord } from './runStep';
import { isStepFailure } from '../common/stepRetry';
import { note, type ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

/** Processes the batch in `s.batchRef` until done, parking skipped records on the way. */
export async function processBatchByReference(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  for (;;) {
    try {
      await runSteps(s, show, s.batchRef!);
      return;
    } catch (err) {
      if (!(err instanceof SkipRecord)) throw err;
      await skipRecord(s, show, s.batchRef!, err);
    }
  }
}

async function runSteps(s: ShardReaderState, show: ShardVisibility, batch: BatchRef): Promise<void> {
  const pure = s.settings.localPureSteps ? local : io;
  const excluded = () => [...s.excluded];
  const prepared = await runStep(s, show, {
    name: 'transform',
    run: inChain(
      s,
      () => chained.prepareBatch({ batch, exclude: excluded() }),
      () => pure.prepareBatch({ batch, exclude: excluded() }),
    ),
    inTrouble: () => firstRecord(batch),
  });
  await deadLetter(s, show, batch, prepared.deadLetters);
  if (!prepared.events) return;
  const trouble = () => prepared.first ?? firstRecord(batch);
  const applied = await runStep(s, show, {
    name: 'apply',
    run: inChain(
      s,
      () => chained.applyBatch({ batch, exclude: excluded() }),
      () =>
        io.applyBatch.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: `apply ${prepared.events} events, seq …${tail(batch.last)}` },
          [{ batch, exclude: excluded() }],
        ),
    ),
    inTrouble: trouble,
  });
  s.counters.applied += applied.applied;
  s.counters.stale += applied.stale;
  s.counters.coalesced += applied.coalesced;
  await deadLetter(s, show, batch, letters(applied.rejected));
  // Rejected records are parked; outdated changes are not news (neither published nor told to holds).
  const outdated = applied.outdated ?? [];
  s.counters.outdated = (s.counters.outdated ?? 0) + outdated.length;
  const delivery = () => ({
    batch,
    exclude: [...s.excluded, ...applied.rejected.map((r) => r.sequenceNumber)],
    ...(outdated.length ? { skipEvents: outdated } : {}),
  });
  if (prepared.holds > 0)
    await runStep(s, show, {
      name: 'reservations',
      run: inChain(
        s,
        () => chained.signalBatchHolds(delivery()),
        () =>
          io.signalBatchHolds.executeWithOptions(
            { ...ACTIVITY_OPTIONS, summary: `signal ${prepared.holds} holds, seq …${tail(batch.last)}` },
            [delivery()],
          ),
      ),
      inTrouble: trouble,
    });
  const pub = await runStep(s, show, {
    name: 'publish',
    run: inChain(
      s,
      () => chained.publishBatch(delivery()),
      () =>
        io.publishBatch.executeWithOptions(
          { ...ACTIVITY_OPTIONS, summary: `publish ${prepared.events} events, seq …${tail(batch.last)}` },
          [delivery()],
        ),
    ),
    inTrouble: trouble,
  });
  s.counters.published += pub.published;
  s.counters.alerts += pub.alerts;
  // Applied to DynamoDB but refused by EventBridge: the DLQ item says so, and a redrive publishes it.
  await deadLetter(s, show, batch, letters(pub.rejected, { appliedNotPublished: true }));
}

/**
 * A step as a local activity while the shard runs a chain (pull.ts); its activity otherwise, and
 * at once when the local one fails: the chain ends, and the activity's retries and runStep take
 * over, so STUCK, skip and the DLQ work as for any step.
 */
function inChain<T>(
  s: ShardReaderState,
  runLocal: () => Promise<T>,
  runActivity: () => Promise<T>,
): () => Promise<T> {
  return async () => {
    if (!s.chain) return runActivity();
    try {
      return await runLocal();
    } catch (err) {
      if (!isStepFailure(err)) throw err;
      s.chain = undefined;
      return runActivity();
    }
  };
}

/** Parks the record an operator skipped (`operator-skip`) and processes the batch again without it. */
async function skipRecord(
  s: ShardReaderState,
  show: ShardVisibility,
  batch: BatchRef,
  skip: SkipRecord,
): Promise<void> {
  const seq = skip.request.sequenceNumber;
  const parked = await deadLetter(s, show, batch, [
    {
      sequenceNumber: seq,
      category: 'operator-skip',
      reason: skip.request.reason,
      // Skipped at a step after apply: DynamoDB has it, consumers and holds do not; a redrive publishes it.
      ...(AFTER_APPLY.has(skip.step) ? { appliedNotPublished: true as const } : {}),
    },
  ]);
  s.trouble = undefined;
  if (!parked) {
    note(s, `skip of ${seq} ignored: no such record in the batch`);
    show.publish('RUNNING');
    return;
  }
  s.counters.skipped++;
  note(s, `skipped ${seq} to the DLQ: ${skip.request.reason}`);
  s.excluded.push(seq);
  show.publish('RUNNING');
}

/** The skippable steps that run once DynamoDB has the batch. */
const AFTER_APPLY: ReadonlySet<string> = new Set(['reservations', 'publish']);

/** Parks records of the batch; how many it found. */
async function deadLetter(
  s: ShardReaderState,
  show: ShardVisibility,
  batch: BatchRef,
  refs: LetterRef[],
): Promise<number> {
  if (!refs.length) return 0;
  const parked = await runStep(s, show, {
    name: 'deadLetter',
    run: () => io.deadLetterBatch({ batch, letters: refs }),
    inTrouble: () => ({ sequenceNumber: refs[0].sequenceNumber }),
    skippable: false,
  });
  s.counters.deadLettered += parked;
  return parked;
}

function letters(rejected: Rejection[], extra: Pick<LetterRef, 'appliedNotPublished'> = {}): LetterRef[] {
  return rejected.map((r) => ({
    sequenceNumber: r.sequenceNumber,
    category: r.category,
    reason: r.reason,
    ...extra,
  }));
}

const firstRecord = (batch: BatchRef): TroubleRecord => ({ sequenceNumber: batch.first });

const tail = (seq?: string) => (seq ? seq.slice(-8) : '');

export type { PreparedBatch };
