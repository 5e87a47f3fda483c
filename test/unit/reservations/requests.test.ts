import assert from 'node:assert/strict';
import {
  extendRequestSchema,
  formatSeconds,
  ListRequestSchema,
  newReservationId,
  OrderIdSchema,
  parseDuration,
  QuantitySchema,
  ReservationIdSchema,
  ReservationStatusSchema,
  ReserveRequestSchema,
  SkuSchema,
  TtlSchema,
  validate,
  WarehouseIdSchema,
} from '../../../domain/reservations/requests';

const message = (schema: Parameters<typeof validate>[0], input: unknown) => {
  const r = validate(schema, input);
  assert.equal(r.ok, false, `${JSON.stringify(input)} should be refused`);
  return r.ok ? '' : r.message;
};

describe('reservation requests', () => {
  it('reads durations: plain seconds or a unit (s, m, h, d)', () => {
    assert.equal(parseDuration('90'), 90);
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('15m'), 900);
    assert.equal(parseDuration(' 2h '), 7200);
    assert.equal(parseDuration('1D'), 86_400);
    for (const bad of ['', 'm', '1.5h', '-5', '5 minutes', '1h30m', '15mm', 'x'])
      assert.equal(parseDuration(bad), undefined, bad);
    assert.deepEqual(
      [formatSeconds(90), formatSeconds(7200), formatSeconds(86_400 + 61), formatSeconds(0)],
      ['1m30s', '2h', '1d1m1s', '0s'],
    );
  });

  it('a TTL is 1 second to 30 days, as text or a number of seconds', () => {
    assert.equal(TtlSchema.parse('15m'), 900);
    assert.equal(TtlSchema.parse(60), 60);
    assert.equal(TtlSchema.parse('30d'), 30 * 86_400);
    assert.equal(message(TtlSchema, '0'), 'at least 1s');
    assert.equal(message(TtlSchema, '31d'), 'at most 30d');
    assert.equal(message(TtlSchema, '721h'), 'at most 30d');
    assert.equal(message(TtlSchema, 'soon'), 'must be a duration like 90, 90s, 15m, 2h or 1d');
    assert.equal(message(TtlSchema, 1.5), 'must be a duration like 90, 90s, 15m, 2h or 1d');
  });

  it('reservation ids: 1 to 128 of letters, digits and . _ : -', () => {
    for (const ok of ['a', 'res-mwt3k2f1-4f9a0c2e7d1b', 'order:42.line_1', 'x'.repeat(128)])
      assert.equal(ReservationIdSchema.parse(ok), ok);
    assert.equal(ReservationIdSchema.parse('  trimmed '), 'trimmed');
    for (const bad of ['', 'a b', 'x'.repeat(129), 'a/b', 'ä', "a'b"])
      assert.equal(
        message(ReservationIdSchema, bad),
        'must be 1 to 128 letters, digits or . _ : - (a reservation id)',
        bad,
      );
  });

  it('SKU, warehouse, quantity and order id: clear limits, no silent coercion', () => {
    assert.equal(SkuSchema.parse(' SKU-1 '), 'SKU-1');
    assert.equal(message(SkuSchema, '  '), 'must not be empty (a SKU)');
    assert.equal(message(SkuSchema, 'x'.repeat(129)), 'at most 128 characters');
    assert.equal(WarehouseIdSchema.parse('7'), 7);
    assert.equal(WarehouseIdSchema.parse(0), 0);
    assert.equal(WarehouseIdSchema.parse('2147483647'), 2_147_483_647);
    assert.equal(message(WarehouseIdSchema, '2147483648'), 'at most 2147483647');
    assert.equal(message(WarehouseIdSchema, '-1'), 'at least 0');
    // '' and '1e3' are not numbers here (z.coerce would read them as 0 and 1000).
    for (const bad of ['', '1e3', '1.5', 'one', 2.5])
      assert.equal(
        message(WarehouseIdSchema, bad),
        'must be a warehouse number (a whole number)',
        String(bad),
      );
    assert.equal(QuantitySchema.parse('1000000'), 1_000_000);
    assert.equal(message(QuantitySchema, '0'), 'at least 1');
    assert.equal(message(QuantitySchema, 1_000_001), 'at most 1000000');
    assert.equal(message(QuantitySchema, 'lots'), 'must be a number of units (a whole number)');
    assert.equal(message(OrderIdSchema, ''), 'must not be empty (an order id)');
    assert.equal(ReservationStatusSchema.parse('held'), 'HELD');
  });

  it('a reserve request, every wrong field named', () => {
    assert.deepEqual(
      ReserveRequestSchema.parse({
        sku: 'SKU-1',
        warehouseId: '3',
        quantity: '2',
        ttlSeconds: '15m',
        orderId: 'o-1',
      }),
      { sku: 'SKU-1', warehouseId: 3, quantity: 2, ttlSeconds: 900, orderId: 'o-1' },
    );
    assert.deepEqual(
      ReserveRequestSchema.parse({
        reservationId: 'r-1',
        sku: 'S',
        warehouseId: 0,
        quantity: 1,
        ttlSeconds: 90,
      }),
      { reservationId: 'r-1', sku: 'S', warehouseId: 0, quantity: 1, ttlSeconds: 90 },
    );
    assert.equal(
      message(ReserveRequestSchema, { sku: '', warehouseId: 'x', quantity: 0, ttlSeconds: '1h' }),
      'sku: must not be empty (a SKU); warehouseId: must be a warehouse number (a whole number); quantity: at least 1',
    );
    assert.equal(
      message(ReserveRequestSchema, { sku: 'S', warehouseId: 1, quantity: 1 }),
      'ttlSeconds: must be a duration like 90, 90s, 15m, 2h or 1d',
    );
  });

  it('an extension: exactly one of --ttl and --until, a future time at most 30 days ahead', () => {
    const now = Date.parse('2026-11-23T10:00:00Z');
    const schema = extendRequestSchema(() => now);
    assert.deepEqual(schema.parse({ reservationId: 'r-1', ttl: '10m' }), {
      reservationId: 'r-1',
      to: { ttlSeconds: 600 },
    });
    // Any zone in, UTC with milliseconds out.
    assert.deepEqual(schema.parse({ reservationId: 'r-1', until: '2026-11-23T12:30:00+02:00' }), {
      reservationId: 'r-1',
      to: { expiresAt: '2026-11-23T10:30:00.000Z' },
    });
    assert.equal(
      message(schema, { reservationId: 'r-1' }),
      'give exactly one of --ttl <duration> and --until <iso time>',
    );
    assert.equal(
      message(schema, { reservationId: 'r-1', ttl: '1m', until: '2026-11-23T11:00:00Z' }),
      'give exactly one of --ttl <duration> and --until <iso time>',
    );
    assert.equal(
      message(schema, { reservationId: 'r-1', until: '2026-11-23T09:59:59Z' }),
      'until: must be in the future',
    );
    assert.equal(
      message(schema, { reservationId: 'r-1', until: '2026-12-24T10:00:00Z' }),
      'until: at most 30 days from now',
    );
    assert.equal(
      message(schema, { reservationId: 'r-1', until: '2026-11-23 11:00' }),
      'until: must be an ISO-8601 time with a zone, e.g. 2026-11-23T10:15:00Z',
    );
    assert.equal(
      message(schema, { reservationId: 'r-1', until: '2026-11-23T11:00:00' }).startsWith(
        'until: must be an ISO-8601 time',
      ),
      true,
    );
    assert.equal(message(schema, { reservationId: 'r-1', ttl: '0' }), 'ttl: at least 1s');
  });

  it('a listing: HELD by default, `all` lifts the status filter, limits checked', () => {
    assert.deepEqual(ListRequestSchema.parse({}), { status: 'HELD', limit: 50 });
    assert.deepEqual(ListRequestSchema.parse({ status: 'All', limit: '200' }), { limit: 200 });
    assert.deepEqual(
      ListRequestSchema.parse({ status: 'expired', sku: 'S', warehouseId: '2', expiringWithinSeconds: '5m' }),
      { status: 'EXPIRED', sku: 'S', warehouseId: 2, expiringWithinSeconds: 300, limit: 50 },
    );
    assert.equal(
      message(ListRequestSchema, { status: 'gone' }),
      'status: must be one of HELD, CONFIRMED, CANCELLED, EXPIRED or all',
    );
    assert.equal(message(ListRequestSchema, { limit: '0' }), 'limit: at least 1');
    assert.equal(message(ListRequestSchema, { limit: 1001 }), 'limit: at most 1000');
  });

  it('generated ids: res-<time base 36>-<12 random hex digits>, valid ids, distinct', () => {
    const now = Date.parse('2026-11-23T10:00:00Z');
    assert.equal(
      newReservationId(now, () => '4f9a0c2e-7d1b-4a5e-9f00-123456789abc'),
      `res-${now.toString(36)}-4f9a0c2e7d1b`,
    );
    const ids = new Set(Array.from({ length: 1000 }, () => newReservationId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.match(id, /^res-[0-9a-z]+-[0-9a-f]{12}$/);
      assert.equal(ReservationIdSchema.safeParse(id).success, true);
    }
  });
});
