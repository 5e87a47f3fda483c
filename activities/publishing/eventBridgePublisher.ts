import { PutEventsCommand, type PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import { RETRY_BACKOFF } from '../../domain/core/backoff';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { inventoryAlerts } from '../../domain/publishing/alerts';
import { chunkEntries, toEventEntry, type EventEntry } from '../../domain/publishing/eventEntry';
import { metrics } from '../../infra/metrics';
import { mapLimit } from '../concurrency';
import type { ActivityDeps } from '../deps';
import { aboutRecord, troubleOf } from '../failures';
import { backoff } from '../retryWaits';
import type { PublishResult, Publisher } from '../sinks/publisher';
import type { AlertPublisher } from './alertPublisher';

const PUBLISH_CONCURRENCY = 8;
/**
 * PutEvents error codes about the entry itself, which re-sending cannot fix: that record is
 * dead-lettered. Any other code (NotAuthorizedForSourceException, throttling, internal) is
 * retried and then holds the shard: it is about the bus or the account, not the record.
 */
const PERMANENT_ENTRY_ERRORS = new Set(['MalformedDetail', 'InvalidArgument', 'ValidationException']);

/**
 * The operational consumer's publisher (activities/sinks/publisher.ts); the alerts the events
 * raise go through the alert publisher (once per alertId).
 */
export function createEventBridgePublisher(deps: ActivityDeps, alerts: AlertPublisher): Publisher {
  return {
    name: 'EventBridge',
    publish: (events) =>
      metrics.timed(deps.config.consumer, 'publish', () => publishEvents(deps, alerts, events)),
  };
}

/**
 * Publishes the events (only failed entries re-sent) and the inventory alerts they trigger
 * (low stock crossing, abnormal drop), each alert once per alertId.
 */
async function publishEvents(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  events: PipelineEvent[],
): Promise<PublishResult> {
  const processedAt = new Date().toISOString();
  // Operations a table does not publish (its `operations` in the table file) stop here.
  const published = events.filter((e) => !e.unpublished);
  const rejectedEntries = await putEntries(
    deps,
    published.map((e) => ({ entry: toEventEntry(e, deps.config.eventBus, processedAt), ref: e })),
  );
  const refused = new Set(rejectedEntries.map((r) => r.ref));
  metrics.published(
    deps.config.consumer,
    refused.size ? published.filter((e) => !refused.has(e)) : published,
    rejectedEntries.length,
  );
  const alerted = await alerts.publishAlerts(events.flatMap((e) => inventoryAlerts(e)));
  return {
    published: published.length - rejectedEntries.length,
    alerts: alerted,
    rejected: rejectedEntries.map((r) => ({
      sequenceNumber: r.ref.position.sequenceNumber,
      category: 'permanent',
      reason: r.reason,
    })),
  };
}

/** An entry EventBridge will never accept, by the reference it was given with. */
export interface RejectedEntry<T> {
  ref: T;
  reason: string;
}

/**
 * Puts entries (≤10 per request, within the size limit), re-sending only failed ones; returns
 * the entries that cannot succeed. Rejects when entries still fail after five attempts
 * (`RETRY_BACKOFF.eventBridgePut`: full jitter between them).
 */
export async function putEntries<T>(
  deps: Pick<ActivityDeps, 'aws' | 'retryWaits'>,
  items: { entry: EventEntry; ref: T }[],
): Promise<RejectedEntry<T>[]> {
  const refOf = new Map(items.map((i) => [i.entry, i.ref]));
  const rejected: RejectedEntry<T>[] = [];
  const reject = (entry: EventEntry, reason: string) => rejected.push({ ref: refOf.get(entry)!, reason });
  const { chunks, oversized } = chunkEntries(items.map((i) => i.entry));
  for (const o of oversized) reject(o, 'event exceeds the 256 KiB EventBridge entry limit');
  try {
    await mapLimit(chunks, PUBLISH_CONCURRENCY, (chunk) => putChunk(deps, chunk, reject));
  } catch (err) {
    // Name the record that kept failing, for the workflow's status (events only, not alerts).
    const ref = refOf.get((err as { entry?: EventEntry }).entry!);
    if (isPipelineEvent(ref)) throw aboutRecord(err, troubleOf(ref));
    throw err;
  }
  return rejected;
}

/** Sends one request's entries until each is accepted or rejected for good, with backoff between attempts. */
async function putChunk(
  deps: Pick<ActivityDeps, 'aws' | 'retryWaits'>,
  chunk: EventEntry[],
  reject: (entry: EventEntry, reason: string) => void,
): Promise<void> {
  let pending = chunk;
  for (let attempt = 1; pending.length; attempt++) {
    const out = await deps.aws.events.send(new PutEventsCommand({ Entries: pending }));
    const retry = entriesToRetry(pending, out.Entries, reject);
    if (retry.length && attempt >= RETRY_BACKOFF.eventBridgePut.maxAttempts)
      throw Object.assign(stillFailing(out.Entries, retry.length, attempt), { entry: retry[0] });
    if (retry.length) await backoff('eventBridgePut', attempt, deps.retryWaits);
    pending = retry;
  }
}

/** The entries of a request that failed and may succeed when sent again; permanent failures are rejected. */
function entriesToRetry(
  sent: EventEntry[],
  results: PutEventsResultEntry[] | undefined,
  reject: (entry: EventEntry, reason: string) => void,
): EventEntry[] {
  const retry: EventEntry[] = [];
  sent.forEach((entry, i) => {
    const result = results?.[i];
    if (result?.EventId && !result.ErrorCode) return;
    if (result?.ErrorCode && PERMANENT_ENTRY_ERRORS.has(result.ErrorCode)) {
      reject(entry, `PutEvents ${result.ErrorCode}: ${result.ErrorMessage ?? ''}`);
    } else retry.push(entry);
  });
  return retry;
}

/** The error for entries still failing after the last attempt, named so it classifies as throttling or transient. */
function stillFailing(results: PutEventsResultEntry[] | undefined, failing: number, attempts: number): Error {
  const code = results?.find((x) => x.ErrorCode)?.ErrorCode ?? 'unknown';
  return Object.assign(
    new Error(`PutEvents: ${failing} entries still failing after ${attempts} attempts (${code})`),
    { name: code === 'ThrottlingException' ? 'ThrottlingException' : 'InternalFailure' },
  );
}

const isPipelineEvent = (v: unknown): v is PipelineEvent =>
  typeof v === 'object' && v !== null && 'position' in v && 'eventId' in v;
