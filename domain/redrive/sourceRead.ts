/**
 * When a redrive must not replay a dead letter's old image (no resurrection, issue 19), and the
 * one-key snapshot it reads from PostgreSQL instead (pure; activities/redriveSource.ts runs it).
 *
 * A letter is replayed as parked only while the version guard can still order it: within the
 * redrive window (`CDC_DLQ_REDRIVE_WINDOW_DAYS`, which tombstones outlive), and, for a change of
 * an existing key (an update or a delete), while the sink still holds the key (its row or its
 * tombstone). Otherwise the row is read again from the source: present, it is applied as a
 * snapshot row (`op: 'r'`); gone, as a delete. A deleted row stays deleted.
 */
import type { ChangeOp } from '../core/changeEvent';
import type { Row } from '../core/json';
import { quoteIdent, type SqlQuery, type TableShape } from '../backfill/sql';
import { ConfigurationError } from '../core/errors';

const DAY_MS = 86_400_000;

/**
 * The DynamoDB TTL (epoch seconds) of a dead letter first parked at `parkedAtMs`: the end of its
 * redrive window. DynamoDB deletes the item some time after (hours to days): until then a redrive
 * of it still re-reads the source.
 */
export function deadLetterTtl(parkedAtMs: number, windowDays: number): number {
  return Math.floor((parkedAtMs + windowDays * DAY_MS) / 1000);
}

/** Whether a letter parked at `parkedAt` (ISO-8601) is past its window; an unreadable time counts as past. */
export function outsideRedriveWindow(parkedAt: unknown, nowMs: number, windowDays: number): boolean {
  const at = typeof parkedAt === 'string' ? Date.parse(parkedAt) : NaN;
  if (!Number.isFinite(at)) return true;
  return nowMs - at > windowDays * DAY_MS;
}

/** An update or a delete: a change of a key that existed before, which the guard must compare with what the sink holds. */
export function changesAnExistingKey(op: ChangeOp): boolean {
  return op === 'u' || op === 'd';
}

/** Why a letter is read from the source instead of replayed (said in its audit entry). */
export type SourceReadReason = 'outside-window' | 'nothing-to-compare';

export const SOURCE_READ_REASONS: Record<SourceReadReason, string> = {
  'outside-window': 'parked longer ago than the redrive window',
  'nothing-to-compare': 'DynamoDB holds nothing of the key (row or tombstone) to compare with',
};

/** The row of one key, every column: `SELECT … FROM schema.table WHERE k1 = $1 AND k2 = $2`. */
export function oneKeyQuery(shape: TableShape, key: Row): SqlQuery {
  const known = new Set(shape.columns);
  const values: SqlQuery['values'] = [];
  const where = shape.keyColumns.map((k) => {
    if (!known.has(k)) throw new ConfigurationError(`key column ${k} is not a column of ${shape.table}`);
    const v = key[k];
    if (v === undefined || v === null || typeof v === 'object')
      throw new ConfigurationError(
        `the change carries no usable value for key column ${k} of ${shape.table}`,
      );
    values.push(v);
    return `${quoteIdent(k)} = $${values.length}`;
  });
  if (!where.length) throw new ConfigurationError(`table ${shape.table} has no key columns`);
  return {
    text:
      `SELECT ${shape.columns.map(quoteIdent).join(', ')} FROM ${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}` +
      ` WHERE ${where.join(' AND ')}`,
    values,
  };
}
