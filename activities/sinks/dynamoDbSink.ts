import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { classifyError, ConfigurationError } from '../../domain/core/errors';
import { entityKey, inventoryKey } from '../../domain/core/itemKeys';
import type { Row } from '../../domain/core/json';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { inventoryView } from '../../domain/inventory/inventoryRow';
import { mapLimit } from '../concurrency';
import type { ActivityDeps } from '../deps';
import type { ApplyResult, ChangeSink } from './changeSink';

const TOMBSTONE_TTL_SECONDS = 7 * 24 * 3600;
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
  return { name: 'dynamodb', apply: (events) => applyBatch(deps, events) };
}

async function applyBatch(deps: ActivityDeps, events: PipelineEvent[]): Promise<ApplyResult> {
  const result: ApplyResult = { applied: 0, stale: 0, rejected: [] };
  const nowSeconds = Math.floor(Date.now() / 1000);
  await mapLimit(changesByKey(events), WRITE_CONCURRENCY, async (changes) => {
    for (const e of changes) await applyChange(deps, e, nowSeconds, result);
  });
  return result;
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
): Promise<void> {
  if (!e.redactionPolicy) throw new ConfigurationError(`event ${e.eventId} was not redacted`);
  try {
    if (await writeChange(deps, e, nowSeconds)) result.applied++;
    else result.stale++;
  } catch (err) {
    const category = classifyError(err);
    // Infrastructure configuration (missing table, no access) holds the shard; only record-level failures are rejected.
    if (category !== 'poison' && category !== 'permanent') throw err;
    result.rejected.push({
      sequenceNumber: e.position.sequenceNumber,
      category,
      reason: `DynamoDB: ${(err as Error).message}`,
    });
  }
}

/** Writes the entity item (and the inventory view); false when the stored version is the same or newer. */
async function writeChange(deps: ActivityDeps, e: PipelineEvent, nowSeconds: number): Promise<boolean> {
  const { tables } = deps.config;
  const writes = [guardedPut(deps, tables.entities, entityItem(e, nowSeconds))];
  if (e.table === 'inventory') writes.push(guardedPut(deps, tables.inventory, inventoryItem(e, nowSeconds)));
  // Both items are guarded by the same version, so they can be written at once.
  const [ok] = await Promise.all(writes);
  return ok;
}

/** Attributes both items carry: the version guard's value, and a tombstone TTL on delete. */
function commonAttributes(e: PipelineEvent, nowSeconds: number): Item {
  const deleted = e.op === 'd';
  return {
    version: e.version,
    eventId: e.eventId,
    lastChangeAt: e.commitTs,
    deleted,
    ...(deleted ? { ttl: nowSeconds + TOMBSTONE_TTL_SECONDS } : {}),
  };
}

/** cdc_entities: the redacted current row (none on a tombstone). */
function entityItem(e: PipelineEvent, nowSeconds: number): Item {
  return {
    pk: entityKey(e.table, e.entityId),
    table: e.table,
    entityId: e.entityId,
    ...commonAttributes(e, nowSeconds),
    ...(e.op === 'd' ? {} : { row: e.after }),
  };
}

/** inventory_realtime: stock of one SKU in one warehouse (no quantities on a tombstone). */
function inventoryItem(e: PipelineEvent, nowSeconds: number): Item {
  const row: Row = e.after ?? e.before ?? {};
  return {
    pk: inventoryKey(row.sku, row.warehouse_id),
    sku: row.sku,
    warehouseId: row.warehouse_id,
    ...commonAttributes(e, nowSeconds),
    ...(e.op === 'd' ? {} : inventoryView(row)),
  };
}

/** Conditional put guarded by the source version: never moves state backwards. Returns false when stale. */
async function guardedPut(deps: ActivityDeps, table: string, item: Item): Promise<boolean> {
  try {
    await deps.aws.doc.send(
      new PutCommand({
        TableName: table,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
        ExpressionAttributeValues: { ':v': item.version },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}
