/** The arguments of `cdc`, validated with zod at the boundary (an invalid one is a usage error, exit 2). */
import { z } from 'zod';

/**
 * A Kinesis shard id: `shardId-000000000001`, or its number (`1`), which is padded the way Kinesis
 * names shards.
 */
export const ShardIdSchema = z
  .string()
  .trim()
  .transform((s) => (/^\d{1,12}$/.test(s) ? `shardId-${s.padStart(12, '0')}` : s))
  .pipe(z.string().regex(/^shardId-\d{12}$/, 'must be a shard id like shardId-000000000001 (or its number)'));

/** A Kinesis sequence number: decimal digits. */
export const SequenceNumberSchema = z
  .string()
  .trim()
  .regex(/^\d{1,128}$/, 'must be a Kinesis sequence number (digits only)');

/** Why an operator acts: kept with the pause or the dead letter. */
export const ReasonSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty (say why)')
  .max(500, 'at most 500 characters');

/** A consumer name, as CDC_CONSUMER accepts it. */
export const ConsumerSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, dot, dash and underscore only');

/** Seconds between `status --watch` refreshes. */
export const IntervalSchema = z.coerce
  .number({ message: 'must be a number of seconds' })
  .min(0.5, 'at least 0.5 seconds')
  .max(3600, 'at most 3600 seconds');

/** How long to wait for a workflow to acknowledge a signal. */
export const TimeoutSchema = z.coerce
  .number({ message: 'must be a number of seconds' })
  .min(1, 'at least 1 second')
  .max(600, 'at most 600 seconds');

/** A table name of the table file, or an SQS queue name. */
export const NameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'letters, digits, dot, dash and underscore only');

/** An entity id: the primary-key values joined with '#' (e.g. `SKU-1#101`). */
export const EntityIdSchema = z.string().trim().min(1, 'must not be empty').max(1024);

/** Lines of a log to show. */
export const LinesSchema = z.coerce
  .number({ message: 'must be a number' })
  .int('must be a whole number')
  .min(1)
  .max(100_000);
