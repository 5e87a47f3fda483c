/**
 * The shared end of every backfill mode: a chunk's redacted events through the consumer's one
 * delivery path (activities/delivery/deliver.ts: its sink, then holds and publisher for the
 * news; DynamoDB and EventBridge, or the analytics database and nothing), in slices with a
 * heartbeat after each, and the chunk's counts.
 */
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { deliver as deliverBatch, type DeliveryPorts } from '../delivery/deliver';
import { heartbeat } from './postgres';

/** Events per apply (and publish): a slice of a chunk takes seconds on a slow sink, well within the heartbeat timeout. */
const SLICE = 100;
const MAX_REASONS = 5;

export interface Delivery {
  applied: number;
  stale: number;
  published: number;
  rejected: number;
  reasons: string[];
}

/**
 * Applies the events in slices, each slice then notified and published by the one delivery path:
 *
 * - `news` (snapshot, reconcile): what the sink did not reject and that is not outdated. A row
 *   that a newer streamed change holds is stale, and is neither published nor told to holds. A
 *   retried chunk carries the watermark of its first attempt, so its events are the same ones
 *   (version, event id): one that an earlier attempt wrote before failing (e.g. in publish) is
 *   the version the sink holds, so it is news, counts as applied and is published (and told to
 *   holds) now: once, under its own id.
 * - `all` (replay): every event the sink did not reject, stale or not: the ids are the original
 *   ones, so consumers deduplicate; the counts are the sink's (a replayed change DynamoDB already
 *   holds is stale).
 *
 * Events of operations the table does not publish are never put (the publisher leaves them out).
 * Within a slice, events keep their order (key order, as read; stream order for a replay).
 */
export async function deliver(
  ports: DeliveryPorts,
  events: PipelineEvent[],
  publish: 'news' | 'all',
): Promise<Delivery> {
  const d: Delivery = { applied: 0, stale: 0, published: 0, rejected: 0, reasons: [] };
  const reason = (r: string) => {
    if (d.reasons.length < MAX_REASONS) d.reasons.push(r.slice(0, 300));
  };
  for (let i = 0; i < events.length; i += SLICE) {
    const slice = events.slice(i, i + SLICE);
    const out = await deliverBatch(slice, ports, { all: publish === 'all' });
    const { applied } = out;
    const rejected = applied.rejected.length;
    if (publish === 'all') {
      d.applied += applied.applied;
      d.stale += applied.stale;
    } else {
      d.applied += out.news.length;
      d.stale += slice.length - rejected - out.news.length;
    }
    d.rejected += rejected + out.published.rejected.length;
    for (const r of applied.rejected) reason(r.reason);
    for (const r of out.published.rejected) reason(`${ports.publisher.name}: ${r.reason}`);
    d.published += out.published.published;
    heartbeat();
  }
  return d;
}
