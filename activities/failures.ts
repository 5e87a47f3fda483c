import { ApplicationFailure } from '@temporalio/common';
import { classifyError } from '../domain/core/errors';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import type { TroubleRecord } from '../domain/shards/shardTypes';

/**
 * Turns any error into an ApplicationFailure whose type is its failure type (domain/core/errors.ts).
 * Whether it is retried is the calling workflow's decision: its retry policy lists the
 * non-retryable types, derived from the same registry.
 */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const category = classifyError(err);
  const e = err as Error;
  const record = recordOf(err);
  return ApplicationFailure.create({
    type: category,
    message: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`,
    ...(e instanceof Error ? { cause: e } : {}),
    // The record that failed, for the workflow to show (and an operator to skip): details[0].
    ...(record ? { details: [record] } : {}),
  });
}

const RECORD = Symbol('record in trouble');

/** Marks an error with the record it is about, so the failure names that record, not the batch's first. */
export function aboutRecord<E>(err: E, record: TroubleRecord): E {
  if (typeof err === 'object' && err !== null && !(RECORD in err))
    Object.defineProperty(err, RECORD, { value: record, enumerable: false });
  return err;
}

/**
 * The same failure naming `record` unless it names one already: an error is marked (as
 * `aboutRecord`), a failure already classified is made again with the record as details[0].
 */
export function withRecord(err: unknown, record: TroubleRecord): unknown {
  if (!(err instanceof ApplicationFailure)) return aboutRecord(err, record);
  if (err.details?.length) return err;
  return ApplicationFailure.create({
    ...(err.type ? { type: err.type } : {}),
    message: err.message,
    nonRetryable: err.nonRetryable ?? false,
    details: [record],
    ...(err.cause ? { cause: err.cause } : {}),
  });
}

function recordOf(err: unknown): TroubleRecord | undefined {
  return typeof err === 'object' && err !== null && RECORD in err
    ? ((err as Record<typeof RECORD, TroubleRecord>)[RECORD] ?? undefined)
    : undefined;
}

/** The record a pipeline event came from, as the status shows it. */
export function troubleOf(e: PipelineEvent): TroubleRecord {
  return {
    sequenceNumber: e.position.sequenceNumber,
    table: e.table,
    // A sensitive table's key is shown hashed: the status bypasses the payload codec.
    entityId: e.entityRef ?? e.entityId,
    op: e.op,
    version: e.version,
  };
}

/** Wraps every function of an activity object so its failures carry their category. */
export function classified<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toFailure(err);
      }
    };
  }
  return out as T;
}
