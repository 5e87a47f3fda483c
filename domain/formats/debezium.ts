import { z } from 'zod';
import { bigIntToLsn } from '../core/lsn';
import {
  describeType,
  fail,
  formatIssues,
  has,
  ImageSchema,
  imagesAndKey,
  isObject,
  MAX_DATE_MS,
  type Step,
} from './common';

/**
 * Debezium JSON change envelopes (PostgreSQL connector), bare or inside the `{schema, payload}`
 * wrapper written with `schemas.enable=true`. The version position is `source.lsn`, index 0 (see
 * `decodeChange.ts`).
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
