import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { eventTypeOf, parseTableFile, tableConfig } from '../../../domain/core/tables';
import { transformChange } from '../../../domain/processing/transform';
import { holdChanges } from '../../../domain/reservations/hold';
import { redactEvent } from '../../../domain/processing/redact';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import { validatePublishedDetail } from '../../../domain/publishing/eventSchema';

const POS = { shardId: 'shardId-000000000000', sequenceNumber: '1' };

function reservationChange(
  op: ChangeEvent['op'],
  before: Row | null,
  after: Row | null,
  lsn = '0/10',
): PipelineEvent {
  const row = (after ?? before)!;
  return transformChange(
    {
      source: {
        db: 'app',
        schema: 'public',
        table: 'reservations',
        lsn,
        commitTs: '2026-11-23T10:00:00.000Z',
        index: 0,
      },
      op,
      key: { reservation_id: row.reservation_id as string },
      before,
      after,
    },
    POS,
  );
}

const held: Row = {
  reservation_id: 'r-1',
  sku: 'SKU-1',
  warehouse_id: 2,
  order_id: 'o-1',
  quantity: 3,
  status: 'HELD',
  expires_at: '2026-11-23 10:15:00.123456+00',
};

describe('reservation changes: event types of a hold that ends', () => {
  it('publishes HELD → EXPIRED as reservation.expired, and the others by their status', () => {
    for (const [status, type] of [
      ['EXPIRED', 'reservation.expired'],
      ['CONFIRMED', 'reservation.confirmed'],
      ['CANCELLED', 'reservation.cancelled'],
    ] as const) {
      const e = reservationChange('u', held, { ...held, status });
      assert.equal(e.eventType, type);
    }
    assert.equal(reservationChange('c', null, held).eventType, 'reservation.created');
    // The deadline moved, status unchanged: an ordinary update.
    assert.equal(
      reservationChange('u', held, { ...held, expires_at: '2026-11-23 10:30:00+00' }).eventType,
      'reservation.updated',
    );
    // An expired row touched again is not a second expiry.
    const expired = { ...held, status: 'EXPIRED' };
    assert.equal(
      reservationChange('u', expired, { ...expired, quantity: 4 }).eventType,
      'reservation.updated',
    );
  });

  it('a status event type passes the event schema check', () => {
    const cfg = tableConfig('reservations');
    assert.equal(eventTypeOf(cfg, 'u', { status: 'HELD' }, { status: 'EXPIRED' }), 'reservation.expired');
    assert.equal(eventTypeOf(cfg, 'd', { status: 'HELD' }, null), 'reservation.deleted');
    const expired = redactEvent(reservationChange('u', held, { ...held, status: 'EXPIRED' }), {
      secret: 'test-secret-123',
      keyId: 'k1',
    });
    const entry = toEventEntry(expired, 'bus', '2026-11-23T10:15:01.000Z');
    assert.equal(entry.DetailType, 'reservation.expired');
    assert.deepEqual(validatePublishedDetail(JSON.parse(entry.Detail!)), { ok: true });
  });

  it('refuses a status event type that is not entity.action', () => {
    assert.throws(
      () =>
        parseTableFile(
          {
            version: 1,
            tables: {
              r: {
                entity: 'r',
                key: ['id'],
                operations: ['UPDATE'],
                statusEvents: { column: 'status', types: { EXPIRED: 'Expired' } },
              },
            },
          },
          'test.yaml',
        ),
      /table r, field statusEvents\.types\.EXPIRED: must look like "entity\.action"/,
    );
  });
});

describe('reservation changes: what an expiry workflow is told (holdChanges)', () => {
  it('takes the hold fields only, with the deadline in milliseconds', () => {
    const [c] = holdChanges([reservationChange('c', null, held)]);
    assert.deepEqual(c, {
      reservationId: 'r-1',
      status: 'HELD',
      sku: 'SKU-1',
      warehouseId: 2,
      quantity: 3,
      expiresAt: '2026-11-23T10:15:00.123Z',
      version: c!.version,
    });
    assert.ok(!('orderId' in c!) && !JSON.stringify(c).includes('o-1'), 'no order id');
  });

  it('keeps the newest change per reservation of a batch', () => {
    const changes = holdChanges([
      reservationChange('c', null, held, '0/10'),
      reservationChange('u', held, { ...held, status: 'CONFIRMED' }, '0/30'),
      reservationChange('u', held, { ...held, expires_at: '2026-11-23 11:00:00+00' }, '0/20'),
      reservationChange('c', null, { ...held, reservation_id: 'r-2' }, '0/15'),
    ]);
    assert.deepEqual(
      changes.map((c) => [c.reservationId, c.status]),
      [
        ['r-1', 'CONFIRMED'],
        ['r-2', 'HELD'],
      ],
    );
  });

  it('tells a deleted hold as DELETED, and leaves out other tables and unusable rows', () => {
    const [gone] = holdChanges([reservationChange('d', held, null)]);
    assert.equal(gone?.status, 'DELETED');
    // The before image's status: a row deleted while HELD still had its units reserved.
    assert.equal(gone?.statusBeforeDelete, 'HELD');
    assert.deepEqual([gone?.sku, gone?.quantity], [held.sku, held.quantity]);
    const [cancelledThenGone] = holdChanges([reservationChange('d', { ...held, status: 'CANCELLED' }, null)]);
    assert.equal(cancelledThenGone?.statusBeforeDelete, 'CANCELLED');
    // REPLICA IDENTITY DEFAULT: the key only, no status.
    const [keyOnly] = holdChanges([reservationChange('d', { reservation_id: held.reservation_id }, null)]);
    assert.equal(keyOnly?.status, 'DELETED');
    assert.equal(keyOnly?.statusBeforeDelete, undefined);
    const inventory = { ...reservationChange('c', null, held), table: 'inventory' } as PipelineEvent;
    const noStatus = reservationChange('c', null, { ...held, status: 'ON_HOLD' });
    assert.deepEqual(holdChanges([inventory, noStatus]), []);
  });
});
