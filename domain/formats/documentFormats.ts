import { z } from 'zod';
import type { Row } from '../core/json';
import { fail, formatIssues, ImageSchema, imagesAndKey, positionFromTimestamp, type Step } from './common';

/**
 * The two record formats of the design documents. Neither carries an LSN: the version position is
 * the source timestamp in microseconds, index 0 (see `decodeChange.ts`).
 *  - inventory-flat: one inventory row, `{"op":"INSERT","sku":…,"wh":…,"qty":…,"reserved"?:…,"ts":…}`.
 *  - table-image: any configured table, `{tableName, operation, beforeImage, afterImage, timestamp}`
 *    (also as 003's `table` and 002's `eventType`, `before`, `after`).
 */

/** Operations written in either case: "insert" and "INSERT" are the same. */
const upperCase = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);

// ---------------------------------------------------------------------------
// inventory-flat
// ---------------------------------------------------------------------------

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

const FLAT_OPS = { INSERT: 'c', UPDATE: 'u', DELETE: 'd' } as const;

/** An inventory-flat record → a candidate change event (validated by the caller), or a reason. */
export function mapFlat(input: Record<string, unknown>): Step<unknown> {
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
        // Only the quantities it names: applied as an update of those columns, never a full put.
        ...(op === 'd' ? {} : { partial: true as const }),
      },
      op,
      key,
      before: op === 'd' ? { ...key } : null,
      after,
    },
  };
}

// ---------------------------------------------------------------------------
// table-image
// ---------------------------------------------------------------------------

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

const TABLE_IMAGE_OPS = { INSERT: 'c', UPDATE: 'u', DELETE: 'd', SNAPSHOT: 'r' } as const;

/**
 * The documents write this format three ways: 003's captured stage (`table`, `operation`,
 * `beforeImage`, `afterImage`), 002's sample test event (`tableName`, `eventType`, `before`,
 * `after`) and the field names above. They are one format.
 */
function tableImageFields(input: Record<string, unknown>): Record<string, unknown> {
  const pick = (...names: string[]) => input[names.find((n) => input[n] !== undefined) ?? names[0]!];
  return {
    tableName: pick('tableName', 'table'),
    operation: pick('operation', 'eventType'),
    beforeImage: pick('beforeImage', 'before'),
    afterImage: pick('afterImage', 'after'),
    timestamp: input.timestamp,
  };
}

/** A table-image record → a candidate change event (validated by the caller), or a reason. */
export function mapTableImage(input: Record<string, unknown>): Step<unknown> {
  const parsed = TableImageSchema.safeParse(tableImageFields(input));
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
