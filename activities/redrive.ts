/**
 * Redrive: a parked record goes through its consumer's pipeline again (decrypt → transform →
 * redact → version-guarded apply → tell holds → publish), one item at a time so each item's result
 * is known, and its DLQ item leaves PARKED with an audit entry. The workflow (workflows/redrive/)
 * passes keys and gets counts and per-item outcomes back: the raw row never enters workflow history.
 *
 * A letter belongs to the consumer that parked it (a capture letter to the operational consumer,
 * which runs capture) and is redriven only through that consumer's sink, by that consumer's
 * worker (the workflow runs on its task queue): the operational one applies to DynamoDB and
 * publishes to EventBridge, the analytics one writes its database and publishes nothing. A letter
 * of another consumer is left alone (`other-consumer`).
 *
 * No resurrection: a letter parked longer ago than the redrive window, or a change (update,
 * delete) of a key DynamoDB holds nothing of (no row, no tombstone: nothing for the guard to
 * compare with), is not replayed: the row is read again from PostgreSQL (a one-key snapshot,
 * activities/redriveSource.ts) and that is applied: the current row, or a delete if it is gone.
 *
 * Apply, holds and publish are the consumer's one delivery path (activities/delivery/deliver.ts),
 * the one its shard readers and backfills use:
 * - news (applied now, or the very version the sink already holds): holds told, published, item
 *   REDRIVEN (`redriven`);
 * - the sink holds a newer version (outdated): nothing told or published, item REDRIVEN
 *   (`stale`): a redrive never moves state backwards. An item marked `appliedNotPublished`
 *   (DynamoDB has it, consumers never got it) is published even so, and its hold changes reach
 *   their reservation-expiry workflows, whatever the guard says;
 * - the record fails again (undecodable, unconfigured, rejected by DynamoDB or EventBridge): the
 *   item stays PARKED with the new error in `reason` and `lastRedriveError` (`failed`);
 * - DynamoDB, S3 or EventBridge unavailable: the activity throws and Temporal retries it; items
 *   done before are not done again (their audit entry carries the request id).
 */
import { classifyError, ConfigurationError, type DeadLetterCategory } from '../domain/core/errors';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import {
  outsideRedriveWindow,
  SOURCE_READ_REASONS,
  type SourceReadReason,
} from '../domain/redrive/sourceRead';
import type { StreamRecord } from '../domain/shards/shardTypes';
import {
  auditOf,
  DeadLetterFilterSchema,
  letterConsumer,
  listDeadLetters,
  readItem,
  updateParked,
  type AuditEntry,
  type DeadLetterFilter,
} from './deadLetterAdmin';
import { readDeadLetterRaw } from './deadLetters';
import type { ActivityDeps } from './deps';
import { deliver, type DeliveryPorts } from './delivery/deliver';
import { classified } from './failures';
import { redactEvents, transformRecords, redactionKeyOf } from './processing';
import { keysHeld, readFromSource, SourceRowRefused } from './redriveSource';

export interface RedriveInput {
  /** DLQ keys (`SHARD#…`, `CAPTURE#…`). */
  pks: string[];
  actor: string;
  reason: string;
  /** The redrive request (workflow): a retried activity reports what it already did instead of redoing it. */
  requestId?: string;
  /** The consumer the request is for: a worker of another consumer refuses it (the workflow ran on the wrong task queue). */
  consumer?: string;
}

export type RedriveResult = 'redriven' | 'stale' | 'failed' | 'not-parked' | 'not-found' | 'other-consumer';

/** One item's outcome: no row values, only the key, the result and (failed, not-parked) why. */
export interface RedriveOutcome {
  pk: string;
  result: RedriveResult;
  reason?: string;
}

export interface RedriveSummary {
  redriven: number;
  stale: number;
  failed: number;
  /** Not PARKED (already redriven or discarded), not found, or another consumer's: nothing done. */
  skipped: number;
  outcomes: RedriveOutcome[];
}

/**
 * `redriveDeadLetters` and `listDeadLetterPks`, the redrive workflow's activities; `ports` is the
 * consumer's delivery path (activities/delivery/consumerDelivery.ts), as its shard readers use it.
 */
export function createRedriveActivities(deps: ActivityDeps, ports: DeliveryPorts) {
  const redriver = createRedriver(deps, ports);
  return classified({
    redriveDeadLetters: (input: RedriveInput) => {
      // Not retried: a request for another consumer never becomes this worker's.
      if (input.consumer !== undefined && input.consumer !== deps.config.consumer)
        throw new ConfigurationError(
          `this worker serves consumer ${deps.config.consumer}, the redrive is for ${input.consumer}: start it on that consumer's task queue`,
        );
      return redriver.redrive(input);
    },
    /** One page of PARKED-or-filtered dead letters' keys (the workflow passes `status: 'PARKED'`). */
    listDeadLetterPks: async (
      filter: DeadLetterFilter,
      cursor: string | undefined,
      limit: number,
    ): Promise<{ pks: string[]; cursor?: string }> => {
      const parsed = DeadLetterFilterSchema.safeParse(filter);
      // Not retried: a filter that does not validate never will.
      if (!parsed.success)
        throw new ConfigurationError(`invalid dead-letter filter: ${parsed.error.issues[0]?.message ?? ''}`);
      const page = await listDeadLetters(deps, parsed.data, {
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
      });
      return { pks: page.items.map((i) => i.pk), ...(page.cursor ? { cursor: page.cursor } : {}) };
    },
  });
}

/** What a redrive needs: the consumer's clients and its delivery ports. */
interface Redriver {
  deps: ActivityDeps;
  ports: DeliveryPorts;
  redactionKey: ReturnType<typeof redactionKeyOf>;
}

/**
 * The redrive of dead letters by key, through the delivery path of `deps.config`'s consumer (its
 * letters only), for the activity and for tools that run it in-process.
 */
export function createRedriver(deps: ActivityDeps, ports: DeliveryPorts) {
  const r: Redriver = { deps, ports, redactionKey: redactionKeyOf(deps.config) };
  return {
    async redrive(input: RedriveInput): Promise<RedriveSummary> {
      const summary: RedriveSummary = { redriven: 0, stale: 0, failed: 0, skipped: 0, outcomes: [] };
      // One at a time, in the order given: each item's result is known before the next.
      for (const pk of [...new Set(input.pks)]) {
        const outcome = await redriveOne(r, pk, input);
        summary.outcomes.push(outcome);
        if (outcome.result === 'redriven') summary.redriven++;
        else if (outcome.result === 'stale') summary.stale++;
        else if (outcome.result === 'failed') summary.failed++;
        else summary.skipped++;
      }
      return summary;
    },
  };
}

/** Decrypts, transforms and redacts the record; the events, or why the record cannot go through. */
async function eventsOf(
  r: Redriver,
  item: Record<string, unknown>,
): Promise<{ events: PipelineEvent[] } | { failed: string; category?: DeadLetterCategory }> {
  const { deps, redactionKey } = r;
  let raw: Awaited<ReturnType<typeof readDeadLetterRaw>>;
  try {
    raw = await readDeadLetterRaw(deps, item);
  } catch (err) {
    // S3 down is retried; a missing object, a retired key or a wrong hash will not heal.
    if (isInfrastructure(err)) throw err;
    return { failed: `the raw record cannot be read: ${describe(err)}` };
  }
  const record = streamRecordOf(item, raw);
  if ('failed' in record) return record;
  const out = transformRecords({ shardId: record.shardId, records: [record.record] });
  const letter = out.deadLetters[0];
  if (letter) return { failed: `${letter.category}: ${letter.reason}`, category: letter.category };
  try {
    return { events: redactEvents(out.events, redactionKey) };
  } catch (err) {
    if (isInfrastructure(err)) throw err;
    return { failed: `redaction: ${describe(err)}`, category: 'poison' };
  }
}

/**
 * No resurrection: past the redrive window, or with nothing in the sink for the guard to compare
 * an update or delete with, the row is read again from PostgreSQL instead of replaying the image.
 */
async function currentEvents(
  r: Redriver,
  item: Record<string, unknown>,
  letterEvents: PipelineEvent[],
): Promise<
  { events: PipelineEvent[]; reread?: SourceReadReason } | { failed: string; category: DeadLetterCategory }
> {
  const { deps } = r;
  const { deadLetters } = deps.config;
  let events = letterEvents;
  let reread: SourceReadReason | undefined = outsideRedriveWindow(
    item.parkedAt,
    Date.now(),
    deadLetters.redriveWindowDays,
  )
    ? 'outside-window'
    : undefined;
  if (!reread && events.length && (await keysHeld(deps, events)) === false) reread = 'nothing-to-compare';
  if (reread && events.length) {
    try {
      events = await readFromSource(deps, events, events[0]!.position);
    } catch (err) {
      // PostgreSQL down or a watermark held by a long transaction is retried; a table that is
      // not there, or a row the pipeline refuses, will not heal by retrying.
      if (err instanceof ConfigurationError)
        return {
          failed: `reading the row again from PostgreSQL: ${err.message}`,
          category: 'configuration',
        };
      if (err instanceof SourceRowRefused)
        return { failed: `reading the row again from PostgreSQL: ${err.message}`, category: 'poison' };
      throw err;
    }
  }
  return { events, ...(reread ? { reread } : {}) };
}

/**
 * Why the letter is not redriven now (another consumer's, not PARKED, or this request's retry
 * meeting what its first attempt did); undefined when it goes through.
 */
function refusal(
  r: Redriver,
  pk: string,
  item: Record<string, unknown>,
  input: RedriveInput,
): RedriveOutcome | undefined {
  const { deps } = r;
  const { consumer } = deps.config;
  const owner = letterConsumer(item, deps.config);
  if (owner !== consumer)
    return {
      pk,
      result: 'other-consumer',
      reason: `a letter of consumer ${owner ?? '(unknown)'}, not ${consumer}: redrive it with --consumer ${owner ?? '<name>'}`,
    };
  const last = auditOf(item).at(-1);
  const mine =
    input.requestId !== undefined && last?.requestId === input.requestId && last.action === 'redrive';
  if (item.status !== 'PARKED') {
    // A retried activity meets what its first attempt did.
    if (mine)
      return { pk, result: last.result as RedriveResult, ...(last.detail ? { reason: last.detail } : {}) };
    return {
      pk,
      result: 'not-parked',
      reason: `status is ${String(item.status)}; only PARKED items are redriven`,
    };
  }
  if (mine && last.result === 'failed') return { pk, result: 'failed', reason: last.detail ?? '' };
  return undefined;
}

async function redriveOne(r: Redriver, pk: string, input: RedriveInput): Promise<RedriveOutcome> {
  const { deps, ports } = r;
  const { sink, publisher } = ports;
  const item = await readItem(deps, pk);
  if (!item) return { pk, result: 'not-found', reason: 'no such dead letter' };
  const refused = refusal(r, pk, item, input);
  if (refused) return refused;

  const audit = (result: AuditEntry['result'], detail: string): AuditEntry => ({
    at: new Date().toISOString(),
    actor: input.actor,
    action: 'redrive',
    reason: input.reason,
    result,
    detail: detail.slice(0, 1000),
    ...(input.requestId !== undefined ? { requestId: input.requestId } : {}),
  });
  const fail = async (why: string, category?: DeadLetterCategory): Promise<RedriveOutcome> => {
    const reason = `redrive failed: ${why}`.slice(0, 1000);
    const kept = await updateParked(deps, pk, {
      set: {
        reason,
        lastRedriveError: reason,
        lastRedriveAt: new Date().toISOString(),
        ...(category ? { category } : {}),
      },
      audit: audit('failed', why),
    });
    return kept ? { pk, result: 'failed', reason } : closedMeanwhile(pk);
  };

  const processed = await eventsOf(r, item);
  if ('failed' in processed) return fail(processed.failed, processed.category);

  const current = await currentEvents(r, item, processed.events);
  if ('failed' in current) return fail(current.failed, current.category);
  const { events, reread } = current;
  const from = reread ? `read again from PostgreSQL (${SOURCE_READ_REASONS[reread]}); ` : '';

  // Applied before, never published (a skip or an EventBridge refusal after the apply): every
  // change is published now, whatever the version guard says. A row read again is the current
  // state: published if it is news.
  const alreadyApplied = item.appliedNotPublished === true && !reread;
  // The one delivery path (activities/delivery/deliver.ts): version-guarded apply, then holds
  // and publish for the news (an older version than the sink holds is neither). Nothing is told
  // while a change is refused; before anything is, "written, not yet published" is said on the
  // item, so a crash or a publisher outage before the publish cannot turn the retry into a
  // silent 'stale'.
  const d = await deliver(events, ports, {
    all: alreadyApplied,
    beforeAnnounce: async (applied) =>
      !applied.rejected.length &&
      (item.appliedNotPublished === true ||
        (await updateParked(deps, pk, { set: { appliedNotPublished: true } }))),
  });
  const { applied } = d;
  if (applied.rejected.length)
    return fail(applied.rejected.map((r) => r.reason).join('; '), applied.rejected[0].category);
  if (!d.news.length) {
    const detail = `${from}${sink.name === 'dynamodb' ? 'DynamoDB' : sink.name} holds a newer version (${applied.stale} stale); nothing published`;
    const closed = await updateParked(deps, pk, {
      set: { status: 'REDRIVEN', redrivenAt: new Date().toISOString() },
      audit: audit('stale', detail),
    });
    return closed ? { pk, result: 'stale', reason: detail } : closedMeanwhile(pk);
  }
  if (d.stopped) return closedMeanwhile(pk);
  const pub = d.published;
  if (pub.rejected.length)
    return fail(`${publisher.name}: ${pub.rejected.map((r) => r.reason).join('; ')}`, 'permanent');
  const told = d.notified.delivered ? `, ${d.notified.delivered} holds told` : '';
  const detail = `${from}applied ${applied.applied}, stale ${applied.stale}, published ${pub.published}${told}`;
  const closed = await updateParked(deps, pk, {
    set: { status: 'REDRIVEN', redrivenAt: new Date().toISOString(), appliedNotPublished: false },
    audit: audit('redriven', detail),
  });
  return closed ? { pk, result: 'redriven', reason: detail } : closedMeanwhile(pk);
}

const closedMeanwhile = (pk: string): RedriveOutcome => ({
  pk,
  result: 'not-parked',
  reason: 'closed (redriven or discarded) by someone else during the redrive',
});

/**
 * The stream record to process again. A shard letter is the record as it was on the stream. A
 * capture letter holds the encoded change event capture could not put on the stream (then it
 * goes through as if read from the stream: there is no Kinesis sequence number, '0' stands in),
 * or the undecoded change (a value the type decoder refused), which cannot be redriven.
 */
function streamRecordOf(
  item: Record<string, unknown>,
  raw: { bytes: Buffer; encoding: 'utf8' | 'base64' },
): { record: StreamRecord; shardId: string } | { failed: string } {
  const data = raw.bytes.toString(raw.encoding);
  if (item.source === 'capture') {
    let undecoded = false;
    try {
      undecoded = (JSON.parse(data) as { undecoded?: unknown }).undecoded === true;
    } catch {
      // not JSON: transform says why
    }
    if (undecoded)
      return {
        failed:
          'capture could not decode this change (a value the type decoder refuses): it holds no change event to ' +
          'redrive; fix the value in PostgreSQL (an UPDATE re-captures the row) and discard this letter',
      };
    return {
      shardId: `capture:${String(item.slot)}`,
      record: {
        sequenceNumber: '0',
        partitionKey: String(item.partitionKey ?? `${String(item.table)}:`),
        data,
        encoding: raw.encoding,
        arrivalMs: 0,
      },
    };
  }
  return {
    shardId: String(item.shardId),
    record: {
      sequenceNumber: String(item.sequenceNumber),
      partitionKey: String(item.partitionKey ?? ''),
      data,
      encoding: raw.encoding,
      arrivalMs: 0,
    },
  };
}

/** An error of the infrastructure (retried by Temporal), as opposed to one of the record. */
function isInfrastructure(err: unknown): boolean {
  const type = classifyError(err);
  if (type !== 'transient' && type !== 'throttling') return false;
  // Unknown errors classify as transient; only those that come from a service or the network are.
  const e = err as { $metadata?: unknown; code?: unknown };
  return typeof err === 'object' && err !== null && (e.$metadata !== undefined || typeof e.code === 'string');
}

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
