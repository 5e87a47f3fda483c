import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { RETRY_BACKOFF } from '../../domain/core/backoff';
import { classifyError, ConfigurationError, isRecordLevel } from '../../domain/core/errors';
import { entityKey, inventoryKey } from '../../domain/core/itemKeys';
import type { Row } from '../../domain/core/json';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { inventoryView } from '../../domain/inventory/inventoryRow';
import { outdatedChanges } from '../../domain/processing/outdated';
import { metrics } from '../../infra/metrics';
import { mapLimit } from '../concurrency';
import { aboutRecord, troubleOf } from '../failures';
import type { ActivityDeps } from '../deps';
import { backoff } from '../retryWaits';
import type { ApplyResult, ChangeSink } from './changeSink';

const WRITE_CONCURRENCY = 32;

type Item = Record<string, unknown>;

/**
 * Version-guarded, idempotent writes: the current row per entity in cdc_entities (tombstone on
 * delete) and, for inventory rows, the per-(sku, warehouse) view in inventory_realtime. An older
 * version never overwrites a newer one. Different keys are written concurrently; the changes of
 * one key in batch (stream) order, so the version guard only refuses true replays and
 * duplicates (the stale count means something). A write that fails for its record alone (e.g.
 * item too large) is rejected; any other failure fails the batch.
 */
export function createDynamoDbSink(deps: ActivityDeps): ChangeSink {
  return {
    name: 'dynamodb',
    apply: (events) => metrics.timed(deps.config.consumer, 'apply', () => applyBatch(deps, events)),
  };
}

/** The changes of a batch written and found stale, for the metrics (not part of the result). */
interface Outcome {
  written: PipelineEvent[];
  stale: PipelineEvent[];
}

async function applyBatch(deps: ActivityDeps, events: PipelineEvent[]): Promise<ApplyResult> {
  const result: ApplyResult = { applied: 0, stale: 0, coalesced: 0, rejected: [], outdated: [] };
  const outcome: Outcome = { written: [], stale: [] };
  const nowSeconds = Math.floor(Date.now() / 1000);
  await mapLimit(changesByKey(events), WRITE_CONCURRENCY, async (changes) => {
    const toWrite = coalesce(changes);
    result.coalesced += changes.length - toWrite.length;
    // The version DynamoDB held before this attempt's first write of the key.
    let heldBefore: { version?: string } | undefined;
    for (const e of toWrite) {
      const held = await applyChange(deps, e, nowSeconds, result, outcome);
      heldBefore ??= held;
    }
    const outdated = outdatedChanges(
      changes.map((c) => c.version),
      heldBefore?.version,
    );
    changes.forEach((c, i) => {
      if (outdated[i]) result.outdated!.push(c.eventId);
    });
  });
  metrics.applied(deps.config.consumer, outcome.written, outcome.stale, result.coalesced);
  metrics.outdated(deps.config.consumer, result.outdated!.length);
  return result;
}

/**
 * Only the newest change of a key needs writing when every change carries the full row: the
 * version guard would make the older ones no-ops anyway. A batch of 500 updates of one hot SKU is
 * one write. Partial images merge into what came before, so a key with any of them is written
 * change by change, in batch order.
 */
export function coalesce(changes: PipelineEvent[]): PipelineEvent[] {
  if (changes.length < 2 || changes.some((c) => c.partial)) return changes;
  return [changes.reduce((newest, c) => (c.version > newest.version ? c : newest))];
}

/** The events grouped by entity, each group in batch order. */
function changesByKey(events: PipelineEvent[]): PipelineEvent[][] {
  const byKey = new Map<string, PipelineEvent[]>();
  for (const e of events) {
    const k = entityKey(e.table, e.entityId);
    const changes = byKey.get(k);
    if (changes) changes.push(e);
    else byKey.set(k, [e]);
  }
  return [...byKey.values()];
}

async function applyChange(
  deps: ActivityDeps,
  e: PipelineEvent,
  nowSeconds: number,
  result: ApplyResult,
  outcome: Outcome,
): Promise<Held | undefined> {
  if (!e.redactionPolicy) throw new ConfigurationError(`event ${e.eventId} was not redacted`);
  try {
    const { written, held } = e.partial
      ? await mergeChange(deps, e, nowSeconds)
      : await writeChange(deps, e, nowSeconds);
    if (written) result.applied++;
    else result.stale++;
    (written ? outcome.written : outcome.stale).push(e);
    return held;
  } catch (err) {
    // Only an error about this record (item too large, a number out of range) rejects it; any
    // other (missing table, wrong key schema, no access, unknown 4xx) fails the batch: the shard holds.
    if (!isRecordLevel(err)) throw aboutRecord(err, troubleOf(e));
    const category = classifyError(err) === 'poison' ? 'poison' : 'permanent';
    result.rejected.push({
      sequenceNumber: e.position.sequenceNumber,
      category,
      reason: `DynamoDB: ${(err as Error).message}`,
      eventId: e.eventId,
    });
    return undefined;
  }
}

/** The version the entity item had before a write (none: no item). */
interface Held {
  version?: string;
}

/** Whether a change was written, and what the entity item held before. */
interface WriteOutcome {
  written: boolean;
  held: Held;
}

/** Writes the entity item (and the inventory view); not written when the stored version is the same or newer. */
async function writeChange(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Promise<WriteOutcome> {
  const { tables } = deps.config;
  const writes = [guardedPut(deps, tables.entities, entityItem(deps, e, nowSeconds))];
  if (e.table === 'inventory')
    writes.push(guardedPut(deps, tables.inventory, inventoryItem(deps, e, nowSeconds)));
  // Both items are guarded by the same version, so they can be written at once.
  const [entity] = await Promise.all(writes);
  return entity;
}

/**
 * A change that carries only some columns: merged into the row DynamoDB holds (columns it does
 * not name keep their values: `reserved`, the threshold), version-guarded, with an optimistic
 * check that nobody wrote the key in between. A merge that lost that race reads the item again
 * after a backoff with full jitter (`RETRY_BACKOFF.dynamoMerge`, 5 attempts in all). False when the
 * stored version is the same or newer.
 */
async function mergeChange(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Promise<WriteOutcome> {
  const { tables } = deps.config;
  const pk = entityKey(e.table, e.entityId);
  let firstHeld: Held | undefined;
  for (let attempt = 1; ; attempt++) {
    const current = (
      await deps.aws.doc.send(
        new GetCommand({ TableName: tables.entities, Key: { pk }, ConsistentRead: true }),
      )
    ).Item;
    firstHeld ??= current ? { version: String(current.version) } : {};
    if (current && String(current.version) >= e.version) return { written: false, held: firstHeld };
    const held = current && !current.deleted ? ((current.row ?? {}) as Row) : {};
    const merged: PipelineEvent = { ...e, after: { ...held, ...(e.after ?? {}) } };
    try {
      await deps.aws.doc.send(
        new PutCommand({
          TableName: tables.entities,
          Item: entityItem(deps, merged, nowSeconds),
          ...(current
            ? {
                ConditionExpression: 'version = :held',
                ExpressionAttributeValues: { ':held': current.version },
              }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
    } catch (err) {
      if (
        !(err instanceof ConditionalCheckFailedException) ||
        attempt >= RETRY_BACKOFF.dynamoMerge.maxAttempts
      )
        throw err;
      await backoff('dynamoMerge', attempt, deps.retryWaits);
      continue;
    }
    if (e.table === 'inventory')
      await guardedPut(deps, tables.inventory, inventoryItem(deps, merged, nowSeconds));
    return { written: true, held: firstHeld };
  }
}

/** Attributes both items carry: the version guard's value, and a tombstone TTL on delete. */
function commonAttributes(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Item {
  const deleted = e.op === 'd';
  return {
    version: e.version,
    eventId: e.eventId,
    lastChangeAt: e.commitTs,
    deleted,
    // A tombstone outlives the stream's retention and the DLQ's redrive window (infra/config.ts),
    // so a replay or a redrive finds it and cannot resurrect the row.
    ...(deleted ? { ttl: nowSeconds + deps.config.tombstoneTtlDays * 86_400 } : {}),
  };
}

/** cdc_entities: the redacted current row (none on a tombstone). */
function entityItem(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Item {
  return {
    pk: entityKey(e.table, e.entityId),
    table: e.table,
    entityId: e.entityId,
    ...commonAttributes(deps, e, nowSeconds),
    ...(e.op === 'd' ? {} : { row: e.after }),
  };
}

/** inventory_realtime: stock of one SKU in one warehouse (no quantities on a tombstone). */
function inventoryItem(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Item {
  const row: Row = e.after ?? e.before ?? {};
  return {
    pk: inventoryKey(e.key.sku, e.key.warehouse_id),
    sku: e.key.sku,
    warehouseId: e.key.warehouse_id,
    ...commonAttributes(deps, e, nowSeconds),
    ...(e.op === 'd' ? {} : inventoryView(row)),
  };
}

/**
 * Conditional put guarded by the source version: never moves state backwards. Says whether it
 * wrote and which version the item held before (the old item comes back either way, so telling
 * news from an outdated change costs no extra request).
 */
async function guardedPut(deps: ActivityDeps, table: string, item: Item): Promise<WriteOutcome> {
  try {
    const out = await deps.aws.doc.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
        ExpressionAttributeValues: { ':v': item.version },
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { written: true, held: heldOf(out.Attributes) };
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return { written: false, held: heldOf(err.Item) };
    throw err;
  }
}

/**
 * The version of an old item, plain (DocumentClient output) or marshalled (a conditional
 * failure's item); a refusal without the item says only that the held version is not older.
 */
function heldOf(item: Record<string, unknown> | undefined): Held {
  const v = item?.version as unknown;
  if (typeof v === 'string') return { version: v };
  if (v && typeof v === 'object' && typeof (v as { S?: unknown }).S === 'string')
    return { version: (v as { S: string }).S };
  return {};
}
