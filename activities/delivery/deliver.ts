/**
 * The one delivery path: apply a batch of redacted changes to the consumer's sink, then tell the
 * news to whoever must hear it first (the holds' expiry workflows), then publish it. News is what
 * the sink did not reject and that is not outdated (strictly older than what the sink held, or
 * than a change of the same key before it: domain/processing/outdated.ts): consumers never hear
 * the old state after the new one.
 *
 * Backfill chunks (activities/backfill/deliver.ts) and DLQ redrive (activities/redrive.ts) call
 * `deliver`. The shard reader runs the same three steps as activities of their own, each a held
 * step of its workflow (workflows/shardReader/: apply → reservations → publish), over the same
 * ports (stepActivities.ts) and by the same rule (the workflow leaves out rejected and outdated
 * changes between apply and publish).
 */
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { ApplyResult, ChangeSink } from '../sinks/changeSink';
import type { PublishResult, Publisher } from '../sinks/publisher';

/** Who is told of a delivery's news before consumers hear it, and what came of it. */
export interface Notified {
  /** Changes delivered to a listener. */
  delivered: number;
  /** Changes nobody was waiting for. */
  ignored: number;
}

/** Where a consumer's changes go (consumerDelivery.ts binds them by the consumer's sink). */
export interface DeliveryPorts {
  sink: ChangeSink;
  publisher: Publisher;
  /**
   * Told of the news after the apply and before the publish (the reservation-expiry workflows of
   * the holds it changes: a hold's workflow exists by the time consumers hear of the hold).
   */
  notify?: (news: PipelineEvent[]) => Promise<Notified>;
}

export interface DeliveryOptions {
  /**
   * Publish (and notify) every change the sink did not reject, outdated or not: a replay
   * republishes history with the original event ids on purpose; a redrive publishes what was
   * applied but never published, whatever the guard says now.
   */
  all?: boolean;
  /**
   * Runs after the apply when there is news, before anyone is told of it; `false` stops the
   * delivery there (nothing notified or published).
   */
  beforeAnnounce?: (applied: ApplyResult, news: PipelineEvent[]) => Promise<boolean>;
}

export interface Delivered {
  /** What the sink said. */
  applied: ApplyResult;
  /** The changes announced (or that would have been, when stopped), in batch order. */
  news: PipelineEvent[];
  notified: Notified;
  published: PublishResult;
  /** `beforeAnnounce` stopped the delivery after the apply. */
  stopped: boolean;
}

const NOBODY: Notified = { delivered: 0, ignored: 0 };
const NOTHING: PublishResult = { published: 0, alerts: 0, rejected: [] };

/** Applies, then notifies and publishes the news. A failure of any port rejects the whole call. */
export async function deliver(
  events: PipelineEvent[],
  ports: DeliveryPorts,
  opts: DeliveryOptions = {},
): Promise<Delivered> {
  const applied = await ports.sink.apply(events);
  const news = opts.all ? acceptedOf(events, applied) : newsOf(events, applied);
  const out: Delivered = { applied, news, notified: NOBODY, published: NOTHING, stopped: false };
  if (!news.length) return out;
  if (opts.beforeAnnounce && !(await opts.beforeAnnounce(applied, news))) return { ...out, stopped: true };
  const notified = ports.notify ? await ports.notify(news) : NOBODY;
  const published = await ports.publisher.publish(news);
  return { ...out, notified, published };
}

/** The changes consumers hear of after an apply: neither rejected nor outdated, in batch order. */
export function newsOf(events: PipelineEvent[], applied: ApplyResult): PipelineEvent[] {
  const outdated = new Set(applied.outdated ?? []);
  return acceptedOf(events, applied).filter((e) => !outdated.has(e.eventId));
}

/**
 * The changes the sink did not reject. A rejection names its change by event id, or (a sink that
 * does not say) by sequence number, which then leaves out every change of that record.
 */
function acceptedOf(events: PipelineEvent[], applied: ApplyResult): PipelineEvent[] {
  if (!applied.rejected.length) return events;
  const ids = new Set<string>();
  const records = new Set<string>();
  for (const r of applied.rejected) {
    if (r.eventId !== undefined) ids.add(r.eventId);
    else records.add(r.sequenceNumber);
  }
  return events.filter((e) => !ids.has(e.eventId) && !records.has(e.position.sequenceNumber));
}
