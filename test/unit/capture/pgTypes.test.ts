import assert from 'node:assert/strict';
import { PG_TYPE, convertPgText, parseArrayLiteral } from '../../../domain/capture/pgTypes';
import { PgTypeError } from '../../../domain/core/errors';

const c = convertPgText;

describe('convertPgText scalars', () => {
  it('bool', () => {
    assert.equal(c(PG_TYPE.BOOL, 't'), true);
    assert.equal(c(PG_TYPE.BOOL, 'f'), false);
    assert.throws(() => c(PG_TYPE.BOOL, 'true'), PgTypeError);
  });

  it('int2 / int4 / oid', () => {
    assert.equal(c(PG_TYPE.INT2, '-32768'), -32768);
    assert.equal(c(PG_TYPE.INT4, '2147483647'), 2147483647);
    assert.equal(c(PG_TYPE.INT4, '0'), 0);
    assert.equal(c(PG_TYPE.OID, '4294967295'), 4294967295);
    assert.throws(() => c(PG_TYPE.INT4, '1.5'), PgTypeError);
    assert.throws(() => c(PG_TYPE.INT4, ''), PgTypeError);
  });

  it('int8: number when safe, exact decimal string beyond 2^53', () => {
    assert.equal(c(PG_TYPE.INT8, '42'), 42);
    assert.equal(c(PG_TYPE.INT8, '9007199254740991'), 9007199254740991);
    assert.equal(c(PG_TYPE.INT8, '-9007199254740991'), -9007199254740991);
    assert.equal(c(PG_TYPE.INT8, '9007199254740992'), '9007199254740992');
    assert.equal(c(PG_TYPE.INT8, '-9007199254740993'), '-9007199254740993');
    assert.equal(c(PG_TYPE.INT8, '9223372036854775807'), '9223372036854775807');
    assert.equal(c(PG_TYPE.INT8, '-9223372036854775808'), '-9223372036854775808');
    assert.throws(() => c(PG_TYPE.INT8, '1e3'), PgTypeError);
  });

  it('float4 / float8: numbers, specials as strings', () => {
    assert.equal(c(PG_TYPE.FLOAT8, '1.5'), 1.5);
    assert.equal(c(PG_TYPE.FLOAT8, '0.1'), 0.1);
    assert.equal(c(PG_TYPE.FLOAT8, '1e+300'), 1e300);
    assert.equal(c(PG_TYPE.FLOAT8, '-2.2250738585072014e-308'), -2.2250738585072014e-308);
    assert.equal(c(PG_TYPE.FLOAT4, '3.4028235e+38'), 3.4028235e38);
    assert.ok(Object.is(c(PG_TYPE.FLOAT8, '-0'), -0));
    assert.equal(c(PG_TYPE.FLOAT8, 'NaN'), 'NaN');
    assert.equal(c(PG_TYPE.FLOAT8, 'Infinity'), 'Infinity');
    assert.equal(c(PG_TYPE.FLOAT4, '-Infinity'), '-Infinity');
    assert.throws(() => c(PG_TYPE.FLOAT8, 'abc'), PgTypeError);
    assert.throws(() => c(PG_TYPE.FLOAT8, ''), PgTypeError);
  });

  it('numeric stays the exact string', () => {
    assert.equal(c(PG_TYPE.NUMERIC, '1.50'), '1.50');
    assert.equal(c(PG_TYPE.NUMERIC, '123456789012345678901234567890'), '123456789012345678901234567890');
    assert.equal(c(PG_TYPE.NUMERIC, '-123.456789012345678901234567890'), '-123.456789012345678901234567890');
    assert.equal(c(PG_TYPE.NUMERIC, '0.000000000000000000000000000001'), '0.000000000000000000000000000001');
    assert.equal(c(PG_TYPE.NUMERIC, 'NaN'), 'NaN');
  });

  it('string types and unknown OIDs pass through', () => {
    assert.equal(c(PG_TYPE.TEXT, 'héllo, "world"'), 'héllo, "world"');
    assert.equal(c(PG_TYPE.VARCHAR, ''), '');
    assert.equal(c(PG_TYPE.BPCHAR, 'ab  '), 'ab  ');
    assert.equal(c(PG_TYPE.NAME, 'pg_class'), 'pg_class');
    assert.equal(
      c(PG_TYPE.UUID, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    assert.equal(c(16500 /* citext */, 'MiXeD'), 'MiXeD');
    assert.equal(c(16501 /* enum */, '{not-an-array}'), '{not-an-array}');
  });

  it('json / jsonb are parsed', () => {
    assert.deepEqual(c(PG_TYPE.JSONB, '{"a": [1, 2.5, null, true], "b": {"c": "d"}}'), {
      a: [1, 2.5, null, true],
      b: { c: 'd' },
    });
    assert.equal(c(PG_TYPE.JSON, '"s"'), 's');
    assert.equal(c(PG_TYPE.JSON, 'null'), null);
    assert.throws(() => c(PG_TYPE.JSONB, '{bad'), PgTypeError);
  });

  it('timestamptz -> UTC ISO keeping the fraction as given', () => {
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2026-01-02 03:04:05.123456+00'), '2026-01-02T03:04:05.123456Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2026-01-02 03:04:05+00'), '2026-01-02T03:04:05Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2026-01-02 03:04:05.5+00'), '2026-01-02T03:04:05.5Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2026-01-02 03:04:05.123456+05:30'), '2026-01-01T21:34:05.123456Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2026-01-01 19:04:05.000001-08'), '2026-01-02T03:04:05.000001Z');
    // crosses a leap day and a year boundary
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2024-02-29 23:30:00-01'), '2024-03-01T00:30:00Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '2027-01-01 01:00:00+02'), '2026-12-31T23:00:00Z');
    // historical zones print second-level offsets
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '1900-01-01 05:21:10+05:21:10'), '1900-01-01T00:00:00Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, 'infinity'), 'infinity');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '-infinity'), '-infinity');
    // BC (astronomical year 0 = 1 BC) and 5+ digit years (ISO expanded form)
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '0001-01-01 00:00:00+00 BC'), '0000-01-01T00:00:00Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '4714-11-24 00:00:00+00 BC'), '-004713-11-24T00:00:00Z');
    assert.equal(c(PG_TYPE.TIMESTAMPTZ, '294276-12-31 23:59:59.999999+00'), '+294276-12-31T23:59:59.999999Z');
    assert.throws(() => c(PG_TYPE.TIMESTAMPTZ, '2026-01-02 03:04:05'), PgTypeError); // missing offset
    assert.throws(() => c(PG_TYPE.TIMESTAMPTZ, 'Fri Jan 02 03:04:05 2026 PST'), PgTypeError); // non-ISO DateStyle
  });

  it('timestamp without time zone', () => {
    assert.equal(c(PG_TYPE.TIMESTAMP, '2026-01-02 03:04:05'), '2026-01-02T03:04:05');
    assert.equal(c(PG_TYPE.TIMESTAMP, '2026-01-02 03:04:05.123456'), '2026-01-02T03:04:05.123456');
    assert.equal(c(PG_TYPE.TIMESTAMP, 'infinity'), 'infinity');
    assert.throws(() => c(PG_TYPE.TIMESTAMP, '2026-01-02 03:04:05+00'), PgTypeError);
  });

  it('date / time / timetz / interval as given', () => {
    assert.equal(c(PG_TYPE.DATE, '2026-01-02'), '2026-01-02');
    assert.equal(c(PG_TYPE.DATE, '0001-01-01 BC'), '0001-01-01 BC');
    assert.equal(c(PG_TYPE.TIME, '10:00:00.5'), '10:00:00.5');
    assert.equal(c(PG_TYPE.TIMETZ, '10:00:00+05:30'), '10:00:00+05:30');
    assert.equal(c(PG_TYPE.INTERVAL, '1 day 02:00:00'), '1 day 02:00:00');
  });

  it('bytea -> base64 (hex and escape formats)', () => {
    assert.equal(c(PG_TYPE.BYTEA, '\\x0102ff'), Buffer.from([1, 2, 0xff]).toString('base64'));
    assert.equal(c(PG_TYPE.BYTEA, '\\x'), '');
    assert.equal(c(PG_TYPE.BYTEA, '\\xDEADBEEF'), '3q2+7w==');
    assert.equal(
      c(PG_TYPE.BYTEA, 'a\\000\\\\b\\377'),
      Buffer.from([0x61, 0, 0x5c, 0x62, 0xff]).toString('base64'),
    );
    assert.throws(() => c(PG_TYPE.BYTEA, '\\x012'), PgTypeError);
    assert.throws(() => c(PG_TYPE.BYTEA, '\\xzz'), PgTypeError);
    assert.throws(() => c(PG_TYPE.BYTEA, 'a\\9'), PgTypeError);
  });
});

describe('convertPgText arrays', () => {
  it('typed element conversion', () => {
    assert.deepEqual(c(PG_TYPE.INT2_ARRAY, '{1,-2}'), [1, -2]);
    assert.deepEqual(c(PG_TYPE.INT4_ARRAY, '{1,2,NULL}'), [1, 2, null]);
    assert.deepEqual(c(PG_TYPE.INT8_ARRAY, '{1,9223372036854775807}'), [1, '9223372036854775807']);
    assert.deepEqual(c(PG_TYPE.NUMERIC_ARRAY, '{1.50,123456789012345678901234567890,NULL}'), [
      '1.50',
      '123456789012345678901234567890',
      null,
    ]);
    assert.deepEqual(c(PG_TYPE.BOOL_ARRAY, '{t,f}'), [true, false]);
    assert.deepEqual(c(PG_TYPE.FLOAT8_ARRAY, '{1.5,Infinity,NaN}'), [1.5, 'Infinity', 'NaN']);
    assert.deepEqual(c(PG_TYPE.JSONB_ARRAY, '{"{\\"a\\": 1}","[1, \\"x,y\\"]",NULL}'), [
      { a: 1 },
      [1, 'x,y'],
      null,
    ]);
    assert.deepEqual(c(PG_TYPE.UUID_ARRAY, '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'), [
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    ]);
    assert.deepEqual(c(PG_TYPE.TIMESTAMPTZ_ARRAY, '{"2026-01-02 03:04:05.123456+05:30",infinity}'), [
      '2026-01-01T21:34:05.123456Z',
      'infinity',
    ]);
    assert.deepEqual(c(PG_TYPE.DATE_ARRAY, '{2026-01-02,NULL}'), ['2026-01-02', null]);
    assert.deepEqual(c(PG_TYPE.BYTEA_ARRAY, '{"\\\\x00ff"}'), ['AP8=']);
    assert.deepEqual(c(PG_TYPE.VARCHAR_ARRAY, '{}'), []);
  });

  it('text[] with quotes, commas, backslashes, NULL vs "NULL", empty and spaces', () => {
    // Actual PG15 output of array['a,b','q"x',null,'NULL','','b\c',' a ','b c']::text[]
    const text = '{"a,b","q\\"x",NULL,"NULL","","b\\\\c"," a ","b c"}';
    assert.deepEqual(c(PG_TYPE.TEXT_ARRAY, text), ['a,b', 'q"x', null, 'NULL', '', 'b\\c', ' a ', 'b c']);
  });

  it('unquoted elements: whitespace trimmed, escapes kept, NULL any case', () => {
    assert.deepEqual(c(PG_TYPE.TEXT_ARRAY, '{ a , b c ,nULl, \\ x\\ ,\\NULL}'), [
      'a',
      'b c',
      null,
      ' x ',
      'NULL',
    ]);
  });

  it('multidimensional arrays', () => {
    assert.deepEqual(c(PG_TYPE.INT4_ARRAY, '{{1,2},{3,4}}'), [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(c(PG_TYPE.TEXT_ARRAY, '{{"a}",NULL},{"{b","c"}}'), [
      ['a}', null],
      ['{b', 'c'],
    ]);
    assert.deepEqual(c(PG_TYPE.INT4_ARRAY, '{{{1}}}'), [[[1]]]);
  });

  it('skips the dimension decoration printed for non-1 lower bounds', () => {
    assert.deepEqual(c(PG_TYPE.INT4_ARRAY, '[2:3]={1,2}'), [1, 2]);
    assert.deepEqual(c(PG_TYPE.INT4_ARRAY, '[0:1][1:1]={{1},{2}}'), [[1], [2]]);
  });

  it('arrays of types without a converter are arrays of strings', () => {
    assert.deepEqual(c(PG_TYPE.INTERVAL_ARRAY, '{"1 day",00:00:01}'), ['1 day', '00:00:01']);
    // unknown array OID identified by its pg_type name (from a pgoutput 'Y' message)
    assert.deepEqual(c(16502, '{happy,"very sad",NULL}', '_mood'), ['happy', 'very sad', null]);
    assert.equal(c(16502, '{happy}', 'mood'), '{happy}');
  });

  it('rejects malformed literals', () => {
    for (const bad of ['', '1,2', '{1,2', '{"a}', '{a"b}', '{a,,b}', '{a}x', '{a}}', '[1:2]{1,2}', '{a\\']) {
      assert.throws(() => parseArrayLiteral(bad), PgTypeError, bad);
    }
    assert.throws(() => c(PG_TYPE.INT4_ARRAY, '{1,x}'), PgTypeError);
  });
});
