import { z } from 'zod';
import type { JsonValue, Row } from '../core/json';
import { bigIntToLsn } from '../core/lsn';
import { ConfigurationError } from '../core/errors';
import { tableConfig, type TableConfig } from '../core/tables';

/**
 * Helpers shared by the record-format decoders (`decodeChange.ts` and the per-format modules):
 * the step result type, issue formatting, timestamps as version positions, primary keys from row
 * images.
 */

/**
 * A rejected record: `poison` (the record itself is wrong) unless said otherwise;
 * `configuration` when the record is fine but names a table the table file does not list.
 */
export type Fail = { ok: false; reason: string; category?: 'configuration' };
/** The result of one decoding step: a value, or the reason the record is rejected. */
export type Step<T> = { ok: true; value: T } | Fail;
/** A row image as found in a record, before validation of its values. */
export type Image = Record<string, unknown>;

const MAX_ISSUES = 5;

export const fail = (reason: string): Fail => ({ ok: false, reason });

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const has = (o: object, k: string): boolean => Object.hasOwn(o, k);

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function formatIssues(error: z.ZodError): string {
  const issues = error.issues;
  const shown = issues
    .slice(0, MAX_ISSUES)
    .map((i) => `${i.path.map((p) => String(p)).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return issues.length > MAX_ISSUES ? `${shown}; (+${issues.length - MAX_ISSUES} more)` : shown;
}

export const ImageSchema = z.record(z.string(), z.unknown());

// ---------------------------------------------------------------------------
// Timestamps as version positions, primary keys
// ---------------------------------------------------------------------------

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
/** Largest instant a JavaScript Date can represent, in milliseconds since the epoch. */
export const MAX_DATE_MS = 8.64e15;

type Position = { lsn: string; commitTs: string };

/**
 * A source timestamp (ISO-8601 with zone, microseconds kept; or integer epoch milliseconds) as a
 * version position: microseconds since the epoch as the 64-bit "LSN", and the commit time.
 */
export function positionFromTimestamp(value: string | number, field: string): Step<Position> {
  let micros: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0 || value > MAX_DATE_MS)
      return fail(
        `${field}: epoch milliseconds must be an integer between 0 and ${MAX_DATE_MS}, got ${value}`,
      );
    micros = BigInt(value) * 1000n;
  } else {
    const m = ISO_RE.exec(value);
    if (!m)
      return fail(
        `${field}: cannot parse ${JSON.stringify(value.slice(0, 64))} as an ISO-8601 timestamp with a zone (e.g. "2026-01-02T03:04:05.123456Z")`,
      );
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const local = Date.UTC(y, mo - 1, d, h, mi, s);
    const check = new Date(local);
    if (
      check.getUTCFullYear() !== y ||
      check.getUTCMonth() !== mo - 1 ||
      check.getUTCDate() !== d ||
      check.getUTCHours() !== h ||
      check.getUTCMinutes() !== mi ||
      check.getUTCSeconds() !== s
    )
      return fail(`${field}: ${JSON.stringify(value)} is not a valid date and time`);
    const offsetMinutes = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
    const fraction = BigInt((m[7] ?? '').padEnd(9, '0').slice(0, 6));
    micros = BigInt(local - offsetMinutes * 60_000) * 1000n + fraction;
    if (micros < 0n) return fail(`${field}: ${JSON.stringify(value)} is before 1970-01-01T00:00:00Z`);
    if (micros > BigInt(MAX_DATE_MS) * 1000n)
      return fail(`${field}: ${JSON.stringify(value)} is out of range`);
  }
  return {
    ok: true,
    value: { lsn: bigIntToLsn(micros), commitTs: new Date(Number(micros / 1000n)).toISOString() },
  };
}

/** The table's configured primary-key columns, taken from a row image. */
function primaryKey(table: string, row: Image | null | undefined, image: string): Step<Row> {
  let cfg: TableConfig;
  try {
    cfg = tableConfig(table);
  } catch (err) {
    // The same failure as on the pgoutput path: a configuration dead letter, not poison.
    if (err instanceof ConfigurationError)
      return { ok: false, reason: err.message, category: 'configuration' };
    throw err;
  }
  if (!row) return fail(`no ${image} to take the primary key (${cfg.primaryKey.join(', ')}) from`);
  const key: Row = {};
  for (const col of cfg.primaryKey) {
    if (!has(row, col)) return fail(`primary-key column '${col}' missing from the ${image}`);
    if (row[col] === null) return fail(`primary-key column '${col}' is null in the ${image}`);
    key[col] = row[col] as JsonValue; // JSON-ness is checked by the final ChangeEventSchema validation
  }
  return { ok: true, value: key };
}

/** The images and key of a change, with the key from the after image, or the before image for deletes. */
export function imagesAndKey(
  table: string,
  before: Image | null,
  after: Image | null,
  names: { before: string; after: string },
): Step<{ key: Row; before: Image | null; after: Image | null }> {
  const key = after ? primaryKey(table, after, names.after) : primaryKey(table, before, names.before);
  return key.ok ? { ok: true, value: { key: key.value, before, after } } : key;
}
