import { ChangeEventSchema, type ChangeEvent } from '../core/changeEvent';
import { describeType, formatIssues, has, isObject, type Step } from './common';
import { mapDebezium } from './debezium';
import { mapDms } from './dms';
import { mapFlat, mapTableImage } from './documentFormats';

/**
 * Pure decoders (no I/O) from every supported record format into the canonical change event
 * (ARCHITECTURE.md §2). The format is detected by the record's shape, validated with its own
 * schema, mapped, and the result validated again with `ChangeEventSchema`. This module detects and
 * dispatches; each format's schema and mapping is in its own module: `debezium.ts`, `dms.ts`, and
 * `documentFormats.ts` (inventory-flat and table-image), with shared helpers in `common.ts`.
 *
 * Version positions. The canonical version is (commit LSN, index):
 *  - canonical: as captured.
 *  - Debezium: `source.lsn` is the LSN of the change itself (not of the commit), so index is 0.
 *    Per row this orders like commit LSNs: a later change to a row is written after the earlier
 *    transaction committed (row locks), so it has a larger LSN.
 *  - DMS, inventory-flat, table-image: these carry no LSN, so the position is the source
 *    timestamp in microseconds since the Unix epoch, as a 64-bit number written in LSN form
 *    (`bigIntToLsn`), index 0: ordering by source timestamp. Two changes to one row with the
 *    same timestamp get the same version and the second is treated as a duplicate; and since
 *    such positions are far larger than real LSNs, one table must not be fed by both a
 *    timestamp-ordered format and an LSN-ordered one.
 */

export type SourceFormat = 'canonical' | 'debezium' | 'dms' | 'inventory-flat' | 'table-image';
export type DecodeResult =
  | { ok: true; event: ChangeEvent; format: SourceFormat }
  /** `configuration`: a table the table file does not list (as on the pgoutput path); else `poison`. */
  | { ok: false; reason: string; category: 'poison' | 'configuration' };

const poison = (reason: string): DecodeResult => ({ ok: false, reason, category: 'poison' });

const LABEL: Record<SourceFormat, string> = {
  canonical: 'canonical event',
  debezium: 'debezium envelope',
  dms: 'DMS record',
  'inventory-flat': 'inventory-flat record',
  'table-image': 'table-image record',
};

const MAX_KEYS_LISTED = 10;

function shortKey(k: string): string {
  return k.length > 40 ? `${k.slice(0, 40)}…` : k;
}

// ---------------------------------------------------------------------------
// Detection and entry point
// ---------------------------------------------------------------------------

/** Which format a JSON object looks like, by its shape; null if none. */
function detect(o: Record<string, unknown>): SourceFormat | null {
  if (has(o, 'payload') && (has(o, 'schema') || Object.keys(o).length === 1)) return 'debezium';
  if (has(o, 'source') && has(o, 'op')) {
    const src = o.source;
    const canonical = has(o, 'key') || (isObject(src) && (has(src, 'commitTs') || has(src, 'index')));
    return canonical ? 'canonical' : 'debezium';
  }
  if (has(o, 'metadata') && (isObject(o.metadata) || has(o, 'data'))) return 'dms';
  if (has(o, 'tableName') || has(o, 'beforeImage') || has(o, 'afterImage')) return 'table-image';
  if (
    has(o, 'sku') ||
    has(o, 'wh') ||
    has(o, 'qty') ||
    (typeof o.op === 'string' && /^(insert|update|delete)$/i.test(o.op) && has(o, 'op'))
  )
    return 'inventory-flat';
  return null;
}

/** The detected format's mapping: a candidate event (validated afterwards) or a reason. */
function mapFormat(format: SourceFormat, o: Record<string, unknown>): Step<unknown> {
  switch (format) {
    case 'canonical':
      return { ok: true, value: o };
    case 'debezium':
      return mapDebezium(o);
    case 'dms':
      return mapDms(o);
    case 'inventory-flat':
      return mapFlat(o);
    case 'table-image':
      return mapTableImage(o);
  }
}

/**
 * Record data (UTF-8 text from Kinesis) → canonical event. Never throws; anything unrecognised or
 * invalid is { ok: false, reason } with a precise reason (which format it looked like, which field
 * is wrong).
 *
 * The Kinesis sequence number is deliberately not part of the event: a record re-published by a
 * producer retry gets a new sequence number but must keep its version and event ID.
 */
export function decodeChange(data: string, _ctx: { sequenceNumber: string }): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (err) {
    return poison(`not JSON: ${errorMessage(err)}`);
  }
  if (!isObject(parsed))
    return poison(`unrecognised record format: expected a JSON object, got ${describeType(parsed)}`);
  const format = detect(parsed);
  if (!format) {
    const keys = Object.keys(parsed);
    if (keys.length === 0) return poison('unrecognised record format: empty object');
    const listed = keys.slice(0, MAX_KEYS_LISTED).map(shortKey).join(', ');
    const more = keys.length > MAX_KEYS_LISTED ? `, … (${keys.length} keys)` : '';
    return poison(`unrecognised record format: has keys [${listed}${more}]`);
  }
  const label = LABEL[format];
  try {
    const mapped = mapFormat(format, parsed);
    if (!mapped.ok)
      return { ok: false, reason: `${label}: ${mapped.reason}`, category: mapped.category ?? 'poison' };
    const result = ChangeEventSchema.safeParse(mapped.value);
    if (!result.success)
      return poison(
        format === 'canonical'
          ? `${label}: ${formatIssues(result.error)}`
          : `${label}: mapped change event is invalid: ${formatIssues(result.error)}`,
      );
    return { ok: true, event: result.data as ChangeEvent, format };
  } catch (err) {
    // e.g. a stack overflow validating absurdly deep nesting
    return poison(`${label}: cannot validate record: ${errorMessage(err)}`);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
