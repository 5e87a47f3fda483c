import { z } from 'zod';
import { civilFromDays, daysFromCivil } from '../core/calendar';
import type { JsonValue } from '../core/json';
import { fail, isObject, type Image, type Step } from './common';

/**
 * Row values of a Debezium record decoded by the Kafka Connect schema its JSON converter writes
 * beside the payload (`schemas.enable=true`, the default). Each value comes out as the pgoutput
 * path (`domain/capture/pgTypes.ts`) gives the same PostgreSQL column, so a table reads the same
 * whichever producer fed it:
 *
 * | schema name                                   | encoded as                           | decoded to (as pgoutput)                  |
 * |-----------------------------------------------|--------------------------------------|-------------------------------------------|
 * | org.apache.kafka.connect.data.Decimal         | base64 two's-complement unscaled, `parameters.scale` | exact decimal string (`"-0.05"`, `"42"`) |
 * | io.debezium.data.VariableScaleDecimal         | `{scale, value: base64}`             | exact decimal string                      |
 * | io.debezium.time.Date, connect Date           | days since the epoch                 | `YYYY-MM-DD`                              |
 * | io.debezium.time.Timestamp, connect Timestamp | ms since the epoch                   | `YYYY-MM-DDTHH:MM:SS[.f]` (no zone)       |
 * | io.debezium.time.MicroTimestamp / NanoTimestamp | µs / ns since the epoch            | same                                      |
 * | io.debezium.time.ZonedTimestamp               | ISO string with offset               | `YYYY-MM-DDTHH:MM:SS[.f]Z` in UTC         |
 * | io.debezium.time.Time / MicroTime / NanoTime, connect Time | ms / µs / ns since midnight | `HH:MM:SS[.f]`                       |
 * | io.debezium.data.Json                         | the document as a string             | the parsed document                       |
 * | bytes (no name)                               | base64                               | base64 (unchanged)                        |
 * | array                                         | JSON array                           | each element by the items' schema         |
 *
 * Fractions are PostgreSQL's: trailing zeros dropped, none when zero. Long.MAX_VALUE / MIN_VALUE
 * (Debezium's ±infinity timestamps) become `infinity` / `-infinity`, as pgoutput passes them.
 * Every other value passes through. Errors name the column and the schema, never the value.
 */

export interface ConnectSchema {
  type: string;
  name?: string | null | undefined;
  field?: string | undefined;
  parameters?: Record<string, unknown> | null | undefined;
  fields?: ConnectSchema[] | undefined;
  items?: ConnectSchema | null | undefined;
}

const ConnectSchemaSchema: z.ZodType<ConnectSchema> = z.lazy(() =>
  z.object({
    type: z.string(),
    name: z.string().nullish(),
    field: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    fields: z.array(ConnectSchemaSchema).optional(),
    items: ConnectSchemaSchema.nullish(),
  }),
);

/** The envelope schema's `before` and `after` row schemas; null when it describes none (a bare struct). */
export function rowSchemas(
  schema: unknown,
): Step<{ before: ConnectSchema | null; after: ConnectSchema | null } | null> {
  if (schema === null || schema === undefined) return { ok: true, value: null };
  const parsed = ConnectSchemaSchema.safeParse(schema);
  if (!parsed.success) return fail('schema: not a Kafka Connect schema');
  const fields = parsed.data.fields ?? [];
  const of = (name: string) => fields.find((x) => x.field === name && x.type === 'struct') ?? null;
  return { ok: true, value: { before: of('before'), after: of('after') } };
}

/**
 * The schema Debezium's PostgreSQL connector writes for a column of this type under its defaults
 * (decimal.handling.mode=precise, time.precision.mode=adaptive), for records written without one
 * (`schemas.enable=false`): the table file's `columnTypes` (domain/core/tables.ts `COLUMN_TYPE`).
 */
export function schemaOfColumnType(column: string, type: string): ConnectSchema | null {
  const m = /^(\w+)(?:\((\d+)(?:, ?(-?\d+))?\))?$/.exec(type);
  if (!m) return null;
  const [, base, precision, scale] = m;
  const named = (t: string, name: string): ConnectSchema => ({ type: t, name, field: column });
  switch (base) {
    case 'numeric':
    case 'decimal':
      return precision === undefined
        ? named('struct', VARIABLE_DECIMAL)
        : { ...named('bytes', DECIMAL), parameters: { scale: scale ?? '0' } };
    case 'date':
      return named('int32', 'io.debezium.time.Date');
    case 'timestamp':
      return Number(precision ?? 6) <= 3
        ? named('int64', 'io.debezium.time.Timestamp')
        : named('int64', 'io.debezium.time.MicroTimestamp');
    case 'timestamptz':
      return named('string', 'io.debezium.time.ZonedTimestamp');
    case 'time':
      return Number(precision ?? 6) <= 3
        ? named('int32', 'io.debezium.time.Time')
        : named('int64', 'io.debezium.time.MicroTime');
    case 'json':
    case 'jsonb':
      return named('string', 'io.debezium.data.Json');
    default:
      return null;
  }
}

/** A row schema made of the table file's column types; null when it declares none. */
export function schemaOfColumnTypes(
  types: Readonly<Record<string, string>> | undefined,
): ConnectSchema | null {
  const fields = Object.entries(types ?? {})
    .map(([column, type]) => schemaOfColumnType(column, type))
    .filter((f): f is ConnectSchema => f !== null);
  return fields.length ? { type: 'struct', fields } : null;
}

/** A row image decoded by its struct schema: described columns decoded, others passed through. */
export function decodeRow(schema: ConnectSchema, row: Image, image: string): Step<Image> {
  const out: Image = { ...row };
  for (const field of schema.fields ?? []) {
    if (field.field === undefined || !Object.hasOwn(row, field.field)) continue;
    const v = decodeValue(field, row[field.field], `${image}.${field.field}`);
    if (!v.ok) return v;
    out[field.field] = v.value;
  }
  return { ok: true, value: out };
}

/** PostgreSQL's largest numeric scale, and a bound on days either side of 1970 beyond its dates. */
const MAX_SCALE = 16383;
const MAX_DAYS = 100_000_000;
const DECIMAL = 'org.apache.kafka.connect.data.Decimal';
const VARIABLE_DECIMAL = 'io.debezium.data.VariableScaleDecimal';

/** Units per second (or per day, for dates) of each epoch-based logical type. */
const TIMESTAMPS: Readonly<Record<string, bigint>> = {
  'io.debezium.time.Timestamp': 1_000n,
  'org.apache.kafka.connect.data.Timestamp': 1_000n,
  'io.debezium.time.MicroTimestamp': 1_000_000n,
  'io.debezium.time.NanoTimestamp': 1_000_000_000n,
};
const TIMES: Readonly<Record<string, bigint>> = {
  'io.debezium.time.Time': 1_000n,
  'org.apache.kafka.connect.data.Time': 1_000n,
  'io.debezium.time.MicroTime': 1_000_000n,
  'io.debezium.time.NanoTime': 1_000_000_000n,
};
const DATES = new Set(['io.debezium.time.Date', 'org.apache.kafka.connect.data.Date']);

function decodeValue(schema: ConnectSchema, value: unknown, path: string): Step<JsonValue> {
  if (value === null || value === undefined) return { ok: true, value: null };
  const name = schema.name ?? '';
  const bad = (what: string) => fail(`${path}: ${name} ${what}`);
  if (name === DECIMAL) {
    const scale = Number(schema.parameters?.scale);
    if (schema.parameters?.scale === undefined || !Number.isInteger(scale))
      return bad('schema has no integer parameters.scale');
    if (Math.abs(scale) > MAX_SCALE) return bad(`scale beyond PostgreSQL's ${MAX_SCALE}`);
    if (typeof value !== 'string') return bad(`needs base64 bytes, got ${typeof value}`);
    const unscaled = unscaledOf(value);
    return unscaled === null
      ? bad(`needs base64 bytes (${value.length} characters)`)
      : { ok: true, value: decimalString(unscaled, scale) };
  }
  if (name === VARIABLE_DECIMAL) {
    const ok =
      isObject(value) &&
      Number.isInteger(value.scale) &&
      Math.abs(value.scale as number) <= MAX_SCALE &&
      typeof value.value === 'string';
    const unscaled = ok ? unscaledOf(value.value as string) : null;
    if (!ok || unscaled === null) return bad('needs {scale: integer, value: base64 bytes}');
    return { ok: true, value: decimalString(unscaled, value.scale as number) };
  }
  if (DATES.has(name)) {
    if (!Number.isSafeInteger(value)) return bad('needs an integer');
    if (Math.abs(value as number) > MAX_DAYS) return bad('is out of range');
    return { ok: true, value: pgDate(value as number) };
  }
  const perSecond = TIMESTAMPS[name];
  if (perSecond !== undefined) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return bad('needs an integer');
    if (value >= 9.2e18) return { ok: true, value: 'infinity' };
    if (value <= -9.2e18) return { ok: true, value: '-infinity' };
    const ts = isoTimestamp(BigInt(value), perSecond);
    return ts === null ? bad('is out of range') : { ok: true, value: ts };
  }
  const timeUnits = TIMES[name];
  if (timeUnits !== undefined) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return bad('needs an integer');
    const t = BigInt(value);
    // 24:00:00 is a valid PostgreSQL time.
    if (t < 0n || t > 86_400n * timeUnits) return bad('is out of range');
    return { ok: true, value: timeOfDay(t, timeUnits) };
  }
  if (name === 'io.debezium.time.ZonedTimestamp') {
    if (typeof value !== 'string') return bad(`needs a string, got ${typeof value}`);
    if (value === 'infinity' || value === '-infinity') return { ok: true, value };
    const ts = zonedToUtc(value);
    return ts === null
      ? bad(`is not an ISO-8601 timestamp with a zone (${value.length} characters)`)
      : { ok: true, value: ts };
  }
  if (name === 'io.debezium.data.Json') {
    if (typeof value !== 'string') return bad(`needs a string, got ${typeof value}`);
    try {
      return { ok: true, value: JSON.parse(value) as JsonValue };
    } catch {
      return bad(`is not valid JSON (${value.length} characters)`);
    }
  }
  if (schema.type === 'array' && schema.items && Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (const [i, v] of value.entries()) {
      const d = decodeValue(schema.items, v, `${path}[${i}]`);
      if (!d.ok) return d;
      out.push(d.value);
    }
    return { ok: true, value: out };
  }
  if (schema.type === 'struct' && schema.fields && isObject(value))
    return decodeRow(schema, value, path) as Step<JsonValue>;
  return { ok: true, value: value as JsonValue };
}

// ---------------------------------------------------------------------------
// Decimals
// ---------------------------------------------------------------------------

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Base64 of a big-endian two's-complement integer → the integer; null if not base64. */
function unscaledOf(b64: string): bigint | null {
  if (!BASE64.test(b64)) return null;
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length === 0) return 0n;
  const v = BigInt(`0x${bytes.toString('hex')}`);
  return (bytes[0]! & 0x80) !== 0 ? v - (1n << BigInt(bytes.length * 8)) : v;
}

/** unscaled × 10^-scale as PostgreSQL prints a numeric of that scale: exactly `scale` decimals. */
function decimalString(unscaled: bigint, scale: number): string {
  const sign = unscaled < 0n ? '-' : '';
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString();
  if (scale <= 0) return unscaled === 0n ? '0' : `${sign}${digits}${'0'.repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, '0');
  return `${sign}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

// ---------------------------------------------------------------------------
// Dates and times, in PostgreSQL's ISO output (as pgTypes.ts gives them)
// ---------------------------------------------------------------------------

const pad = (n: number | bigint, w = 2) => String(n).padStart(w, '0');
/** pgTypes.ts's timestamp years: 0000-9999, else ISO 8601 expanded (±YYYYYY). */
const isoYear = (y: number) => (y >= 0 && y <= 9999 ? pad(y, 4) : (y < 0 ? '-' : '+') + pad(Math.abs(y), 6));
/** A fraction of `units` per second as PostgreSQL prints it: trailing zeros dropped, none when 0. */
function fraction(rem: bigint, units: bigint): string {
  if (rem === 0n) return '';
  const width = units.toString().length - 1;
  return `.${pad(rem, width).replace(/0+$/, '')}`;
}

/** A date as PostgreSQL prints it with DateStyle ISO (pgoutput keeps it as that string). */
function pgDate(days: number): string {
  const [y, m, d] = civilFromDays(days);
  const md = `${pad(m)}-${pad(d)}`;
  return y > 0 ? `${pad(y, 4)}-${md}` : `${pad(1 - y, 4)}-${md} BC`;
}

/** Floor division of bigints. */
const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

/** `value` units since the epoch → `YYYY-MM-DDTHH:MM:SS[.f]` (no zone); null beyond PostgreSQL's range. */
function isoTimestamp(value: bigint, perSecond: bigint, zone = ''): string | null {
  const seconds = floorDiv(value, perSecond);
  const rem = value - seconds * perSecond;
  const days = floorDiv(seconds, 86_400n);
  if (days > BigInt(MAX_DAYS) || days < -BigInt(MAX_DAYS)) return null;
  const secs = Number(seconds - days * 86_400n);
  const [y, m, d] = civilFromDays(Number(days));
  const time = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  return `${isoYear(y)}-${pad(m)}-${pad(d)}T${time}${fraction(rem, perSecond)}${zone}`;
}

/** `value` units since midnight → `HH:MM:SS[.f]`. */
function timeOfDay(value: bigint, perSecond: bigint): string {
  const secs = Number(value / perSecond);
  const time = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`;
  return `${time}${fraction(value % perSecond, perSecond)}`;
}

const ZONED_RE =
  /^([+-]?\d{4,})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2})(?::(\d{2}))?)$/;

/** A ZonedTimestamp (ISO with offset) → UTC `…Z` as pgTypes.ts gives a timestamptz. */
function zonedToUtc(s: string): string | null {
  const m = ZONED_RE.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac = '', z, sign, oh, om, os = '0'] = m;
  const [Y, M, D, H, MI, S] = [y, mo, d, h, mi, sec].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (M < 1 || M > 12 || D < 1 || D > 31 || H > 24 || MI > 59 || S > 60) return null;
  const offset = z ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  const seconds = BigInt(daysFromCivil(Y, M, D)) * 86_400n + BigInt(H * 3600 + MI * 60 + S - offset);
  const units = 10n ** BigInt(frac.length);
  return isoTimestamp(seconds * units + BigInt(frac || '0'), units, 'Z');
}
