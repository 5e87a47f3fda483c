import type { ChangeEvent } from '../core/changeEvent';
import { eventId } from './eventId';
import { deepEqual, type JsonValue, type Row } from '../core/json';
import { entityIdOf, type FieldChange, type PipelineEvent } from '../core/pipelineEvent';
import { ConfigurationError, PoisonRecordError } from '../core/errors';
import { tableConfig, type TableConfig, type Transformation } from '../core/tables';
import { sourceVersion } from './version';

/** A record that can never be processed as it is (bad value for its configured transformation, …). */
const OP_SUFFIX = { c: 'created', u: 'updated', d: 'deleted', r: 'snapshot' } as const;
const ISO_LIKE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function applyTransformation(kind: Transformation, column: string, value: JsonValue): JsonValue {
  if (value === null) return null;
  switch (kind) {
    case 'UPPERCASE':
    case 'LOWERCASE':
      if (typeof value !== 'string')
        throw new PoisonRecordError(`${column}: ${kind} needs a string, got ${typeof value}`);
      return kind === 'UPPERCASE' ? value.toUpperCase() : value.toLowerCase();
    case 'DECIMAL': {
      const text = typeof value === 'number' ? String(value) : value;
      if (typeof text !== 'string' || !DECIMAL.test(text.trim())) {
        throw new PoisonRecordError(`${column}: DECIMAL needs a decimal number`);
      }
      return text.trim();
    }
    case 'ISO_DATE': {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new PoisonRecordError(`${column}: ISO_DATE needs a date string or epoch millis`);
      }
      // PostgreSQL's special timestamps have no ISO form; they pass through as they are.
      if (value === 'infinity' || value === '-infinity') return value;
      if (typeof value === 'string' && !ISO_LIKE.test(value)) {
        throw new PoisonRecordError(`${column}: ISO_DATE needs an ISO-8601 date or timestamp`);
      }
      // A timestamp without a zone is UTC (never the worker's local zone).
      const text =
        typeof value === 'string' && /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value) ? `${value}Z` : value;
      const ms = typeof text === 'number' ? text : Date.parse(text);
      if (Number.isNaN(ms)) throw new PoisonRecordError(`${column}: ISO_DATE cannot parse the value`);
      return new Date(ms).toISOString();
    }
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
 * `tieBreak` (the Kinesis sequence number) orders changes of formats that carry only a
 * timestamp: two changes of one key in one microsecond keep their stream order.
 */
export function transformChange(
  change: ChangeEvent,
  position: PipelineEvent['position'],
  tieBreak?: string,
): PipelineEvent {
  const cfg = tableConfig(change.source.table);
  if (!cfg.operations.includes(change.op)) {
    throw new ConfigurationError(`operation '${change.op}' is not enabled for table ${cfg.table}`);
  }
  for (const col of cfg.primaryKey) {
    if (!(col in change.key))
      throw new PoisonRecordError(`key lacks primary-key column ${col} of table ${cfg.table}`);
  }
  // Identity is the raw key: key columns are never transformed (the table schema refuses it).
  const key = change.key;
  const before = transformRow(change.before, cfg, true);
  const after = transformRow(change.after, cfg);
  const version = sourceVersion(change.source.lsn, change.source.index, tieBreak);
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
    eventType: `${cfg.entity}.${OP_SUFFIX[change.op]}`,
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
