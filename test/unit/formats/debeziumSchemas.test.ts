import assert from 'node:assert/strict';
import { tableRegistry, useTables } from '../../../domain/core/tables';
import fc from 'fast-check';
import { decodeChange } from '../../../domain/formats/decodeChange';
import { ctx, decoded, reasonOf } from './helpers';

/**
 * Debezium 2.x PostgreSQL connector records as its JSON converter writes them with
 * `schemas.enable=true` (the default) and with `schemas.enable=false`, under the connector's
 * defaults (decimal.handling.mode=precise, time.precision.mode=adaptive, binary.handling.mode=bytes).
 * Each value must come out as the pgoutput path gives the same PostgreSQL column
 * (domain/capture/pgTypes.ts): numerics as exact decimal strings, dates as YYYY-MM-DD,
 * timestamps as ISO strings (UTC with `Z` for timestamptz, none for timestamp) with PostgreSQL's
 * fraction (trailing zeros dropped), json/jsonb parsed, bytea as base64.
 *
 * The encoded fixtures were computed independently of the decoder (Python:
 * `base64.b64encode(v.to_bytes(n, 'big', signed=True))`, `(date - date(1970,1,1)).days`).
 */

type Field = Record<string, unknown>;
const f = (field: string, type: string, extra: Field = {}): Field => ({
  type,
  optional: true,
  field,
  ...extra,
});
const decimal = (field: string, scale: number, precision: number): Field =>
  f(field, 'bytes', {
    name: 'org.apache.kafka.connect.data.Decimal',
    version: 1,
    parameters: { scale: String(scale), 'connect.decimal.precision': String(precision) },
  });
const named = (field: string, type: string, name: string, version = 1): Field =>
  f(field, type, { name, version });

/** public.orders as Debezium describes it (the Value schema of app.public.orders). */
const valueFields: Field[] = [
  f('order_id', 'int64', { optional: false }),
  f('status', 'string'),
  decimal('total_amount', 2, 12),
  decimal('quantity', 0, 10),
  decimal('big_amount', 2, 30),
  f('discount', 'struct', {
    name: 'io.debezium.data.VariableScaleDecimal',
    version: 1,
    doc: 'Variable scaled decimal',
    fields: [
      { type: 'int32', optional: false, field: 'scale' },
      { type: 'bytes', optional: false, field: 'value' },
    ],
  }),
  named('order_date', 'int32', 'io.debezium.time.Date'),
  named('created_at', 'int64', 'io.debezium.time.MicroTimestamp'),
  named('updated_at', 'string', 'io.debezium.time.ZonedTimestamp'),
  named('legacy_at', 'int64', 'io.debezium.time.Timestamp'),
  named('nano_at', 'int64', 'io.debezium.time.NanoTimestamp'),
  named('pickup_time', 'int64', 'io.debezium.time.MicroTime'),
  named('cutoff_time', 'int32', 'io.debezium.time.Time'),
  named('nano_time', 'int64', 'io.debezium.time.NanoTime'),
  named('connect_at', 'int64', 'org.apache.kafka.connect.data.Timestamp'),
  named('connect_date', 'int32', 'org.apache.kafka.connect.data.Date'),
  named('connect_time', 'int32', 'org.apache.kafka.connect.data.Time'),
  named('payment_details', 'string', 'io.debezium.data.Json'),
  f('receipt', 'bytes'),
  f('tags', 'array', { items: { type: 'string', optional: true } }),
  f('amounts', 'array', {
    items: {
      type: 'bytes',
      optional: true,
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2' },
    },
  }),
];

function envelopeSchema(fields: Field[]): Field {
  const value = { type: 'struct', fields, optional: true, name: 'app.public.orders.Value' };
  return {
    type: 'struct',
    fields: [
      { ...value, field: 'before' },
      { ...value, field: 'after' },
      {
        type: 'struct',
        fields: [
          { type: 'string', optional: false, field: 'version' },
          { type: 'string', optional: false, field: 'connector' },
          { type: 'string', optional: false, field: 'name' },
          { type: 'int64', optional: false, field: 'ts_ms' },
          { type: 'string', optional: false, field: 'db' },
          { type: 'string', optional: false, field: 'schema' },
          { type: 'string', optional: false, field: 'table' },
          { type: 'int64', optional: true, field: 'txId' },
          { type: 'int64', optional: true, field: 'lsn' },
        ],
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        field: 'source',
      },
      { type: 'string', optional: false, field: 'op' },
      { type: 'int64', optional: true, field: 'ts_ms' },
    ],
    optional: false,
    name: 'app.public.orders.Envelope',
    version: 2,
  };
}

const source = {
  version: '2.7.3.Final',
  connector: 'postgresql',
  name: 'app',
  ts_ms: 1767323045123,
  snapshot: 'false',
  db: 'app',
  sequence: '["24023000","24023128"]',
  schema: 'public',
  table: 'orders',
  txId: 771,
  lsn: 24023128,
  xmin: null,
};

/** One row of public.orders as Debezium encodes it. */
const encodedRow = {
  order_id: 42,
  status: 'new',
  total_amount: 'AeI6', // 1234.50
  quantity: 'Kg==', // 42 (scale 0)
  big_amount: 'AKtUqYzrHwrb', // 123456789012345678.99 (unscaled beyond 2^63)
  discount: { scale: 3, value: 'B88=' }, // 1.999
  order_date: -165, // 1969-07-20
  created_at: 1767323045123456, // 2026-01-02T03:04:05.123456
  updated_at: '2026-01-02T08:34:05.12+05:30',
  legacy_at: -500, // 1969-12-31T23:59:59.5
  nano_at: 1767323045120000000,
  pickup_time: 11045123456, // 03:04:05.123456
  cutoff_time: 11045000, // 03:04:05
  nano_time: 11045100000000, // 03:04:05.1
  connect_at: 1767323045000,
  connect_date: 20455, // 2026-01-02
  connect_time: 11045120, // 03:04:05.12
  payment_details: '{"method":"card","last4":"4242","amount":12.5}',
  receipt: 'AAEC/w==',
  tags: ['a', null],
  amounts: ['AeI6', '+w==', null], // 1234.50, -0.05
};

/** The same row as the pgoutput path gives it. */
const pgoutputRow = {
  order_id: 42,
  status: 'new',
  total_amount: '1234.50',
  quantity: '42',
  big_amount: '123456789012345678.99',
  discount: '1.999',
  order_date: '1969-07-20',
  created_at: '2026-01-02T03:04:05.123456',
  updated_at: '2026-01-02T03:04:05.12Z',
  legacy_at: '1969-12-31T23:59:59.5',
  nano_at: '2026-01-02T03:04:05.12',
  pickup_time: '03:04:05.123456',
  cutoff_time: '03:04:05',
  nano_time: '03:04:05.1',
  connect_at: '2026-01-02T03:04:05',
  connect_date: '2026-01-02',
  connect_time: '03:04:05.12',
  payment_details: { method: 'card', last4: '4242', amount: 12.5 },
  receipt: 'AAEC/w==',
  tags: ['a', null],
  amounts: ['1234.50', '-0.05', null],
};

const withSchema = (payload: Record<string, unknown>, fields = valueFields) => ({
  schema: envelopeSchema(fields),
  payload,
});

describe('decodeChange', () => {
  describe('Debezium with schemas (JSON converter, schemas.enable=true)', () => {
    it('decodes every value by its schema into what the pgoutput path gives', () => {
      const e = decoded(
        withSchema({ before: null, after: encodedRow, source, op: 'c', ts_ms: 1 }),
        'debezium',
      );
      assert.deepEqual(e.after, pgoutputRow);
      assert.deepEqual(e.key, { order_id: 42 });
    });

    it('decodes the before image too (update, delete)', () => {
      const before = { ...encodedRow, total_amount: '/h3G' }; // -1234.50
      const u = decoded(withSchema({ before, after: encodedRow, source, op: 'u' }), 'debezium');
      assert.equal(u.before?.total_amount, '-1234.50');
      assert.equal(u.after?.total_amount, '1234.50');
      const d = decoded(withSchema({ before: encodedRow, after: null, source, op: 'd' }), 'debezium');
      assert.deepEqual(d.before, pgoutputRow);
    });

    it('Decimal: negative values, zero, scale 0, values beyond 2^53 and 2^63, exactly', () => {
      const cases: [string, number, string][] = [
        ['+w==', 2, '-0.05'],
        ['AA==', 2, '0.00'],
        ['AA==', 0, '0'],
        ['Kg==', 0, '42'],
        ['/h3G', 0, '-123450'],
        ['AKtUqYzrHwrb', 0, '12345678901234567899'],
        ['/1SrVnMU4PUl', 4, '-1234567890123456.7899'],
        ['BqcPj++vzGRJcg==', 22, '3.1415926535897932384626'],
        ['BqcPj++vzGRJcg==', 24, '0.031415926535897932384626'],
        ['Kg==', 5, '0.00042'],
        ['', 2, '0.00'], // Connect writes zero as an empty byte array in some versions
      ];
      for (const [b64, scale, want] of cases) {
        const fields = [f('order_id', 'int64'), decimal('amount', scale, 38)];
        const e = decoded(
          withSchema({ after: { order_id: 1, amount: b64 }, source, op: 'c' }, fields),
          'debezium',
        );
        assert.equal(e.after?.amount, want, `${b64} scale ${scale}`);
      }
    });

    it('VariableScaleDecimal: scale from the value, negative and scale 0', () => {
      const fields = [f('order_id', 'int64'), valueFields.find((x) => x.field === 'discount')!];
      for (const [value, want] of [
        [{ scale: 0, value: 'B88=' }, '1999'],
        [{ scale: 2, value: '/h3G' }, '-1234.50'],
        [{ scale: 20, value: 'AKtUqYzrHwrb' }, '0.12345678901234567899'],
      ] as const) {
        const e = decoded(
          withSchema({ after: { order_id: 1, discount: value }, source, op: 'c' }, fields),
          'debezium',
        );
        assert.equal(e.after?.discount, want);
      }
    });

    it('dates and timestamps before 1970, and the infinities', () => {
      const fields = [
        f('order_id', 'int64'),
        named('d', 'int32', 'io.debezium.time.Date'),
        named('ts', 'int64', 'io.debezium.time.MicroTimestamp'),
        named('zts', 'string', 'io.debezium.time.ZonedTimestamp'),
      ];
      const row = (d: number, ts: number, zts: string) =>
        decoded(withSchema({ after: { order_id: 1, d, ts, zts }, source, op: 'c' }, fields), 'debezium')
          .after;
      assert.deepEqual(row(-25567, -500000, '1969-12-31T23:59:59.999999Z'), {
        order_id: 1,
        d: '1900-01-01',
        ts: '1969-12-31T23:59:59.5',
        zts: '1969-12-31T23:59:59.999999Z',
      });
      assert.deepEqual(row(0, 0, '1970-01-01T00:00:00Z'), {
        order_id: 1,
        d: '1970-01-01',
        ts: '1970-01-01T00:00:00',
        zts: '1970-01-01T00:00:00Z',
      });
      // PostgreSQL's ±infinity: Debezium writes Long.MAX_VALUE / Long.MIN_VALUE and "infinity".
      const inf = decoded(
        {
          schema: envelopeSchema(fields),
          payload: JSON.parse(
            '{"after":{"order_id":1,"d":0,"ts":9223372036854775807,"zts":"infinity"},"op":"c","source":' +
              JSON.stringify(source) +
              '}',
          ) as unknown,
        },
        'debezium',
      ).after;
      assert.equal(inf?.ts, 'infinity');
      assert.equal(inf?.zts, 'infinity');
    });

    it('nulls stay null; columns the schema does not describe pass through', () => {
      const e = decoded(
        withSchema({
          after: { order_id: 1, total_amount: null, created_at: null, extra: 'x' },
          source,
          op: 'c',
        }),
        'debezium',
      );
      assert.deepEqual(e.after, { order_id: 1, total_amount: null, created_at: null, extra: 'x' });
    });

    it('a value that does not match its schema is poison, naming the column, never the value', () => {
      const bad = (after: Record<string, unknown>) =>
        reasonOf(withSchema({ after: { order_id: 1, ...after }, source, op: 'c' }));
      assert.equal(
        bad({ total_amount: 12.5 }),
        'debezium envelope: after.total_amount: org.apache.kafka.connect.data.Decimal needs base64 bytes, got number',
      );
      assert.equal(
        bad({ total_amount: 'not base64!' }),
        'debezium envelope: after.total_amount: org.apache.kafka.connect.data.Decimal needs base64 bytes (11 characters)',
      );
      assert.equal(
        bad({ payment_details: '{"method":' }),
        'debezium envelope: after.payment_details: io.debezium.data.Json is not valid JSON (10 characters)',
      );
      assert.equal(
        bad({ created_at: 1.5 }),
        'debezium envelope: after.created_at: io.debezium.time.MicroTimestamp needs an integer',
      );
      assert.equal(
        bad({ discount: { scale: 'x', value: 'AA==' } }),
        'debezium envelope: after.discount: io.debezium.data.VariableScaleDecimal needs {scale: integer, value: base64 bytes}',
      );
      assert.equal(
        bad({ updated_at: 'yesterday' }),
        'debezium envelope: after.updated_at: io.debezium.time.ZonedTimestamp is not an ISO-8601 timestamp with a zone (9 characters)',
      );
    });

    it('never throws, whatever the schema and the values', () => {
      const names = [
        'org.apache.kafka.connect.data.Decimal',
        'io.debezium.data.VariableScaleDecimal',
        'io.debezium.time.Date',
        'io.debezium.time.MicroTimestamp',
        'io.debezium.time.NanoTime',
        'io.debezium.time.ZonedTimestamp',
        'io.debezium.data.Json',
        'other',
      ];
      fc.assert(
        fc.property(
          fc.constantFrom(...names),
          fc.constantFrom('bytes', 'int64', 'string', 'struct', 'array'),
          fc.jsonValue(),
          fc.jsonValue(),
          (name, type, parameters, value) => {
            const field = { field: 'v', type, name, parameters, items: { type, name } };
            const r = decodeChange(
              JSON.stringify(withSchema({ after: { order_id: 1, v: value }, source, op: 'c' }, [field])),
              ctx,
            );
            if (!r.ok) assert.ok(r.reason.length > 0);
          },
        ),
      );
    });

    it('a Decimal schema without a scale is poison', () => {
      const fields = [
        f('order_id', 'int64'),
        f('amount', 'bytes', { name: 'org.apache.kafka.connect.data.Decimal' }),
      ];
      assert.equal(
        reasonOf(withSchema({ after: { order_id: 1, amount: 'AA==' }, source, op: 'c' }, fields)),
        'debezium envelope: after.amount: org.apache.kafka.connect.data.Decimal schema has no integer parameters.scale',
      );
    });
  });

  describe('Debezium without schemas (schemas.enable=false)', () => {
    it('without column types in the table file, values pass through as they come', () => {
      const e = decoded({ before: null, after: encodedRow, source, op: 'c', ts_ms: 1 }, 'debezium');
      assert.deepEqual(e.after, encodedRow);
    });

    describe("by the table file's column types (Debezium's default encodings)", () => {
      const shipped = tableRegistry();
      before(() => {
        const orders = shipped.tables.get('orders')!;
        const columnTypes = {
          total_amount: 'numeric(12,2)',
          quantity: 'numeric(10)',
          big_amount: 'decimal(30, 2)',
          discount: 'numeric',
          order_date: 'date',
          created_at: 'timestamp',
          updated_at: 'timestamptz',
          legacy_at: 'timestamp(3)',
          pickup_time: 'time(6)',
          cutoff_time: 'time(0)',
          payment_details: 'jsonb',
        };
        useTables({
          ...shipped,
          tables: new Map([...shipped.tables, ['orders', { ...orders, columnTypes }]]),
        });
      });
      after(() => useTables(shipped));

      it('decodes the typed columns into what the pgoutput path gives; the others pass through', () => {
        const e = decoded({ before: encodedRow, after: encodedRow, source, op: 'u' }, 'debezium');
        const expected = {
          ...encodedRow,
          total_amount: '1234.50',
          quantity: '42',
          big_amount: '123456789012345678.99',
          discount: '1.999',
          order_date: '1969-07-20',
          created_at: '2026-01-02T03:04:05.123456',
          updated_at: '2026-01-02T03:04:05.12Z',
          legacy_at: '1969-12-31T23:59:59.5',
          pickup_time: '03:04:05.123456',
          cutoff_time: '03:04:05',
          payment_details: { method: 'card', last4: '4242', amount: 12.5 },
        };
        assert.deepEqual(e.after, expected);
        assert.deepEqual(e.before, expected);
      });

      it('a value its column type cannot take is poison, naming the column', () => {
        assert.equal(
          reasonOf({ after: { ...encodedRow, total_amount: '1234.50' }, source, op: 'c' }),
          'debezium envelope: after.total_amount: org.apache.kafka.connect.data.Decimal needs base64 bytes (7 characters)',
        );
      });

      it('a record with a schema is decoded by its schema, not by the column types', () => {
        const e = decoded(withSchema({ after: encodedRow, source, op: 'c' }), 'debezium');
        assert.deepEqual(e.after, pgoutputRow);
      });
    });

    it('with decimal.handling.mode=string and a JSON column, values arrive as pgoutput gives them', () => {
      const row = { order_id: 42, total_amount: '1234.50', order_date: -165 };
      const e = decoded({ after: row, source, op: 'c' }, 'debezium');
      assert.deepEqual(e.after, row);
    });
  });
});
