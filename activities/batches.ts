/**
 * The shard reader's steps by reference (issue 20): the workflow passes a batch reference and
 * gets counts and the records in trouble back, so no row value enters its history, not even
 * encrypted. Each step finds the records where the pull left them (batchStore.ts), derives the
 * redacted events again when it must (transform and redact are pure, so every worker derives the
 * same events), and delegates to the same activities the by-value path uses.
 */
import { holdChanges } from '../domain/reservations/hold';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import type { BatchRef, BatchSelection, LetterRef, PreparedBatch } from '../domain/shards/batchRef';
import type { DeadLetter, PullInput, PullResult, Rejection, StreamRecord } from '../domain/shards/shardTypes';
import type { ActivityDeps } from './deps';
import { classified, troubleOf, withRecord } from './failures';
import type { TransformResult } from './processing';
import type { HoldSignals } from './reservations';
import type { ApplyResult } from './sinks/changeSink';
import {
  batchKey,
  dropKept,
  keepBatch,
  LruCache,
  recordsOf,
  refOf,
  rememberBatch,
} from './stream/batchStore';

/** The by-value activities the steps delegate to. */
export interface BatchSteps {
  pullRecords(input: PullInput): Promise<PullResult>;
  /** Transform and redact (pure). */
  prepareRecords(input: { shardId: string; records: StreamRecord[] }): Promise<TransformResult>;
  applyEvents(events: PipelineEvent[]): Promise<ApplyResult>;
  publishEvents(
    events: PipelineEvent[],
  ): Promise<{ published: number; alerts: number; rejected: Rejection[] }>;
  signalHoldChanges(changes: ReturnType<typeof holdChanges>): Promise<HoldSignals>;
  deadLetterRecords(letters: DeadLetter[]): Promise<void>;
}

/**
 * A pull by reference: the batch's reference instead of its records, and how long the pull took
 * (a chain of local batches is bounded by it, workflows/shardReader/pull.ts).
 */
export type PulledBatch = Omit<PullResult, 'records'> & { batch?: BatchRef; tookMs?: number };

/** A step's selection, minus the events found outdated by apply (not published, not told to holds). */
export interface DeliverySelection extends BatchSelection {
  skipEvents?: string[];
}

/** The redacted events of each batch, per consumer (they depend on its redaction key and tables). */
const preparedCache = new LruCache<TransformResult>(256 * 1024 * 1024);

export function createBatchActivities(deps: ActivityDeps, steps: BatchSteps) {
  const { consumer } = deps.config;

  async function prepared(batch: BatchRef): Promise<TransformResult> {
    const key = `${consumer}/${batchKey(batch)}`;
    const hit = preparedCache.get(key);
    if (hit) return hit;
    const records = await recordsOf(deps, batch);
    const result = await steps.prepareRecords({ shardId: batch.shardId, records });
    preparedCache.set(key, result, batch.bytes * 2);
    return result;
  }

  /** The events of the selection, in batch order. */
  async function eventsOf(sel: DeliverySelection): Promise<PipelineEvent[]> {
    const exclude = new Set(sel.exclude ?? []);
    const skip = new Set(sel.skipEvents ?? []);
    return (await prepared(sel.batch)).events.filter(
      (e) => !exclude.has(e.position.sequenceNumber) && !skip.has(e.eventId),
    );
  }

  /**
   * Runs a delivery step over the selection's events; a failure that names no record of its own
   * names the first one (as the status shows a record: key redacted where the table is sensitive),
   * so the operator sees which record holds the shard. Only failures carry it into history.
   */
  async function deliver<T>(
    sel: DeliverySelection,
    step: (events: PipelineEvent[]) => Promise<T>,
  ): Promise<T> {
    const events = await eventsOf(sel);
    try {
      return await step(events);
    } catch (err) {
      throw events[0] ? withRecord(err, troubleOf(events[0])) : err;
    }
  }

  return classified({
    /** pullRecords, keeping the records in this worker and returning their reference. */
    pullBatch: async (input: PullInput): Promise<PulledBatch> => {
      const started = Date.now();
      const { records, ...pulled } = await steps.pullRecords(input);
      const rest = { ...pulled, tookMs: Date.now() - started };
      if (!records.length) return rest;
      const batch = refOf(input.stream, input.shardId, records);
      rememberBatch(batch, records);
      return { ...rest, batch };
    },

    /** Transform and redact (pure): what the batch gives, and the records neither step can take. */
    prepareBatch: async (sel: BatchSelection): Promise<PreparedBatch> => {
      const exclude = new Set(sel.exclude ?? []);
      const { events: all, deadLetters } = await prepared(sel.batch);
      const events = all.filter((e) => !exclude.has(e.position.sequenceNumber));
      const e = events[0];
      return {
        events: events.length,
        deadLetters: deadLetters
          .filter((l) => !exclude.has(l.record.sequenceNumber))
          .map((l) => ({
            sequenceNumber: l.record.sequenceNumber,
            category: l.category,
            reason: l.reason,
          })),
        holds: holdChanges(events).length,
        ...(e
          ? {
              // No key: a key is a row value, and this result is history (a failing step's own
              // details name the entity, redacted, in the status).
              first: {
                sequenceNumber: e.position.sequenceNumber,
                table: e.table,
                op: e.op,
                version: e.version,
              },
            }
          : {}),
      };
    },

    applyBatch: (sel: BatchSelection): Promise<ApplyResult> =>
      deliver(sel, (events) => steps.applyEvents(events)),

    signalBatchHolds: (sel: DeliverySelection): Promise<HoldSignals> =>
      deliver(sel, (events) => steps.signalHoldChanges(holdChanges(events))),

    publishBatch: (sel: DeliverySelection) => deliver(sel, (events) => steps.publishEvents(events)),

    /** Parks records of the batch by sequence number; how many of them the batch holds. */
    deadLetterBatch: async (input: { batch: BatchRef; letters: LetterRef[] }): Promise<number> => {
      const records = await recordsOf(deps, input.batch);
      const bySeq = new Map(records.map((r) => [r.sequenceNumber, r]));
      const letters: DeadLetter[] = [];
      for (const l of input.letters) {
        const record = bySeq.get(l.sequenceNumber);
        if (record) letters.push({ ...l, record, shardId: input.batch.shardId });
      }
      if (letters.length) await steps.deadLetterRecords(letters);
      return letters.length;
    },

    /** Keeps a batch held long in S3, so the stream's retention cannot take it (batchStore.ts). */
    keepHeldBatch: async (batch: BatchRef): Promise<void> =>
      keepBatch(deps, batch, await recordsOf(deps, batch)),

    /** Deletes the S3 copy of a kept batch once it is processed. */
    forgetKeptBatch: (batch: BatchRef): Promise<void> => dropKept(deps, batch),
  });
}
