import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bucketStart,
  changeRecord,
  changeRecords,
  decimalText,
  lowStockAlert,
  UNKNOWN_CURRENCY,
} from '../../../domain/analytics/changeRecords';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';
import { inventoryAlerts } from '../../../domain/publishing/alerts';

const COMMIT = '2024-01-15T10:07:30.250Z';
const KEY = { secret: 'secret-for-tests', keyId: 'test' };
let lsn = 0x1000;

/** A change made by the real transform and redact steps, as the sink receives it. */
function change(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  before: Row | null,
  after: Row | null,
  opts: { commitTs?: string; sequenceNumber?: string } = {},
): PipelineEvent {
  lsn += 0x40;
  return redactEvent(
    transformChange(
      {
        source: {
          db: 'inventory',
          schema: 'public',
          table,
          lsn: `0/${lsn.toString(16).toUpperCase()}`,
          commitTs: opts.commitTs ?? COMMIT,
          index: 0,
        },
        op,
        key,
        before: before && { ...key, ...before },
        after: after && { ...key, ...after },
      },
      { shardId: 'shardId-000000000000', sequenceNumber: opts.sequenceNumber ?? String(lsn) },
    ),
    KEY,
  );
}

const INV = { sku: 'SKU-1', warehouse_id: 7 };
const stock = (on_hand: number, reserved = 0, low_stock_threshold: number | null = null): Row => ({
  on_hand,
  reserved,
  low_stock_threshold,
});

describe('analytics change records: the change table row', () => {
  it('keeps the event’s identity, version, operation, type, commit time and redacted values', () => {
    const e = change('inventory', 'u', INV, stock(20), stock(15, 2));
    const r = changeRecord(e);
    assert.equal(r.event_id, e.eventId);
    assert.equal(r.version, e.version);
    assert.equal(r.table_name, 'inventory');
    assert.equal(r.entity_id, 'SKU-1#7');
    assert.equal(r.operation, 'UPDATE');
    assert.equal(r.event_type, 'inventory.updated');
    assert.equal(r.commit_ts, COMMIT);
    assert.deepEqual(r.changes, { on_hand: { old: 20, new: 15 }, reserved: { old: 0, new: 2 } });
    assert.deepEqual(r.after_image, { ...INV, ...stock(15, 2) });
    assert.deepEqual([r.sku, r.warehouse_id], ['SKU-1', '7']);
  });

  it('stores a sensitive table’s entity by its keyed reference, and only redacted values', () => {
    const user = { id: 'u-1' };
    const e = change('users', 'c', user, null, {
      email: 'jane.doe@example.com',
      phone: '+1-202-555-0147',
      full_name: 'Jane Doe',
      ssn: '078-05-1120',
      password_hash: '$2b$12$secret',
      status: 'active',
    });
    const r = changeRecord(e);
    assert.match(r.entity_id, /^hash:[0-9a-f]{16}$/);
    assert.equal(r.entity_id, e.entityRef);
    const text = JSON.stringify(r);
    for (const secret of ['jane.doe', '078-05-1120', '202-555', 'Jane Doe', '$2b$12$secret'])
      assert.ok(!text.includes(secret), `the record must not hold ${secret}`);
    assert.deepEqual(
      [r.sku, r.on_hand_delta, r.reservation_event, r.order_currency],
      [null, null, null, null],
    );
  });

  it('buckets by commit time: 5-minute floor and hour, in UTC', () => {
    const r = changeRecord(change('inventory', 'c', INV, null, stock(1)));
    assert.equal(r.bucket_5m, '2024-01-15T10:05:00.000Z');
    assert.equal(r.bucket_1h, '2024-01-15T10:00:00.000Z');
    assert.equal(bucketStart('2024-01-15T10:04:59.999999Z', 5), '2024-01-15T10:00:00.000Z');
    assert.equal(bucketStart('2024-01-15T12:30:00+02:00', 60), '2024-01-15T10:00:00.000Z');
    assert.equal(bucketStart('1969-12-31T23:59:59.000Z', 5), '1969-12-31T23:55:00.000Z');
  });
});

describe('analytics change records: stock movements', () => {
  it('an insert adds its quantities, an update moves by the difference, a delete removes them', () => {
    const moves = [
      change('inventory', 'c', INV, null, stock(100, 5)),
      change('inventory', 'u', INV, stock(100, 5), stock(80, 10)),
      change('inventory', 'u', INV, stock(80, 10), { ...stock(80, 10), low_stock_threshold: 3 }),
      change('inventory', 'd', INV, stock(80, 10), null),
    ].map(changeRecord);
    assert.deepEqual(
      moves.map((r) => [r.on_hand_delta, r.reserved_delta]),
      [
        [100, 5],
        [-20, 5],
        [0, 0], // a threshold change is a change of the row, moving nothing
        [-80, -10],
      ],
    );
  });

  it('a snapshot row moves nothing; an update without a before image or with a non-number moves 0', () => {
    assert.equal(changeRecord(change('inventory', 'r', INV, null, stock(100))).on_hand_delta, null);
    const blind = changeRecord(change('inventory', 'u', INV, null, stock(40)));
    assert.deepEqual([blind.on_hand_delta, blind.reserved_delta], [0, 0]);
    const odd = changeRecord(change('inventory', 'u', INV, stock(10), { ...stock(10), on_hand: 'n/a' }));
    assert.equal(odd.on_hand_delta, 0);
    assert.equal(
      changeRecord(change('products', 'c', { product_id: 'p' }, null, { name: 'x', price: 1 })).on_hand_delta,
      null,
    );
  });

  it('the movements of a row add up to its stock, whatever its history (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), onHand: fc.nat(500), reserved: fc.nat(50) }),
      fc.record({ kind: fc.constant('delete' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => {
        let row: Row | null = null;
        let onHand = 0;
        let reserved = 0;
        for (const o of ops) {
          let e: PipelineEvent;
          if (o.kind === 'delete') {
            if (!row) continue;
            e = change('inventory', 'd', INV, row, null);
            row = null;
          } else {
            const next = stock(o.onHand, o.reserved);
            e = change('inventory', row ? 'u' : 'c', INV, row, next);
            row = next;
          }
          const r = changeRecord(e);
          onHand += r.on_hand_delta!;
          reserved += r.reserved_delta!;
        }
        assert.equal(onHand, row ? Number(row.on_hand) : 0);
        assert.equal(reserved, row ? Number(row.reserved) : 0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('analytics change records: reservations', () => {
  const key = { reservation_id: 'res-1' };
  const hold = (status: string, extra: Row = {}): Row => ({
    sku: 'SKU-9',
    warehouse_id: 3,
    quantity: 2,
    status,
    expires_at: '2024-01-15T10:20:00.000Z',
    ...extra,
  });

  it('a HELD insert is taken; a status change to EXPIRED, CONFIRMED or CANCELLED counts as that', () => {
    const records = [
      change('reservations', 'c', key, null, hold('HELD')),
      change('reservations', 'u', key, hold('HELD'), hold('EXPIRED')),
      change('reservations', 'u', key, hold('HELD'), hold('CONFIRMED')),
      change('reservations', 'u', key, hold('HELD'), hold('CANCELLED')),
    ].map(changeRecord);
    assert.deepEqual(
      records.map((r) => r.reservation_event),
      ['taken', 'expired', 'confirmed', 'cancelled'],
    );
    assert.ok(records.every((r) => r.sku === 'SKU-9' && r.warehouse_id === '3'));
    assert.equal(records[1]!.event_type, 'reservation.expired');
  });

  it('an extension, a change of another status, a delete or a snapshot count as nothing', () => {
    const none = [
      change(
        'reservations',
        'u',
        key,
        hold('HELD'),
        hold('HELD', { expires_at: '2024-01-15T11:00:00.000Z' }),
      ),
      change('reservations', 'u', key, hold('EXPIRED'), hold('EXPIRED', { quantity: 3 })),
      change('reservations', 'c', key, null, hold('CONFIRMED')),
      change('reservations', 'd', key, hold('HELD'), null),
      change('reservations', 'r', key, null, hold('HELD')),
    ].map(changeRecord);
    assert.deepEqual(
      none.map((r) => r.reservation_event),
      [null, null, null, null, null],
    );
    assert.equal(none[3]!.sku, 'SKU-9', 'a deleted hold keeps its place (from the before image)');
  });
});

describe('analytics change records: orders', () => {
  it('a new order counts with its currency and its exact DECIMAL amount', () => {
    const r = changeRecord(
      change('orders', 'c', { order_id: 'o-1' }, null, {
        status: 'new',
        total_amount: '12.345',
        currency: 'EUR',
        payment_details: { card: '4111111111111111' },
        shipping_address: '1 Main St',
      }),
    );
    assert.deepEqual([r.order_currency, r.order_amount], ['EUR', '12.35']); // half away from zero
    assert.equal(r.event_type, 'order.created');
    assert.match(r.entity_id, /^hash:/, 'orders have redaction rules: the key is a reference');
    assert.ok(!JSON.stringify(r).includes('4111111111111111') && !JSON.stringify(r).includes('1 Main St'));
  });

  it('an update is not a new order; a missing currency or amount is kept apart', () => {
    const key = { order_id: 'o-2' };
    const updated = changeRecord(
      change('orders', 'u', key, { status: 'new', total_amount: '1' }, { status: 'paid', total_amount: '1' }),
    );
    assert.equal(updated.order_currency, null);
    const bare = changeRecord(change('orders', 'c', key, null, { status: 'new', total_amount: null }));
    assert.deepEqual([bare.order_currency, bare.order_amount], [UNKNOWN_CURRENCY, null]);
  });

  it('decimalText takes exact decimal strings and finite numbers only', () => {
    assert.equal(decimalText('1.005'), '1.005');
    assert.equal(decimalText(' -3 '), '-3');
    assert.equal(decimalText('1e3'), '1e3');
    assert.equal(decimalText(12.5), '12.5');
    for (const bad of ['', 'abc', '1,5', 'NaN', 'Infinity', null, true, { v: 1 }])
      assert.equal(decimalText(bad), null, JSON.stringify(bad));
  });
});

describe('analytics change records: low-stock alerts', () => {
  it('counts a change that crosses into low stock, by the published alert’s rule', () => {
    const cases: [PipelineEvent, boolean][] = [
      [change('inventory', 'c', INV, null, stock(5)), true], // inserted low (default threshold 10)
      [change('inventory', 'u', INV, stock(20), stock(9)), true], // crossed
      [change('inventory', 'u', INV, stock(9), stock(3)), false], // stays low
      [change('inventory', 'u', INV, stock(3), stock(30)), false], // rises
      [change('inventory', 'u', INV, stock(30, 0, 5), stock(30, 26, 5)), true], // own threshold
      [change('inventory', 'r', INV, null, stock(1)), false], // a snapshot tells no transition
      [change('inventory', 'd', INV, stock(1), null), false],
    ];
    for (const [e, expected] of cases) {
      assert.equal(changeRecord(e).low_stock_alert, expected, `${e.op} ${JSON.stringify(e.changes)}`);
      assert.equal(
        lowStockAlert(e),
        inventoryAlerts(e).some((a) => a.kind === 'LOW_STOCK'),
      );
    }
  });
});

describe('analytics change records: a batch', () => {
  it('counts an event id seen earlier in the batch as a duplicate', () => {
    const a = change('inventory', 'c', INV, null, stock(1));
    const b = change('inventory', 'u', INV, stock(1), stock(2));
    const batch = changeRecords([a, b, a, { ...b }]);
    assert.deepEqual(
      batch.records.map((r) => r.event_id),
      [a.eventId, b.eventId],
    );
    assert.deepEqual(batch.accepted, [a, b]);
    assert.equal(batch.duplicates.length, 2);
    assert.deepEqual(batch.rejected, []);
  });

  it('rejects what PostgreSQL cannot store (NUL characters, years past 9999), naming no value', () => {
    const nul = change('products', 'c', { product_id: 'p-1' }, null, { name: 'bad\u0000name', price: 1 });
    const future = change('inventory', 'c', INV, null, stock(1), { commitTs: '+010000-01-01T00:00:00.000Z' });
    const ok = change('inventory', 'c', { ...INV, warehouse_id: 8 }, null, stock(1));
    const batch = changeRecords([nul, future, ok]);
    assert.deepEqual(
      batch.records.map((r) => r.event_id),
      [ok.eventId],
    );
    assert.deepEqual(
      batch.rejected.map((r) => [r.sequenceNumber, r.category]),
      [
        [nul.position.sequenceNumber, 'poison'],
        [future.position.sequenceNumber, 'poison'],
      ],
    );
    assert.match(batch.rejected[0]!.reason, /NUL character \(at changes\.name\)/);
    assert.ok(!batch.rejected[0]!.reason.includes('bad'), 'the reason names the column, not the value');
    assert.match(batch.rejected[1]!.reason, /outside years 0001-9999/);
  });
});
