/**
 * Conversion of pgoutput text-format column values to JSON-safe values, by type OID (no I/O).
 *
 * The text forms are PostgreSQL's output functions under the session settings of
 * `DECODER_SESSION_SETTINGS`, which capture pins on its replication connection (a server, database
 * or role default such as `datestyle = 'SQL, DMY'` would otherwise change them): DateStyle 'ISO',
 * bytea_output 'hex' (the 'escape' form is also accepted), extra_float_digits 3 (shortest exact
 * float output), TimeZone 'UTC'. Values are never rounded: numeric, and int8 beyond 2^53, stay
 * decimal strings.
 *
 * Errors name the type and the length of the text, never the text itself (it is row data).
 *
 * Known limit: json/jsonb are parsed with JSON.parse, so a number inside a JSON document that a
 * double cannot hold exactly (e.g. 12345678901234567890) is rounded, as every JSON.parse consumer would.
 */

import type { JsonValue } from '../core/json';
import { civilFromDays, daysFromCivil } from '../core/calendar';
import { PgTypeError } from '../core/errors';
export type { JsonValue };

/**
 * The session settings the conversions depend on, set on the replication connection as startup
 * parameters (they take precedence over server, database and role defaults).
 */
export const DECODER_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
  TimeZone: 'UTC',
};

/** `DECODER_SESSION_SETTINGS` as libpq's `options` startup parameter (`-c name=value …`). */
export function decoderSessionOptions(): string {
  return Object.entries(DECODER_SESSION_SETTINGS)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/** Built-in type OIDs (pg_type.oid) this module knows. Array types are named `<ELEM>_ARRAY`. */
export const PG_TYPE = {
  BOOL: 16,
  BYTEA: 17,
  CHAR: 18,
  NAME: 19,
  INT8: 20,
  INT2: 21,
  INT4: 23,
  TEXT: 25,
  OID: 26,
  JSON: 114,
  FLOAT4: 700,
  FLOAT8: 701,
  BPCHAR: 1042,
  VARCHAR: 1043,
  DATE: 1082,
  TIME: 1083,
  TIMESTAMP: 1114,
  TIMESTAMPTZ: 1184,
  INTERVAL: 1186,
  TIMETZ: 1266,
  NUMERIC: 1700,
  UUID: 2950,
  JSONB: 3802,

  JSON_ARRAY: 199,
  BOOL_ARRAY: 1000,
  BYTEA_ARRAY: 1001,
  CHAR_ARRAY: 1002,
  NAME_ARRAY: 1003,
  INT2_ARRAY: 1005,
  INT4_ARRAY: 1007,
  TEXT_ARRAY: 1009,
  BPCHAR_ARRAY: 1014,
  VARCHAR_ARRAY: 1015,
  INT8_ARRAY: 1016,
  FLOAT4_ARRAY: 1021,
  FLOAT8_ARRAY: 1022,
  OID_ARRAY: 1028,
  TIMESTAMP_ARRAY: 1115,
  DATE_ARRAY: 1182,
  TIME_ARRAY: 1183,
  TIMESTAMPTZ_ARRAY: 1185,
  INTERVAL_ARRAY: 1187,
  NUMERIC_ARRAY: 1231,
  TIMETZ_ARRAY: 1270,
  UUID_ARRAY: 2951,
  JSONB_ARRAY: 3807,
} as const;

/** Thrown when a value's text does not match its type's output format. */
type Converter = (text: string) => JsonValue;
const T = PG_TYPE;

/** Scalar converters. Any OID not listed (text, varchar, uuid, date, time, interval, citext, enums...) stays a string. */
const SCALAR: Readonly<Record<number, Converter>> = {
  [T.BOOL]: toBool,
  [T.INT2]: toInt32,
  [T.INT4]: toInt32,
  [T.OID]: toInt32,
  [T.INT8]: toInt8,
  [T.FLOAT4]: toFloat,
  [T.FLOAT8]: toFloat,
  [T.JSON]: toJson,
  [T.JSONB]: toJson,
  [T.TIMESTAMPTZ]: (s) => toIsoTimestamp(s, true),
  [T.TIMESTAMP]: (s) => toIsoTimestamp(s, false),
  [T.BYTEA]: byteaToBase64,
  // NUMERIC deliberately absent: it stays the exact decimal string PostgreSQL sent.
};

/** Array type OID -> element type OID. */
const ARRAY_ELEMENT: Readonly<Record<number, number>> = {
  [T.JSON_ARRAY]: T.JSON,
  [T.BOOL_ARRAY]: T.BOOL,
  [T.BYTEA_ARRAY]: T.BYTEA,
  [T.CHAR_ARRAY]: T.CHAR,
  [T.NAME_ARRAY]: T.NAME,
  [T.INT2_ARRAY]: T.INT2,
  [T.INT4_ARRAY]: T.INT4,
  [T.TEXT_ARRAY]: T.TEXT,
  [T.BPCHAR_ARRAY]: T.BPCHAR,
  [T.VARCHAR_ARRAY]: T.VARCHAR,
  [T.INT8_ARRAY]: T.INT8,
  [T.FLOAT4_ARRAY]: T.FLOAT4,
  [T.FLOAT8_ARRAY]: T.FLOAT8,
  [T.OID_ARRAY]: T.OID,
  [T.TIMESTAMP_ARRAY]: T.TIMESTAMP,
  [T.DATE_ARRAY]: T.DATE,
  [T.TIME_ARRAY]: T.TIME,
  [T.TIMESTAMPTZ_ARRAY]: T.TIMESTAMPTZ,
  [T.INTERVAL_ARRAY]: T.INTERVAL,
  [T.NUMERIC_ARRAY]: T.NUMERIC,
  [T.TIMETZ_ARRAY]: T.TIMETZ,
  [T.UUID_ARRAY]: T.UUID,
  [T.JSONB_ARRAY]: T.JSONB,
};

const asString: Converter = (s) => s;

/**
 * Convert one pgoutput text value to JSON.
 * @param typeName optional pg_type.typname (pgoutput sends it in a 'Y' Type message for non-built-in types);
 *   a name starting with '_' marks an array type not in the table, returned as an array of strings.
 */
export function convertPgText(typeOid: number, text: string, typeName?: string): JsonValue {
  const elem = ARRAY_ELEMENT[typeOid];
  if (elem !== undefined) return mapLeaves(parseArrayLiteral(text), SCALAR[elem] ?? asString);
  if (typeName?.startsWith('_')) return mapLeaves(parseArrayLiteral(text), asString);
  return (SCALAR[typeOid] ?? asString)(text);
}

// --- scalars ---------------------------------------------------------------

/** The value is row data (PII): the error names the type and the text's length only. */
function bad(type: string, text: string): never {
  throw new PgTypeError(`invalid ${type} text (${text.length} characters)`);
}

/** The name of a built-in type OID (e.g. `timestamptz`), else `oid <n>`. */
export function pgTypeName(typeOid: number): string {
  return TYPE_NAMES.get(typeOid) ?? `oid ${typeOid}`;
}
const TYPE_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(PG_TYPE).map(([name, oid]) => [
    oid,
    name.endsWith('_ARRAY') ? `${name.slice(0, -6).toLowerCase()}[]` : name.toLowerCase(),
  ]),
);

function toBool(s: string): boolean {
  if (s === 't') return true;
  if (s === 'f') return false;
  return bad('bool', s);
}

const INT_RE = /^-?\d+$/;
function toInt32(s: string): number {
  if (!INT_RE.test(s)) bad('integer', s);
  return Number(s);
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
function toInt8(s: string): number | string {
  if (!INT_RE.test(s)) bad('int8', s);
  const v = BigInt(s);
  return v <= MAX_SAFE && v >= -MAX_SAFE ? Number(v) : s;
}

const FLOAT_SPECIAL = new Set(['NaN', 'Infinity', '-Infinity']);
function toFloat(s: string): number | string {
  if (FLOAT_SPECIAL.has(s)) return s; // not representable in JSON
  // PostgreSQL prints the shortest string that round-trips, so Number() is exact.
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n)) bad('float', s);
  return n;
}

function toJson(s: string): JsonValue {
  try {
    return JSON.parse(s) as JsonValue;
  } catch {
    return bad('json', s);
  }
}

/** bytea -> base64. Hex format "\x0aff" (default); escape format ("ab\\\001") also handled. */
function byteaToBase64(s: string): string {
  if (s.startsWith('\\x')) {
    const hex = s.slice(2);
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) bad('bytea', s);
    return Buffer.from(hex, 'hex').toString('base64');
  }
  const bytes: number[] = [];
  for (let i = 0; i < s.length;) {
    if (s[i] !== '\\') {
      const c = s.charCodeAt(i++);
      if (c > 0xff) bad('bytea', s);
      bytes.push(c);
    } else if (s[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 2;
    } else if (/^[0-3][0-7]{2}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 4;
    } else {
      bad('bytea', s);
    }
  }
  return Buffer.from(bytes).toString('base64');
}

// --- timestamps ------------------------------------------------------------

// ISO DateStyle output: "2026-01-02 03:04:05.123456+05:30", offset "+HH", "+HH:MM" or "+HH:MM:SS"
// (historical zones have second offsets), years may exceed 4 digits, " BC" suffix for year <= 0.
const TS_RE =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?)?( BC)?$/;

/**
 * timestamptz -> "YYYY-MM-DDTHH:MM:SS[.f]Z" in UTC; timestamp -> same without zone.
 * The fractional part is kept exactly as PostgreSQL printed it (up to microseconds); offsets are whole
 * seconds, so shifting to UTC never touches it. 'infinity'/'-infinity' pass through as strings.
 * Years outside 0000-9999 use ISO 8601 expanded form (+/-YYYYYY), BC years astronomical numbering (1 BC = 0000).
 */
function toIsoTimestamp(s: string, withZone: boolean): string {
  if (s === 'infinity' || s === '-infinity') return s;
  const m = TS_RE.exec(s);
  const what = withZone ? 'timestamptz' : 'timestamp';
  if (!m || (m[8] !== undefined) !== withZone) return bad(what, s);
  const [, y, mo, d, h, mi, sec, frac = '', sign, oh, om = '0', os = '0', bc] = m;
  const year = bc ? 1 - Number(y) : Number(y);
  const offset =
    sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  const total =
    daysFromCivil(year, Number(mo), Number(d)) * 86400 +
    Number(h) * 3600 +
    Number(mi) * 60 +
    Number(sec) -
    offset;
  const days = Math.floor(total / 86400);
  const secs = total - days * 86400;
  const [Y, M, D] = civilFromDays(days);
  const time = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}${frac}`;
  return `${isoYear(Y)}-${pad2(M)}-${pad2(D)}T${time}${withZone ? 'Z' : ''}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');
const isoYear = (y: number) =>
  y >= 0 && y <= 9999
    ? String(y).padStart(4, '0')
    : (y < 0 ? '-' : '+') + String(Math.abs(y)).padStart(6, '0');

// --- arrays ----------------------------------------------------------------

type RawArray = (string | null | RawArray)[];

function mapLeaves(a: RawArray, conv: Converter): JsonValue[] {
  return a.map((v) => (v === null ? null : Array.isArray(v) ? mapLeaves(v, conv) : conv(v)));
}

// array_isspace() in PostgreSQL: space, \t, \n, \r, \v, \f
const isSpace = (c: string | undefined) =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/**
 * Parse PostgreSQL's array output syntax into nested arrays of raw element strings (null for NULL).
 *  - "[2:3]={1,2}": the dimension decoration printed when a lower bound isn't 1 is skipped (bounds are lost).
 *  - Quoted elements: "..." with backslash escaping any character; "NULL" quoted is the string NULL.
 *  - Unquoted elements: surrounding whitespace dropped, backslash escapes allowed; bare NULL
 *    (any case, unescaped) is SQL NULL.
 *  - Nested braces are multidimensional arrays. The delimiter is ',' (true for every type we map;
 *    only box uses ';').
 */
export function parseArrayLiteral(text: string): RawArray {
  let i = 0;
  const fail = (why: string): never => {
    throw new PgTypeError(`malformed array literal at index ${i} of ${text.length} (${why})`);
  };
  const skipSpace = () => {
    while (isSpace(text[i])) i++;
  };

  const quoted = (): string => {
    let s = '';
    for (i++; ;) {
      if (i >= text.length) fail('unterminated quoted element');
      const c = text[i++]!;
      if (c === '"') return s;
      if (c === '\\') {
        if (i >= text.length) fail('dangling backslash');
        s += text[i++];
      } else s += c;
    }
  };

  const unquoted = (): string | null => {
    let s = '';
    let keep = 0; // length of s up to its last non-space or escaped char
    let escaped = false;
    while (i < text.length && text[i] !== ',' && text[i] !== '}') {
      const c = text[i++]!;
      if (c === '{' || c === '"') fail(`unexpected ${c}`);
      if (c === '\\') {
        if (i >= text.length) fail('dangling backslash');
        s += text[i++];
        keep = s.length;
        escaped = true;
      } else {
        s += c;
        if (!isSpace(c)) keep = s.length;
      }
    }
    s = s.slice(0, keep);
    if (s === '' && !escaped) fail('empty element');
    return !escaped && s.toUpperCase() === 'NULL' ? null : s;
  };

  const array = (): RawArray => {
    if (text[i] !== '{') fail("expected '{'");
    i++;
    const out: RawArray = [];
    skipSpace();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skipSpace();
      out.push(text[i] === '{' ? array() : text[i] === '"' ? quoted() : unquoted());
      skipSpace();
      const c = text[i++];
      if (c === '}') return out;
      if (c !== ',') fail("expected ',' or '}'");
    }
  };

  skipSpace();
  if (text[i] === '[') {
    const eq = text.indexOf('=', i);
    if (eq < 0) fail("dimension decoration without '='");
    i = eq + 1;
    skipSpace();
  }
  const result = array();
  skipSpace();
  if (i !== text.length) fail('trailing characters');
  return result;
}
