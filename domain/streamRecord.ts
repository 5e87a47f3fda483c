import { createHash } from 'node:crypto';
import { ChangeEventSchema, type ChangeEvent } from './changeEvent';
import { stableStringify, type Row } from './json';

/** Kinesis partition key: table and primary key, so every change of one row lands on one shard, in order. */
export function partitionKey(table: string, key: Row): string {
  const pk = `${table}:${stableStringify(key)}`;
  // Kinesis allows 256 Unicode characters; longer keys are replaced by a stable digest.
  return pk.length <= 256
    ? pk
    : `${table}:sha256:${createHash('sha256').update(pk).digest('hex')}`.slice(0, 256);
}

export function encodeChangeEvent(event: ChangeEvent): string {
  return JSON.stringify(event);
}

export type DecodeResult = { ok: true; event: ChangeEvent } | { ok: false; reason: string };

/**
 * Record data (UTF-8 text) → canonical change event. Anything that is not valid is a poison
 * record with a precise reason; this function never throws.
 */
export function decodeRecord(data: string): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  let result: ReturnType<typeof ChangeEventSchema.safeParse>;
  try {
    result = ChangeEventSchema.safeParse(parsed);
  } catch (err) {
    // e.g. a stack overflow on absurdly deep nesting
    return { ok: false, reason: `cannot validate record: ${(err as Error).message}` };
  }
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return { ok: false, reason: `not a canonical change event: ${issues}` };
  }
  return { ok: true, event: result.data as ChangeEvent };
}
