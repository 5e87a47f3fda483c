import { redactionKeyOf } from '../processing';
/**
 * One reconcile page (`reconcileChunk`): a page of the table's live items in cdc_entities, the
 * keys PostgreSQL no longer has (one query, after the watermark wait), and for those a
 * version-guarded tombstone with the snapshot version through the consumer's delivery path,
 * published as `<entity>.deleted` when it is news (and the table publishes deletes). The keys come
 * from DynamoDB for every consumer; the analytics consumer appends the tombstones to its database.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { entityIdOf, type PipelineEvent } from '../../domain/core/pipelineEvent';
import type { Row } from '../../domain/core/json';
import { tableConfig } from '../../domain/core/tables';
import type { ReconcileChunkInput, ReconcileChunkResult } from '../../domain/backfill/chunks';
import { keyOfEntity, tombstoneChange } from '../../domain/backfill/snapshot';
import { existingKeysQuery, type TableShape } from '../../domain/backfill/sql';
import { redactEvent } from '../../domain/processing/redact';
import { transformChange } from '../../domain/processing/transform';
import type { ActivityDeps } from '../deps';
import type { DeliveryPorts } from '../delivery/deliver';
import { deliver } from './deliver';
import { chunkWatermark, nextWatermark } from './watermark';
import { withEpoch } from '../../domain/capture/sourceEpoch';
import { queryRaw, rowOf, tableColumns, typeNames, withPg } from './postgres';
import { backfillPosition } from './snapshot';

export async function reconcileChunk(
  deps: ActivityDeps,
  ports: DeliveryPorts,
  input: ReconcileChunkInput,
): Promise<ReconcileChunkResult> {
  const cfg = tableConfig(input.table);
  const schema = deps.config.pgSchema;
  const page = await deps.aws.doc.send(
    new ScanCommand({
      TableName: deps.config.tables.entities,
      ConsistentRead: true,
      Limit: input.limit,
      FilterExpression: '#t = :t AND (attribute_not_exists(deleted) OR deleted = :no)',
      ExpressionAttributeNames: { '#t': 'table', '#row': 'row' },
      ExpressionAttributeValues: { ':t': cfg.table, ':no': false },
      ProjectionExpression: 'pk, entityId, #row',
      ...(input.cursor ? { ExclusiveStartKey: { pk: input.cursor } } : {}),
    }),
  );
  const items = page.Items ?? [];
  const cursor = page.LastEvaluatedKey?.pk as string | undefined;
  const keyed: { key: Row; entityId: string }[] = [];
  let skipped = 0;
  for (const item of items) {
    const key = keyOfEntity(item, cfg.primaryKey);
    if (key) keyed.push({ key, entityId: entityIdOf(key, cfg.primaryKey) });
    else skipped++;
  }
  const base = { read: items.length, skipped, done: cursor === undefined, ...(cursor ? { cursor } : {}) };
  if (!keyed.length) return { ...base, applied: 0, stale: 0, published: 0, rejected: 0, tombstoned: 0 };

  const checked = await withPg(deps, async (pg) => {
    const shape: TableShape = {
      schema,
      table: cfg.table,
      keyColumns: cfg.primaryKey,
      columns: await tableColumns(pg, schema, cfg.table),
    };
    const q = existingKeysQuery(
      shape,
      keyed.map((k) => cfg.primaryKey.map((c) => String(k.key[c]))),
    );
    // The page's watermark from before its first attempt, when the workflow gave one (same
    // tombstones on a retry), with the source's recorded epoch (same connection); a kept
    // watermark of another epoch is ignored.
    const { watermark, readAt, epoch } = await chunkWatermark(
      deps,
      pg,
      input.watermark,
      `reconcile page of ${cfg.table}`,
    );
    const raw = await queryRaw(pg, q);
    const names = await typeNames(pg, raw.fields);
    const present = new Set(raw.rows.map((r) => entityIdOf(rowOf(raw.fields, r, names), cfg.primaryKey)));
    return { watermark, present, readAt, epoch, next: await nextWatermark(deps, pg) };
  });
  const { watermark, present, readAt, epoch, next } = checked;
  const ctx = { db: watermark.db, schema, table: cfg.table, watermark: watermark.lsn, readAt };
  const redactionKey = redactionKeyOf(deps.config);
  const position = backfillPosition(input.backfillId);
  const tombstones: PipelineEvent[] = keyed
    .filter((k) => !present.has(k.entityId))
    .map((k) =>
      redactEvent(transformChange(withEpoch(tombstoneChange(ctx, k.key), epoch), position), redactionKey),
    );
  const d = await deliver(ports, tombstones, 'news');
  const last = tombstones.at(-1);
  return {
    ...base,
    applied: d.applied,
    stale: d.stale,
    published: d.published,
    rejected: d.rejected,
    tombstoned: d.applied,
    ...(last ? { lastKeyLabel: last.entityRef ?? last.entityId } : {}),
    watermark: watermark.lsn,
    waitedMs: watermark.waitedMs,
    ...(next ? { nextWatermark: next } : {}),
    ...(d.reasons.length ? { reasons: d.reasons } : {}),
  };
}
