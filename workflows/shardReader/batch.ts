/**
 * One batch through the pipeline: transform → redact → apply → publish, each a holding step.
 * Records a step rejects on their own (undecodable, unconfigured table, an item DynamoDB or
 * EventBridge refuses) go to the dead-letter table and the batch goes on; a record an operator
 * skips goes there too, and the batch is processed again without it.
 */
import { patched } from '@temporalio/workflow';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { holdChanges } from '../../domain/reservations/hold';
import type { DeadLetter, Rejection } from '../../domain/shards/shardTypes';
import { ACTIVITY_OPTIONS, io, local } from './activities';
import type { TroubleRecord } from './definitions';
import { runStep, SkipRecord } from './runStep';
import { note, type ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

/** Processes the batch in `s.records` until done, parking skipped records on the way. */
export async function processBatch(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  for (;;) {
    try {
      await runSteps(s, show);
      return;
    } catch (err) {
      if (!(err instanceof SkipRecord)) throw err;
      await skipRecord(s, show, err);
    }
  }
}

async function runSteps(s: ShardReaderState, show: ShardVisibility): Promise<void> {
  const pure = s.settings.localPureSteps ? local : io;
  const redacted = await prepare(s, show, pure);
  if (!redacted.length) return;
  const applied = await runStep(s, show, {
    name: 'apply',
    run: () =>
      io.applyEvents.executeWithOptions(
        { ...ACTIVITY_OPTIONS, summary: `apply ${redacted.length} events, seq …${tail(s.batch?.last)}` },
        [redacted],
      ),
    inTrouble: () => firstTrouble(s, redacted),
  });
  s.counters.applied += applied.applied;
  s.counters.stale += applied.stale;
  s.counters.coalesced += applied.coalesced ?? 0; // absent in results recorded before it existed
  await deadLetter(s, show, lettersFor(s, applied.rejected));
  const rejectedSeq = new Set(applied.rejected.map((r) => r.sequenceNumber));
  // A change older than what DynamoDB held is not news: consumers never hear the old state after
  // the new one (absent in results recorded before it existed).
  // Behind a patch: during a rolling deploy an old worker's workflow code may have run with a new
  // worker's apply result, and told the holds of changes this code would leave out.
  const outdated = new Set(applied.outdated?.length && patched(STALE_NOT_NEWS_PATCH) ? applied.outdated : []);
  s.counters.outdated = (s.counters.outdated ?? 0) + outdated.size;
  const toPublish = redacted.filter(
    (e) => !rejectedSeq.has(e.position.sequenceNumber) && !outdated.has(e.eventId),
  );
  await signalHolds(s, show, toPublish);
  const pub = await runStep(s, show, {
    name: 'publish',
    run: () =>
      io.publishEvents.executeWithOptions(
        { ...ACTIVITY_OPTIONS, summary: `publish ${toPublish.length} events, seq …${tail(s.batch?.last)}` },
        [toPublish],
      ),
    inTrouble: () => firstTrouble(s, toPublish),
  });
  s.counters.published += pub.published;
  s.counters.alerts += pub.alerts;
  // Applied to DynamoDB but refused by EventBridge: the DLQ item says so, and a redrive publishes it.
  await deadLetter(s, show, lettersFor(s, pub.rejected, { appliedNotPublished: true }));
}

/**
 * Transform and redact: one local activity (`prepareRecords`), so a batch costs one action less
 * and its unredacted rows never enter history. Histories recorded before the patch replay the two
 * steps they recorded. Records neither step can take go to the DLQ.
 */
async function prepare(
  s: ShardReaderState,
  show: ShardVisibility,
  pure: typeof io,
): Promise<PipelineEvent[]> {
  const { shardId } = s.input;
  const records = s.records;
  if (patched(PREPARE_IN_ONE_STEP_PATCH)) {
    const { events, deadLetters } = await runStep(s, show, {
      name: 'transform',
      run: () => pure.prepareRecords({ shardId, records }),
      inTrouble: () => firstTrouble(s),
    });
    await deadLetter(s, show, deadLetters);
    return events;
  }
  const { events, deadLetters } = await runStep(s, show, {
    name: 'transform',
    run: () => pure.transformRecords({ shardId, records }),
    inTrouble: () => firstTrouble(s),
  });
  await deadLetter(s, show, deadLetters);
  if (!events.length) return [];
  return runStep(s, show, {
    name: 'redact',
    run: () => pure.redactEvents(events),
    inTrouble: () => firstTrouble(s),
  });
}

/** Marks the histories in which apply's outdated changes are left out of the holds and publish. */
const STALE_NOT_NEWS_PATCH = 'stale-not-news';

/** Marks the histories whose batches transform and redact in one local activity. */
const PREPARE_IN_ONE_STEP_PATCH = 'prepare-in-one-step';

/**
 * Holds taken or changed in this batch reach their reservation-expiry workflows, once DynamoDB has
 * the change and before it is published (a hold's workflow exists by the time consumers hear of
 * it). Only batches with reservation changes run this step (a patch marker in those histories);
 * with `CDC_RESERVATION_EXPIRY=off` the activity tells no workflow.
 */
async function signalHolds(
  s: ShardReaderState,
  show: ShardVisibility,
  events: PipelineEvent[],
): Promise<void> {
  const holds = holdChanges(events);
  if (!holds.length || !patched(RESERVATION_EXPIRY_PATCH)) return;
  await runStep(s, show, {
    name: 'reservations',
    run: () =>
      io.signalHoldChanges.executeWithOptions(
        { ...ACTIVITY_OPTIONS, summary: `signal ${holds.length} holds, seq …${tail(s.batch?.last)}` },
        [holds],
      ),
    inTrouble: () => firstTrouble(s, events),
  });
}

/** Marks the histories in which a batch signals reservation-expiry workflows (added with that step). */
const RESERVATION_EXPIRY_PATCH = 'reservation-expiry';

/** Parks the record an operator skipped in the DLQ (`operator-skip`) and drops it from the batch. */
async function skipRecord(s: ShardReaderState, show: ShardVisibility, skip: SkipRecord): Promise<void> {
  const rec = s.records.find((r) => r.sequenceNumber === skip.request.sequenceNumber)!;
  await deadLetter(s, show, [
    {
      record: rec,
      shardId: s.input.shardId,
      category: 'operator-skip',
      reason: skip.request.reason,
      // Skipped at a step after apply (reservations, publish): DynamoDB has it, consumers (and the
      // hold's expiry workflow) do not; a redrive publishes it and tells the holds.
      ...(AFTER_APPLY.has(skip.step) ? { appliedNotPublished: true as const } : {}),
    },
  ]);
  s.counters.skipped++;
  note(s, `skipped ${rec.sequenceNumber} to the DLQ: ${skip.request.reason}`);
  s.records = s.records.filter((r) => r !== rec);
  s.trouble = undefined;
  show.publish('RUNNING');
}

/** The skippable steps that run once DynamoDB has the batch. */
const AFTER_APPLY: ReadonlySet<string> = new Set(['reservations', 'publish']);

async function deadLetter(s: ShardReaderState, show: ShardVisibility, letters: DeadLetter[]): Promise<void> {
  if (!letters.length) return;
  await runStep(s, show, {
    name: 'deadLetter',
    run: () => io.deadLetterRecords(letters),
    inTrouble: () => firstTrouble(s),
    skippable: false,
  });
  s.counters.deadLettered += letters.length;
}

function lettersFor(
  s: ShardReaderState,
  rejected: Rejection[],
  extra: Pick<DeadLetter, 'appliedNotPublished'> = {},
): DeadLetter[] {
  return rejected.map((r) => ({
    record: s.records.find((b) => b.sequenceNumber === r.sequenceNumber)!,
    shardId: s.input.shardId,
    category: r.category,
    reason: r.reason,
    ...extra,
  }));
}

/** The record shown while a step fails: the first event of the step, else the batch's first record. */
function firstTrouble(s: ShardReaderState, events?: PipelineEvent[]): TroubleRecord | undefined {
  const e = events?.[0];
  if (e)
    return {
      sequenceNumber: e.position.sequenceNumber,
      table: e.table,
      // Only a redacted event's reference (a sensitive table's key is hashed): status bypasses the codec.
      ...(e.entityRef !== undefined ? { entityId: e.entityRef } : {}),
      op: e.op,
      version: e.version,
    };
  const r = s.records[0];
  return r ? { sequenceNumber: r.sequenceNumber, table: r.partitionKey.split(':')[0] } : undefined;
}

const tail = (seq?: string) => (seq ? seq.slice(-8) : '');
