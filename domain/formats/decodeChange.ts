import { z } from 'zod';
import { ChangeEventSchema, type ChangeEvent, type ChangeOp } from '../core/changeEvent';
import type { JsonValue, Row } from '../core/json';
import { bigIntToLsn } from '../core/lsn';
import { TABLES } from '../core/tables';

/**
 * Pure decoders (no I/O) from every supported record format into the canonical change event
 * (ARCHITECTURE.md §2). The format is detected by the record's shape, validated with its own
 * schema, mapped, and the result validated again with `ChangeEventSchema`.
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
  { ok: true; event: ChangeEvent; format: SourceFormat } | { ok: false; reason: string };

type Fail = { ok: false; reason: string };
type Step<T> = { ok: true; value: T } | Fail;
type Image = Record<string, unknown>;

const LABEL: Record<SourceFormat, string> = {
  canonical: 'canonical event',
  debezium: 'debezium envelope',
  dms: 'DMS record',
  'inventory-flat': 'inventory-flat record',
  'table-image': 'table-image record',
};

const MAX_ISSUES = 5;
const MAX_KEYS_LISTED = 10;

const fail = (reason: string): Fail => ({ ok: false, reason });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const has = (o: object, k: string): boolean => Object.hasOwn(o, k);

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function formatIssues(error: z.ZodError): string {
  const issues = error.issues;
  const shown = issues
    .slice(0, MAX_ISSUES)
    .map((i) => `${i.path.map((p) => String(p)).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return issues.length > MAX_ISSUES ? `${shown}; (+${issues.length - MAX_ISSUES} more)` : shown;
}

function shortKey(k: string): string {
  return k.length > 40 ? `${k.slice(0, 40)}…` : k;
}

/** Operations written in either case: "insert" and "INSERT" are the same. */
const upperCase = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);

// ---------------------------------------------------------------------------
// Shared helpers: timestamps as version positions, primary keys
// ---------------------------------------------------------------------------

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;
/** Largest instant a JavaScript Date can represent, in milliseconds since the epoch. */
const MAX_DATE_MS = 8.64e15;

type Position = { lsn: string; commitTs: string };

/**
 * A source timestamp (ISO-8601 with zone, microseconds kept; or integer epoch milliseconds) as a
 * version position: microseconds since the epoch as the 64-bit "LSN", and the commit time.
 */
function positionFromTimestamp(value: string | number, field: string): Step<Position> {
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
  const cfg = TABLES.get(table);
  if (!cfg) return fail(`table '${table}' is not configured; cannot determine its primary key`);
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
function imagesAndKey(
  table: string,
  before: Image | null,
  after: Image | null,
  names: { before: string; after: string },
): Step<{ key: Row; before: Image | null; after: Image | null }> {
  const key = after ? primaryKey(table, after, names.after) : primaryKey(table, before, names.before);
  return key.ok ? { ok: true, value: { key: key.value, before, after } } : key;
}

// ---------------------------------------------------------------------------
// Format schemas
// ---------------------------------------------------------------------------

const ImageSchema = z.record(z.string(), z.unknown());

const DebeziumEnvelopeSchema = z.object({
  before: ImageSchema.nullish(),
  after: ImageSchema.nullish(),
  op: z.enum(['c', 'u', 'd', 'r']),
  ts_ms: z.number().nullish(),
  source: z.object({
    db: z.string().nullish(),
    schema: z.string().nullish(),
    table: z.string().min(1),
    lsn: z.number().int().nonnegative(),
    txId: z.number().int().nonnegative().nullish(),
    ts_ms: z.number().int().nonnegative().max(MAX_DATE_MS),
    /** "true" | "false" | "last" | "first" | "incremental" | …; a boolean in old connector versions. */
    snapshot: z.union([z.string(), z.boolean()]).nullish(),
  }),
});

const DmsMetadataSchema = z.object({
  timestamp: z.string(),
  'record-type': z.literal('data'),
  operation: z.enum(['load', 'insert', 'update', 'delete']),
  'partition-key-type': z.string().optional(),
  'schema-name': z.string().nullish(),
  'table-name': z.string().min(1),
  'transaction-id': z.number().int().nonnegative().nullish(),
});
const DmsRecordSchema = z.object({
  data: ImageSchema,
  'before-image': ImageSchema.nullish(),
  metadata: DmsMetadataSchema,
});

const FlatSchema = z
  .object({
    op: z.preprocess(upperCase, z.enum(['INSERT', 'UPDATE', 'DELETE'])),
    sku: z.string().min(1),
    wh: z.number().int().nonnegative(),
    qty: z.number().int().optional(),
    reserved: z.number().int().optional(),
    ts: z.union([z.string(), z.number()]),
  })
  .superRefine((r, ctx) => {
    if (r.op !== 'DELETE' && r.qty === undefined)
      ctx.addIssue({ code: 'custom', path: ['qty'], message: `required for ${r.op}` });
  });

const TableImageSchema = z
  .object({
    tableName: z.string().min(1),
    operation: z.preprocess(upperCase, z.enum(['INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT'])),
    beforeImage: ImageSchema.nullish(),
    afterImage: ImageSchema.nullish(),
    timestamp: z.union([z.string(), z.number()]),
  })
  .superRefine((r, ctx) => {
    if (r.operation === 'DELETE') {
      if (r.afterImage)
        ctx.addIssue({ code: 'custom', path: ['afterImage'], message: 'must be null for DELETE' });
      if (!r.beforeImage)
        ctx.addIssue({ code: 'custom', path: ['beforeImage'], message: 'required for DELETE' });
    } else if (!r.afterImage) {
      ctx.addIssue({ code: 'custom', path: ['afterImage'], message: `required for ${r.operation}` });
    }
  });

// ---------------------------------------------------------------------------
// Mapping per format: each returns a candidate event (validated afterwards) or a reason
// ---------------------------------------------------------------------------

function mapDebezium(input: Record<string, unknown>): Step<unknown> {
  let envelope: unknown = input;
  if (has(input, 'payload')) {
    envelope = input.payload;
    if (envelope === null) return fail('payload is null (a tombstone, not a change)');
    if (!isObject(envelope)) return fail(`payload: expected an object, got ${describeType(envelope)}`);
  }
  const parsed = DebeziumEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const { op, source } = parsed.data;
  const before = parsed.data.before ?? null;
  const after = parsed.data.after ?? null;
  const images = imagesAndKey(source.table, before, after, { before: 'before image', after: 'after image' });
  if (!images.ok) return images;
  const snapshot =
    op === 'r' ||
    source.snapshot === true ||
    (typeof source.snapshot === 'string' && source.snapshot !== '' && source.snapshot !== 'false');
  return {
    ok: true,
    value: {
      source: {
        db: source.db || 'unknown',
        schema: source.schema || 'public',
        table: source.table,
        lsn: bigIntToLsn(BigInt(source.lsn)),
        ...(source.txId != null ? { txId: source.txId } : {}),
        commitTs: new Date(source.ts_ms).toISOString(),
        index: 0,
        ...(snapshot ? { snapshot: true } : {}),
      },
      op,
      ...images.value,
    },
  };
}

const DMS_OPS: Record<z.infer<typeof DmsMetadataSchema>['operation'], ChangeOp> = {
  load: 'r',
  insert: 'c',
  update: 'u',
  delete: 'd',
};

function mapDms(input: Record<string, unknown>): Step<unknown> {
  const meta = input.metadata;
  if (isObject(meta) && meta['record-type'] === 'control') {
    const what = typeof meta.operation === 'string' ? ` (operation '${meta.operation}')` : '';
    return fail(`DMS control record${what}, not a row change`);
  }
  const parsed = DmsRecordSchema.safeParse(input);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const { data, metadata } = parsed.data;
  const table = metadata['table-name'];
  const op = DMS_OPS[metadata.operation];
  // For deletes DMS puts the deleted row in `data`; for updates the old row is in `before-image`
  // only when BeforeImageSettings are enabled on the task.
  const before = op === 'd' ? data : op === 'u' ? (parsed.data['before-image'] ?? null) : null;
  const after = op === 'd' ? null : data;
  const images = imagesAndKey(table, before, after, {
    before: op === 'd' ? 'data (deleted row)' : 'before-image',
    after: 'data',
  });
  if (!images.ok) return images;
  const pos = positionFromTimestamp(metadata.timestamp, 'metadata.timestamp');
  if (!pos.ok) return pos;
  const txId = metadata['transaction-id'];
  return {
    ok: true,
    value: {
      source: {
        db: 'unknown',
        schema: metadata['schema-name'] || 'public',
        table,
        lsn: pos.value.lsn,
        ...(txId != null ? { txId } : {}),
        commitTs: pos.value.commitTs,
        index: 0,
        ...(op === 'r' ? { snapshot: true } : {}),
      },
      op,
      ...images.value,
    },
  };
}

const FLAT_OPS = { INSERT: 'c', UPDATE: 'u', DELETE: 'd' } as const;

function mapFlat(input: Record<string, unknown>): Step<unknown> {
  const parsed = FlatSchema.safeParse(input);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const r = parsed.data;
  const pos = positionFromTimestamp(r.ts, 'ts');
  if (!pos.ok) return pos;
  const key: Row = { sku: r.sku, warehouse_id: r.wh };
  const op = FLAT_OPS[r.op];
  const after: Row | null =
    op === 'd'
      ? null
      : { ...key, on_hand: r.qty ?? 0, ...(r.reserved !== undefined ? { reserved: r.reserved } : {}) };
  return {
    ok: true,
    value: {
      source: {
        db: 'unknown',
        schema: 'public',
        table: 'inventory',
        lsn: pos.value.lsn,
        commitTs: pos.value.commitTs,
        index: 0,
      },
      op,
      key,
      before: op === 'd' ? { ...key } : null,
      after,
    },
  };
}

const TABLE_IMAGE_OPS = { INSERT: 'c', UPDATE: 'u', DELETE: 'd', SNAPSHOT: 'r' } as const;

function mapTableImage(input: Record<string, unknown>): Step<unknown> {
  const parsed = TableImageSchema.safeParse(input);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const r = parsed.data;
  // "public.inventory" names schema and table; a bare name is in the public schema.
  const dot = r.tableName.lastIndexOf('.');
  const schema = dot > 0 ? r.tableName.slice(0, dot) : 'public';
  const table = dot > 0 ? r.tableName.slice(dot + 1) : r.tableName;
  const op = TABLE_IMAGE_OPS[r.operation];
  const images = imagesAndKey(table, r.beforeImage ?? null, op === 'd' ? null : (r.afterImage ?? null), {
    before: 'beforeImage',
    after: 'afterImage',
  });
  if (!images.ok) return images;
  const pos = positionFromTimestamp(r.timestamp, 'timestamp');
  if (!pos.ok) return pos;
  return {
    ok: true,
    value: {
      source: {
        db: 'unknown',
        schema,
        table,
        lsn: pos.value.lsn,
        commitTs: pos.value.commitTs,
        index: 0,
        ...(op === 'r' ? { snapshot: true } : {}),
      },
      op,
      ...images.value,
    },
  };
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
    return fail(`not JSON: ${errorMessage(err)}`);
  }
  if (!isObject(parsed))
    return fail(`unrecognised record format: expected a JSON object, got ${describeType(parsed)}`);
  const format = detect(parsed);
  if (!format) {
    const keys = Object.keys(parsed);
    if (keys.length === 0) return fail('unrecognised record format: empty object');
    const listed = keys.slice(0, MAX_KEYS_LISTED).map(shortKey).join(', ');
    const more = keys.length > MAX_KEYS_LISTED ? `, … (${keys.length} keys)` : '';
    return fail(`unrecognised record format: has keys [${listed}${more}]`);
  }
  const label = LABEL[format];
  try {
    const mapped = mapFormat(format, parsed);
    if (!mapped.ok) return fail(`${label}: ${mapped.reason}`);
    const result = ChangeEventSchema.safeParse(mapped.value);
    if (!result.success)
      return fail(
        format === 'canonical'
          ? `${label}: ${formatIssues(result.error)}`
          : `${label}: mapped change event is invalid: ${formatIssues(result.error)}`,
      );
    return { ok: true, event: result.data as ChangeEvent, format };
  } catch (err) {
    // e.g. a stack overflow validating absurdly deep nesting
    return fail(`${label}: cannot validate record: ${errorMessage(err)}`);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
