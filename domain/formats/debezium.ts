import { z } from 'zod';
import { bigIntToLsn } from '../core/lsn';
import { configuredTables } from '../core/tables';
import { decodeRow, rowSchemas, schemaOfColumnTypes } from './connectSchema';
import {
  describeType,
  fail,
  formatIssues,
  has,
  ImageSchema,
  imagesAndKey,
  isObject,
  MAX_DATE_MS,
  type Image,
  type Step,
} from './common';

/**
 * Debezium JSON change envelopes (PostgreSQL connector), bare or inside the `{schema, payload}`
 * wrapper written with `schemas.enable=true`. The version position is `source.lsn`, index 0 (see
 * `decodeChange.ts`).
 *
 * With a schema, row values are decoded by it (`connectSchema.ts`: Decimal, VariableScaleDecimal,
 * io.debezium.time.*, Json, …) into what the pgoutput path gives for the same column. Without one
 * (`schemas.enable=false`) the record carries nothing that says how a value was encoded: the
 * columns the table file gives a type (`columnTypes`) are decoded as Debezium encodes that type
 * by default, the others pass through as they come (docs/input-formats.md).
 */

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

/** A Debezium envelope → a candidate change event (validated by the caller), or a reason. */
export function mapDebezium(input: Record<string, unknown>): Step<unknown> {
  let envelope: unknown = input;
  const schemas = rowSchemas(has(input, 'payload') ? input.schema : null);
  if (!schemas.ok) return schemas;
  if (has(input, 'payload')) {
    envelope = input.payload;
    if (envelope === null) return fail('payload is null (a tombstone, not a change)');
    if (!isObject(envelope)) return fail(`payload: expected an object, got ${describeType(envelope)}`);
  }
  const parsed = DebeziumEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const { op, source } = parsed.data;
  // Without a schema in the record: the table file's column types, if it declares any.
  const typed = schemas.value ? null : schemaOfColumnTypes(configuredTables().get(source.table)?.columnTypes);
  const decode = (image: Image | null | undefined, name: 'before' | 'after'): Step<Image | null> => {
    const schema = schemas.value ? schemas.value[name] : typed;
    if (!image) return { ok: true, value: null };
    return schema ? decodeRow(schema, image, name) : { ok: true, value: image };
  };
  const images = imagesAndKeyOf(
    source.table,
    decode(parsed.data.before, 'before'),
    decode(parsed.data.after, 'after'),
  );
  if (!images.ok) return images;
  return mapped(op, source, images.value);
}

function imagesAndKeyOf(table: string, before: Step<Image | null>, after: Step<Image | null>) {
  // An unknown table is a configuration failure whatever its values: the key is looked up first.
  const key = imagesAndKey(table, before.ok ? before.value : null, after.ok ? after.value : null, {
    before: 'before image',
    after: 'after image',
  });
  if (!key.ok && key.category === 'configuration') return key;
  if (!before.ok) return before;
  if (!after.ok) return after;
  return key;
}

type Envelope = z.infer<typeof DebeziumEnvelopeSchema>;

function mapped(
  op: Envelope['op'],
  source: Envelope['source'],
  images: { key: unknown; before: Image | null; after: Image | null },
): Step<unknown> {
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
      ...images,
    },
  };
}
