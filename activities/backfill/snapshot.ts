import { redactionKeyOf } from '../processing';
/**
 * One snapshot chunk (`backfillChunk`): watermark, keyset read, then every row as an `op: 'r'`
 * change through transform → redact → the consumer's delivery path (version-guarded apply, then
 * holds and publish for the rows that are news: not outdated by a newer streamed change). Rows
 * never leave the activity: the workflow gets counts and the cursor.
 */
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { tableConfig } from '../../domain/core/tables';
import type { SnapshotChunkInput, SnapshotChunkResult } from '../../domain/backfill/chunks';
import { snapshotChange } from '../../domain/backfill/snapshot';
import { chunkQuery, type TableShape } from '../../domain/backfill/sql';
import { redactEvent } from '../../domain/processing/redact';
import { transformChange } from '../../domain/processing/transform';
import type { ActivityDeps } from '../deps';
import type { DeliveryPorts } from '../delivery/deliver';
import { deliver } from './deliver';
import { chunkWatermark, nextWatermark } from './watermark';
import { withEpoch } from '../../domain/capture/sourceEpoch';
import { queryRaw, rowOf, tableColumns, typeNames, withPg } from './postgres';

/** Where backfill events say they come from (a published event's `metadata.sequenceNumber` is '0'). */
export const backfillPosition = (backfillId: string) => ({
  shardId: `backfill:${backfillId}`,
  sequenceNumber: '0',
});

export async function snapshotChunk(
  deps: ActivityDeps,
  ports: DeliveryPorts,
  input: SnapshotChunkInput,
): Promise<SnapshotChunkResult> {
  const cfg = tableConfig(input.table);
  const schema = deps.config.pgSchema;
  const read = await withPg(deps, async (pg) => {
    const shape: TableShape = {
      schema,
      table: cfg.table,
      keyColumns: cfg.primaryKey,
      columns: await tableColumns(pg, schema, cfg.table),
    };
    const q = chunkQuery(shape, { filter: input.filter, after: input.after, limit: input.limit });
    // The chunk's watermark from before its first attempt (the workflow keeps it): every attempt
    // gives its rows the same version and event ids. A read after an earlier watermark's wait is
    // still right: its snapshot holds every change below that watermark. With the source's
    // recorded epoch (same connection); a kept watermark of another epoch is ignored.
    const { watermark, readAt, epoch } = await chunkWatermark(
      deps,
      pg,
      input.watermark,
      `snapshot chunk of ${cfg.table}`,
    );
    // One statement, so one snapshot, taken after the wait.
    const raw = await queryRaw(pg, q);
    const names = await typeNames(pg, raw.fields);
    return { watermark, raw, names, readAt, epoch, next: await nextWatermark(deps, pg) };
  });
  const { watermark, raw, names, readAt, epoch, next } = read;
  const keyIdx = cfg.primaryKey.map((k) => raw.fields.findIndex((f) => f.name === k));
  const ctx = { db: watermark.db, schema, table: cfg.table, watermark: watermark.lsn, readAt };
  const redactionKey = redactionKeyOf(deps.config);
  const position = backfillPosition(input.backfillId);

  const events: PipelineEvent[] = [];
  let rejected = 0;
  const reasons: string[] = [];
  for (const r of raw.rows) {
    try {
      const change = withEpoch(snapshotChange(ctx, cfg.primaryKey, rowOf(raw.fields, r, names)), epoch);
      events.push(redactEvent(transformChange(change, position), redactionKey));
    } catch (err) {
      // A value the decoder or a transformation refuses: that row is refused, the chunk goes on.
      rejected++;
      if (reasons.length < 5) reasons.push(`${(err as Error).name}: ${(err as Error).message}`.slice(0, 300));
    }
  }
  const d = await deliver(ports, events, 'news');
  const last = raw.rows.at(-1);
  const after = last ? keyIdx.map((i) => String(last[i])) : undefined;
  const lastEvent = events.at(-1);
  return {
    read: raw.rows.length,
    applied: d.applied,
    stale: d.stale,
    published: d.published,
    rejected: rejected + d.rejected,
    tombstoned: 0,
    skipped: 0,
    done: raw.rows.length < input.limit,
    ...(after ? { after } : {}),
    ...(lastEvent ? { lastKeyLabel: lastEvent.entityRef ?? lastEvent.entityId } : {}),
    watermark: watermark.lsn,
    waitedMs: watermark.waitedMs,
    ...(next ? { nextWatermark: next } : {}),
    ...(reasons.length || d.reasons.length ? { reasons: [...reasons, ...d.reasons].slice(0, 5) } : {}),
  };
}
