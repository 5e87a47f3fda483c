/**
 * The shared end of every backfill mode: redacted events applied to DynamoDB one by one (so the
 * activity knows which were stale) through the pipeline's own version-guarded sink, and put on
 * EventBridge through the pipeline's own put path.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { entityKey } from '../../domain/core/itemKeys';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { holdChanges } from '../../domain/reservations/hold';
import { toEventEntry } from '../../domain/publishing/eventEntry';
import { mapLimit } from '../concurrency';
import type { ActivityDeps } from '../deps';
import { putEntries } from '../publishing/eventBridgePublisher';
import { tellHolds } from '../reservations';
import type { ChangeSink } from '../sinks/changeSink';
import { heartbeat } from './postgres';

const APPLY_CONCURRENCY = 32;
const MAX_REASONS = 5;

export interface Delivery {
  applied: number;
  stale: number;
  published: number;
  rejected: number;
  reasons: string[];
}

/**
 * Applies each event on its own (concurrently across events), then publishes: the applied
 * events only (`publish: 'applied'`: snapshot and reconcile, where a stale row must not reach
 * consumers), or every event (`publish: 'all'`: replay, whose event ids are the original ones,
 * so consumers deduplicate). Events of operations the table does not publish are never put.
 *
 * A retried chunk carries the watermark of its first attempt, so its events are the same ones
 * (version, event id). One that an earlier attempt wrote before failing (e.g. in publish) comes
 * back from the guard as not newer; DynamoDB then holds this very event (its id), so it counts
 * as applied and is published (and told to holds) now: once, under its own id.
 */
export async function deliver(
  deps: ActivityDeps,
  sink: ChangeSink,
  events: PipelineEvent[],
  publish: 'applied' | 'all',
): Promise<Delivery> {
  const d: Delivery = { applied: 0, stale: 0, published: 0, rejected: 0, reasons: [] };
  const reason = (r: string) => {
    if (d.reasons.length < MAX_REASONS) d.reasons.push(r.slice(0, 300));
  };
  const toPublish: PipelineEvent[] = [];
  let done = 0;
  await mapLimit(events, APPLY_CONCURRENCY, async (e) => {
    const r = await sink.apply([e]);
    const ours = r.applied === 0 && r.stale > 0 && publish === 'applied' && (await writtenBefore(deps, e));
    d.applied += ours ? 1 : r.applied;
    d.stale += ours ? 0 : r.stale;
    d.rejected += r.rejected.length;
    for (const x of r.rejected) reason(x.reason);
    const written = r.applied > 0 || ours;
    if ((written || (publish === 'all' && !r.rejected.length)) && !e.unpublished) toPublish.push(e);
    if (++done % 100 === 0) heartbeat();
  });
  // A hold found by a backfill (taken while no pipeline ran, or before the slot existed) gets
  // its expiry workflow too; one already running ignores a change not newer than its own.
  await tellHolds(deps, holdChanges(toPublish));
  if (toPublish.length) {
    const processedAt = new Date().toISOString();
    // In key order, as read: the put path keeps the order of entries within a request.
    const order = new Map(events.map((e, i) => [e, i]));
    toPublish.sort((a, b) => order.get(a)! - order.get(b)!);
    const refused = await putEntries(
      deps,
      toPublish.map((e) => ({ entry: toEventEntry(e, deps.config.eventBus, processedAt), ref: e })),
    );
    d.published = toPublish.length - refused.length;
    d.rejected += refused.length;
    for (const r of refused) reason(`EventBridge: ${r.reason}`);
  }
  return d;
}

/** Whether DynamoDB holds this very event: an earlier attempt of the same chunk wrote it. */
async function writtenBefore(deps: ActivityDeps, e: PipelineEvent): Promise<boolean> {
  const out = await deps.aws.doc.send(
    new GetCommand({
      TableName: deps.config.tables.entities,
      Key: { pk: entityKey(e.table, e.entityId) },
      ConsistentRead: true,
      ProjectionExpression: 'eventId',
    }),
  );
  return out.Item?.eventId === e.eventId;
}
