/**
 * Snapshot rows and reconcile tombstones as canonical change events, with the version that
 * makes the DynamoDB version guard order them against the live stream (docs/backfill.md).
 *
 * A chunk is read after its watermark L (`pg_current_wal_insert_lsn()`) and after every
 * transaction in progress at L has ended, so its state holds every change whose commit LSN is
 * < L, and maybe some with LSN ≥ L. Its rows get the version `<hex(L−1)>.9999999999`: above
 * every change with LSN < L, below every change with LSN ≥ L. A backfill row therefore never
 * overwrites a newer streamed change, and no streamed change it does not carry can lose to it.
 */
import type { ChangeEvent } from '../core/changeEvent';
import type { Row } from '../core/json';
import { bigIntToLsn, lsnToBigInt, type Lsn } from '../core/lsn';
import { sourceVersion } from '../processing/version';

/** The index of every backfill row: the largest a version allows, so it sorts after every change at L−1. */
export const SNAPSHOT_INDEX = 9_999_999_999;

/** The LSN a chunk read at watermark L carries: L − 1. */
export function snapshotLsn(watermark: Lsn): Lsn {
  const l = lsnToBigInt(watermark);
  if (l === 0n) throw new RangeError('watermark LSN 0/0 has no predecessor');
  return bigIntToLsn(l - 1n);
}

/** `<16 hex digits of L−1>.9999999999`: the version of every row of a chunk read at watermark L. */
export function snapshotVersion(watermark: Lsn): string {
  return sourceVersion(snapshotLsn(watermark), SNAPSHOT_INDEX);
}

export interface SnapshotContext {
  db: string;
  schema: string;
  table: string;
  /** The chunk's watermark L. */
  watermark: Lsn;
  /** When the chunk was read (ISO-8601): the event's timestamp. */
  readAt: string;
}

/** A row of a chunk as an `op: 'r'` change (`source.snapshot: true`), keyed by the table's key columns. */
export function snapshotChange(ctx: SnapshotContext, keyColumns: readonly string[], row: Row): ChangeEvent {
  return {
    source: source(ctx),
    op: 'r',
    key: pick(row, keyColumns),
    before: null,
    after: row,
  };
}

/**
 * Reconcile: a key that DynamoDB holds and PostgreSQL no longer has (at the watermark) becomes a
 * delete with the snapshot version; the guard keeps it from overwriting a newer re-insert.
 */
export function tombstoneChange(ctx: SnapshotContext, key: Row): ChangeEvent {
  return { source: source(ctx), op: 'd', key, before: null, after: null };
}

function source(ctx: SnapshotContext): ChangeEvent['source'] {
  return {
    db: ctx.db,
    schema: ctx.schema,
    table: ctx.table,
    lsn: snapshotLsn(ctx.watermark),
    commitTs: ctx.readAt,
    index: SNAPSHOT_INDEX,
    snapshot: true,
  };
}

function pick(row: Row, cols: readonly string[]): Row {
  const out: Row = {};
  for (const c of cols) if (c in row) out[c] = row[c];
  return out;
}

/**
 * The key values of a DynamoDB entity item (`cdc_entities`): from its row when the row carries
 * every key column (keys are never transformed, and only REMOVE may touch them), else from the
 * entityId (`v1#v2`) when that splits into exactly as many parts. Undefined when neither works
 * (a key column removed from images and a value holding '#').
 */
export function keyOfEntity(
  item: { entityId?: unknown; row?: unknown },
  keyColumns: readonly string[],
): Row | undefined {
  const row = item.row && typeof item.row === 'object' ? (item.row as Row) : undefined;
  if (row && keyColumns.every((c) => c in row && row[c] !== null)) return pick(row, keyColumns);
  if (typeof item.entityId !== 'string') return undefined;
  const parts = keyColumns.length === 1 ? [item.entityId] : item.entityId.split('#');
  if (parts.length !== keyColumns.length) return undefined;
  return Object.fromEntries(keyColumns.map((c, i) => [c, parts[i]]));
}
