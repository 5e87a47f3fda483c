import type { ChangeEvent } from '../core/changeEvent';
import { eventId } from './eventId';
import { deepEqual, type JsonValue, type Row } from '../core/json';
import { entityIdOf, type FieldChange, type PipelineEvent } from '../core/pipelineEvent';
import { PoisonRecordError } from '../core/errors';
import {
  eventTypeOf,
  tableConfig,
  type TableConfig,
  type Transformation,
  type TransformationRule,
} from '../core/tables';
import { sourceVersion } from './version';

const ISO_LIKE =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const DEFAULT_SCALE = 2;

/**
 * A decimal number rounded to `scale` digits after the point, half away from zero (as
 * PostgreSQL's numeric rounds), in exact decimal arithmetic: never through a binary float
 * (the documents' `parseFloat(x).toFixed(2)` turns 1.005 into "1.00" and loses digits past 15).
 */
export function roundDecimal(text: string, scale: number, column = 'value'): string {
  const m = DECIMAL.exec(text.trim());
  const [, sign = '', int = '', frac = '', exp = '0'] = m ?? [];
  if (!m || (int === '' && frac === '') || Math.abs(Number(exp)) > 400)
    throw new PoisonRecordError(`${column}: DECIMAL needs a decimal number`);
  const digits = `${int}${frac}`;
  // The value is 0.<digits> × 10^point; keep the digits up to `scale` places after the point.
  const keep = int.length + Number(exp) + scale;
  const kept = keep <= 0 ? '0' : digits.slice(0, keep).padEnd(keep, '0');
  const next = keep < 0 ? 0 : Number(digits[keep] ?? '0');
  const units = BigInt(kept) + (next >= 5 ? 1n : 0n);
  const body = units.toString().padStart(scale + 1, '0');
  const out = scale === 0 ? body : `${body.slice(0, -scale)}.${body.slice(-scale)}`;
  return units !== 0n && sign === '-' ? `-${out}` : out;
}

/**
 * An ISO-8601 timestamp in UTC (`…Z`). Microseconds are kept when the source has them
 * (PostgreSQL timestamps do): `2024-01-15 12:30:00.123456+02` → `2024-01-15T10:30:00.123456Z`;
 * a value with at most millisecond precision keeps the usual three digits. A timestamp without
 * a zone is UTC, never the worker's local zone; a date alone is midnight UTC.
 */
export function isoDate(value: string | number, column = 'value'): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) > 8.64e15)
      throw new PoisonRecordError(`${column}: ISO_DATE epoch millis out of range`);
    return new Date(value).toISOString();
  }
  // PostgreSQL's special timestamps have no ISO form; they pass through as they are.
  if (value === 'infinity' || value === '-infinity') return value;
  const m = ISO_LIKE.exec(value.trim());
  if (!m) throw new PoisonRecordError(`${column}: ISO_DATE needs an ISO-8601 date or timestamp`);
  const [, date, hm, sec = '00', fraction = '', zone] = m;
  const offset =
    zone === undefined || zone === 'Z'
      ? 'Z'
      : /^[+-]\d{2}$/.test(zone)
        ? `${zone}:00`
        : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  // Date.parse rolls an impossible day over (2024-02-30 → March 1): refuse it instead.
  const [y, mo, d] = date!.split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d)
    throw new PoisonRecordError(`${column}: ISO_DATE needs a real calendar date`);
  const millis = fraction.slice(0, 3).padEnd(3, '0');
  const ms = Date.parse(
    hm === undefined ? `${date}T00:00:00.000Z` : `${date}T${hm}:${sec}.${millis}${offset}`,
  );
  if (Number.isNaN(ms)) throw new PoisonRecordError(`${column}: ISO_DATE cannot parse the value`);
  const iso = new Date(ms).toISOString();
  return fraction.length > 3 ? `${iso.slice(0, -1)}${fraction.slice(3, 6).padEnd(3, '0')}Z` : iso;
}

export function applyTransformation(
  rule: Transformation | TransformationRule,
  column: string,
  value: JsonValue,
): JsonValue {
  const { type: kind, scale } = typeof rule === 'string' ? { type: rule, scale: undefined } : rule;
  if (value === null) return null;
  switch (kind) {
    case 'UPPERCASE':
    case 'LOWERCASE':
      if (typeof value !== 'string')
        throw new PoisonRecordError(`${column}: ${kind} needs a string, got ${typeof value}`);
      return kind === 'UPPERCASE' ? value.toUpperCase() : value.toLowerCase();
    case 'DECIMAL': {
      if (typeof value === 'number' && !Number.isFinite(value))
        throw new PoisonRecordError(`${column}: DECIMAL needs a finite number`);
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new PoisonRecordError(`${column}: DECIMAL needs a decimal number`);
      return roundDecimal(String(value), scale ?? DEFAULT_SCALE, column);
    }
    case 'ISO_DATE':
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new PoisonRecordError(`${column}: ISO_DATE needs a date string or epoch millis`);
      return isoDate(value, column);
  }
}

/**
 * Applies the table's transformations to a row. A value the transformation refuses makes the
 * record poison, except in the before image (`lenient`): an old value only feeds `changes.old`,
 * so it is kept as it was rather than holding back a valid change.
 */
function transformRow(row: Row | null, cfg: TableConfig, lenient = false): Row | null {
  if (row === null) return null;
  const out: Row = { ...row };
  for (const [col, kind] of Object.entries(cfg.transformations)) {
    if (!(col in out)) continue;
    try {
      out[col] = applyTransformation(kind, col, out[col]);
    } catch (err) {
      if (!lenient || !(err instanceof PoisonRecordError)) throw err;
    }
  }
  return out;
}

/** Field-level changes: every column of a created/deleted row, only the differing columns of an update. */
export function fieldChanges(before: Row | null, after: Row | null): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  const cols = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const col of cols) {
    const oldValue = before === null ? null : (before[col] ?? null);
    // A column absent from `after` of an update (unchanged TOAST) is unchanged, not nulled.
    if (after !== null && before !== null && !(col in after)) continue;
    const newValue = after === null ? null : (after[col] ?? null);
    if (before !== null && after !== null && deepEqual(oldValue, newValue)) continue;
    changes[col] = { old: oldValue, new: newValue };
  }
  return changes;
}

/**
 * Canonical change event → pipeline event (configured transformations, changes, IDs, version).
 * The version is (source epoch, commit LSN, index): `source.epoch` (0 when absent) orders a new
 * timeline of the source above everything stored before it. `tieBreak` (the Kinesis sequence number) orders changes of formats that carry only a
 * timestamp: two changes of one key in one microsecond keep their stream order.
 */
export function transformChange(
  change: ChangeEvent,
  position: PipelineEvent['position'],
  tieBreak?: string,
): PipelineEvent {
  const cfg = tableConfig(change.source.table);
  for (const col of cfg.primaryKey) {
    if (!(col in change.key))
      throw new PoisonRecordError(`key lacks primary-key column ${col} of table ${cfg.table}`);
  }
  // Identity is the raw key: key columns are never transformed (the table schema refuses it).
  const key = change.key;
  const before = transformRow(change.before, cfg, true);
  const after = transformRow(change.after, cfg);
  const version = sourceVersion(change.source.lsn, change.source.index, {
    ...(tieBreak !== undefined ? { tieBreak } : {}),
    epoch: change.source.epoch ?? 0,
  });
  return {
    eventId: eventId({
      table: cfg.table,
      key: change.key,
      version,
      op: change.op,
      commitTs: change.source.commitTs,
    }),
    table: cfg.table,
    entityType: cfg.entity,
    entityId: entityIdOf(key, cfg.primaryKey),
    key,
    op: change.op,
    eventType: eventTypeOf(cfg, change.op, before, after),
    // An operation the table does not publish still keeps the current-state store true.
    ...(cfg.operations.includes(change.op) ? {} : { unpublished: true as const }),
    version,
    commitTs: new Date(Date.parse(change.source.commitTs)).toISOString(),
    lsn: change.source.lsn,
    index: change.source.index,
    ...(change.source.txId !== undefined ? { txId: change.source.txId } : {}),
    before,
    after,
    changes: fieldChanges(before, after),
    position,
    ...(change.op !== 'd' && (change.source.partial || change.source.unchangedToast?.length)
      ? { partial: true as const }
      : {}),
  };
}

/**
 * An update that changes the primary key is, for the current-state store, the end of one
 * entity and the start of another: it becomes a delete of the old key and a create of the new
 * one, both with the update's version (as Debezium does). Any other change is returned as is.
 */
export function splitKeyChange(change: ChangeEvent): ChangeEvent[] {
  if (change.op !== 'u' || change.before === null || change.after === null) return [change];
  const cfg = tableConfig(change.source.table);
  const before = change.before;
  if (!cfg.primaryKey.every((c) => c in before)) return [change];
  const oldKey: Row = Object.fromEntries(cfg.primaryKey.map((c) => [c, before[c]]));
  if (deepEqual(oldKey, change.key)) return [change];
  return [
    { ...change, op: 'd', key: oldKey, after: null },
    { ...change, op: 'c', before: null },
  ];
}
