import { ApplicationFailure } from '@temporalio/common';
import { classifyError } from '../domain/core/errors';

/**
 * Turns any error into an ApplicationFailure whose type is its failure type (domain/core/errors.ts).
 * Whether it is retried is the calling workflow's decision: its retry policy lists the
 * non-retryable types, derived from the same registry.
 */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const category = classifyError(err);
  const e = err as Error;
  return ApplicationFailure.create({
    type: category,
    message: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`,
    ...(e instanceof Error ? { cause: e } : {}),
  });
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
