/**
 * What a caller may ask of the reservation store (reserve, confirm, cancel, extend, list),
 * validated with zod at the boundary (pure: the CLI, activities and tests share it). Messages say
 * what a valid value looks like, so an operator can fix the command without reading code.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { RESERVATION_STATUSES } from './hold';

export const MAX_QUANTITY = 1_000_000;
/** PostgreSQL's `integer`: warehouse_id is one. */
export const MAX_WAREHOUSE_ID = 2_147_483_647;
export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_LIST_LIMIT = 1000;
export const DEFAULT_LIST_LIMIT = 50;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * A duration in whole seconds: `90` (seconds), `90s`, `15m`, `2h`, `1d`; undefined when the text
 * is not one. Range checks are the schemas' job (their messages name the limits).
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d{1,9})\s*([smhd]?)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] || 's').toLowerCase() as keyof typeof UNIT_SECONDS;
  return Number(m[1]) * UNIT_SECONDS[unit];
}

/** Seconds for humans: 90 → "1m30s", 7200 → "2h", 86400 → "1d". */
export function formatSeconds(total: number): string {
  const parts: string[] = [];
  let rest = Math.round(total);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.length ? parts.join('') : '0s';
}

const DURATION_HINT = 'must be a duration like 90, 90s, 15m, 2h or 1d';

/** A duration (number of seconds, or text with a unit) → seconds, within [min, max]. */
const durationSchema = (min: number, max: number) =>
  z
    .union([z.number(), z.string()], { message: DURATION_HINT })
    .transform((v, ctx) => {
      const seconds = typeof v === 'number' ? v : parseDuration(v);
      if (seconds === undefined || !Number.isInteger(seconds)) {
        ctx.addIssue({ code: 'custom', message: DURATION_HINT });
        return z.NEVER;
      }
      return seconds;
    })
    .pipe(
      z
        .number()
        .min(min, `at least ${formatSeconds(min)}`)
        .max(max, `at most ${formatSeconds(max)}`),
    );

/** How long a hold lasts: 1 s to 30 days. */
export const TtlSchema = durationSchema(MIN_TTL_SECONDS, MAX_TTL_SECONDS);

/**
 * A whole number given as a number or as decimal digits (a command-line argument). Not
 * `z.coerce`: that would read '' as 0 and '1e3' as 1000.
 */
const wholeNumber = (what: string, min: number, max: number) =>
  z
    .union(
      [
        z.number(),
        z
          .string()
          .trim()
          .regex(/^[+-]?\d+$/, `must be ${what}`),
      ],
      {
        message: `must be ${what}`,
      },
    )
    .transform(Number)
    .pipe(z.number().int(`must be ${what}`).min(min, `at least ${min}`).max(max, `at most ${max}`));

export const ReservationIdSchema = z
  .string({ message: 'must be a reservation id' })
  .trim()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1 to 128 letters, digits or . _ : - (a reservation id)');

export const SkuSchema = z
  .string({ message: 'must be a SKU' })
  .trim()
  .min(1, 'must not be empty (a SKU)')
  .max(128, 'at most 128 characters');

export const WarehouseIdSchema = wholeNumber('a warehouse number (a whole number)', 0, MAX_WAREHOUSE_ID);

export const QuantitySchema = wholeNumber('a number of units (a whole number)', 1, MAX_QUANTITY);

export const OrderIdSchema = z
  .string({ message: 'must be an order id' })
  .trim()
  .min(1, 'must not be empty (an order id)')
  .max(128, 'at most 128 characters');

/** A status, any case (`held` is HELD). */
export const ReservationStatusSchema = z
  .string()
  .trim()
  .transform((s) => s.toUpperCase())
  .pipe(z.enum(RESERVATION_STATUSES, { message: `must be one of ${RESERVATION_STATUSES.join(', ')}` }));

export const ReserveRequestSchema = z.object({
  reservationId: ReservationIdSchema.optional(),
  sku: SkuSchema,
  warehouseId: WarehouseIdSchema,
  quantity: QuantitySchema,
  ttlSeconds: TtlSchema,
  orderId: OrderIdSchema.nullish(),
});
export type ReserveRequest = z.output<typeof ReserveRequestSchema>;

/** Confirm and cancel name one reservation. */
export const ReservationRefSchema = z.object({ reservationId: ReservationIdSchema });
export type ReservationRef = z.output<typeof ReservationRefSchema>;

/** Where an extension moves the deadline: now + ttl (in PostgreSQL's clock), or a given time. */
export type ExtendTo = { ttlSeconds: number } | { expiresAt: string };
export interface ExtendRequest {
  reservationId: string;
  to: ExtendTo;
}

const IsoTimeSchema = z
  .string({ message: 'must be an ISO-8601 time' })
  .trim()
  .pipe(
    z.iso.datetime({
      offset: true,
      message: 'must be an ISO-8601 time with a zone, e.g. 2026-11-23T10:15:00Z',
    }),
  );

/**
 * An extension: exactly one of `ttl` (a duration from now) and `until` (an ISO time, in the
 * future and at most 30 days ahead of `now`). `expiresAt` comes back as ISO-8601 with
 * milliseconds in UTC.
 */
export function extendRequestSchema(now: () => number = Date.now) {
  return z
    .object({
      reservationId: ReservationIdSchema,
      ttl: TtlSchema.optional(),
      until: IsoTimeSchema.optional(),
    })
    .superRefine((r, ctx) => {
      if ((r.ttl === undefined) === (r.until === undefined))
        ctx.addIssue({
          code: 'custom',
          message: 'give exactly one of --ttl <duration> and --until <iso time>',
        });
      if (r.until === undefined) return;
      const ms = Date.parse(r.until);
      if (ms <= now()) ctx.addIssue({ code: 'custom', path: ['until'], message: 'must be in the future' });
      else if (ms > now() + MAX_TTL_SECONDS * 1000)
        ctx.addIssue({ code: 'custom', path: ['until'], message: 'at most 30 days from now' });
    })
    .transform((r): ExtendRequest => ({
      reservationId: r.reservationId,
      to:
        r.ttl !== undefined
          ? { ttlSeconds: r.ttl }
          : { expiresAt: new Date(Date.parse(r.until!)).toISOString() },
    }));
}

/** A status filter: a status, or `all` (any case) for every status. */
const ListStatusSchema = z
  .string()
  .trim()
  .transform((s) => s.toUpperCase())
  .pipe(
    z.enum([...RESERVATION_STATUSES, 'ALL'], {
      message: `must be one of ${RESERVATION_STATUSES.join(', ')} or all`,
    }),
  );

/** A listing: HELD reservations unless `status` says otherwise (`all`: no status filter). */
export const ListRequestSchema = z
  .object({
    status: ListStatusSchema.default('HELD'),
    sku: SkuSchema.optional(),
    warehouseId: WarehouseIdSchema.optional(),
    expiringWithinSeconds: TtlSchema.optional(),
    limit: wholeNumber('a number of rows (a whole number)', 1, MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  })
  .transform(({ status, ...rest }) => ({ ...rest, ...(status === 'ALL' ? {} : { status }) }));
export type ListRequest = z.output<typeof ListRequestSchema>;

/** Zod issues as one line: `field: message; field: message` (at most three). */
export function issuesMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

export type Validated<T> = { ok: true; value: T } | { ok: false; message: string };

/** Validates `input` with `schema`: the value, or one line saying what is wrong. */
export function validate<T>(schema: z.ZodType<T>, input: unknown): Validated<T> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: issuesMessage(r.error) };
}

/**
 * A new reservation id: `res-<milliseconds in base 36>-<12 hex digits of a random UUID>`, so ids
 * sort roughly by creation and two callers in the same millisecond still differ (48 random bits).
 */
export function newReservationId(now: number = Date.now(), uuid: () => string = randomUUID): string {
  return `res-${now.toString(36)}-${uuid().replace(/-/g, '').slice(0, 12)}`;
}
