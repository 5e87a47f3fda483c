import { z } from 'zod';

/**
 * What operators send to the shard readers and the supervisor (signals), validated: a signal is
 * external input typed by hand on a command line. Invalid input is refused with a reason (the
 * workflow notes it in its status) and never throws inside a handler.
 */
const Reason = z.string().trim().max(500);

/** `pause`: the reason is optional (`temporal workflow signal --name pause` without `--input`). */
export const PauseRequestSchema = z.union([
  z.undefined().transform(() => ({ reason: 'paused by operator' })),
  z.null().transform(() => ({ reason: 'paused by operator' })),
  z.object({ reason: Reason.optional() }).transform((r) => ({ reason: r.reason || 'paused by operator' })),
]);
export type PauseRequest = z.output<typeof PauseRequestSchema>;

/** `skipRecord`: which record (a Kinesis sequence number) and why. */
export const SkipRequestSchema = z.object({
  sequenceNumber: z.string().regex(/^\d{1,128}$/, 'must be a Kinesis sequence number (digits)'),
  reason: Reason.min(1, 'say why (it is kept with the dead letter)'),
});
export type SkipRequest = z.output<typeof SkipRequestSchema>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function parseRequest<T>(schema: z.ZodType<T>, input: unknown): Parsed<T> {
  const r = schema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const issues = r.error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
  return { ok: false, reason: issues };
}
