/**
 * The one-key snapshot a redrive reads instead of replaying a dead letter's old image (issue 19,
 * no resurrection; when, in domain/redrive/sourceRead.ts): the row of each key the letter
 * changes, read from the source PostgreSQL after a watermark, as the backfill reads its chunks
 * (activities/backfill/). A row that is there becomes a snapshot change (`op: 'r'`), a row that
 * is gone a delete, both with the watermark's version (`<hex(L−1)>.9999999999`), so the guard
 * orders them against the live stream: a newer streamed change always wins.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { entityKey } from '../domain/core/itemKeys';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import { tableConfig } from '../domain/core/tables';
import { snapshotChange, tombstoneChange } from '../domain/backfill/snapshot';
import type { TableShape } from '../domain/backfill/sql';
import { redactEvent } from '../domain/processing/redact';
import { transformChange } from '../domain/processing/transform';
import { changesAnExistingKey, oneKeyQuery } from '../domain/redrive/sourceRead';
import { queryRaw, rowOf, tableColumns, typeNames, waitForWatermark, withPg } from './backfill/postgres';
import type { ActivityDeps } from './deps';
import { withEpoch } from '../domain/capture/sourceEpoch';
import { recordedEpochOf } from './capture/sourceEpoch';
import { redactionKeyOf } from './processing';

/**
 * Whether the sink still holds every key the events update or delete (its row or its tombstone),
 * so the version guard has something to compare with. Undefined for a sink that keeps no current
 * state (the analytics change table: every change is a row of its own).
 */
export async function keysHeld(deps: ActivityDeps, events: PipelineEvent[]): Promise<boolean | undefined> {
  if (deps.config.sink !== 'operational') return undefined;
  for (const e of events) {
    if (!changesAnExistingKey(e.op)) continue;
    const out = await deps.aws.doc.send(
      new GetCommand({
        TableName: deps.config.tables.entities,
        Key: { pk: entityKey(e.table, e.entityId) },
        ProjectionExpression: 'pk',
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return false;
  }
  return true;
}

/**
 * The current state of every key the events touch (each key once), as redacted events: read
 * from PostgreSQL in one connection after one watermark wait. `position` is the letter's.
 */
export async function readFromSource(
  deps: ActivityDeps,
  events: PipelineEvent[],
  position: PipelineEvent['position'],
): Promise<PipelineEvent[]> {
  const keys = new Map<string, PipelineEvent>();
  for (const e of events) keys.set(`${e.table}\u0000${e.entityId}`, e);
  const schema = deps.config.pgSchema;
  const redactionKey = redactionKeyOf(deps.config);
  return withPg(deps, async (pg) => {
    // The source epoch on the same connection (docs/failover.md): the row orders like capture's
    // changes. A connection that reached another source than the recorded one fails (retried).
    const epoch = await recordedEpochOf(deps, pg, 'redrive source read');
    const watermark = await waitForWatermark(pg);
    const readAt = new Date().toISOString();
    const out: PipelineEvent[] = [];
    for (const e of keys.values()) {
      const cfg = tableConfig(e.table);
      const shape: TableShape = {
        schema,
        table: cfg.table,
        keyColumns: cfg.primaryKey,
        columns: await tableColumns(pg, schema, cfg.table),
      };
      const raw = await queryRaw(pg, oneKeyQuery(shape, e.key));
      const ctx = { db: watermark.db, schema, table: cfg.table, watermark: watermark.lsn, readAt };
      const first = raw.rows[0];
      const names = first ? await typeNames(pg, raw.fields) : undefined;
      try {
        const change = first
          ? snapshotChange(ctx, cfg.primaryKey, rowOf(raw.fields, first, names!))
          : tombstoneChange(ctx, Object.fromEntries(cfg.primaryKey.map((c) => [c, e.key[c] ?? null])));
        out.push(redactEvent(transformChange(withEpoch(change, epoch), position), redactionKey));
      } catch (err) {
        // A value the decoder or a transformation refuses: the letter cannot go through (not retried).
        throw new SourceRowRefused(`${(err as Error).name}: ${(err as Error).message}`.slice(0, 300));
      }
    }
    return out;
  });
}

/** The current row could not be made into a change (a value the pipeline refuses): the letter fails. */
export class SourceRowRefused extends Error {
  override readonly name = 'SourceRowRefused';
}
