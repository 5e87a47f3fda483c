import assert from 'node:assert/strict';
import { decodeChange } from '../../../domain/formats/decodeChange';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import { PublishedEventDetailSchema } from '../../../domain/publishing/eventSchema';

const KEY = { secret: 'doc-shapes-secret', keyId: 'k1' };
const POS = {
  shardId: 'shardId-000000000000',
  sequenceNumber: '49607933946721000000000000000000000000000000000000000001',
};

/** A record as the documents write it → the Detail published on EventBridge. */
function published(record: unknown): Record<string, unknown> {
  const decoded = decodeChange(JSON.stringify(record), { sequenceNumber: POS.sequenceNumber });
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
  const event = redactEvent(transformChange(decoded.event, POS, POS.sequenceNumber), KEY);
  const detail = JSON.parse(toEventEntry(event, 'bus', '2024-01-15T10:30:01.234Z').Detail) as Record<
    string,
    unknown
  >;
  PublishedEventDetailSchema.parse(detail);
  return detail;
}

describe("the design documents' own record shapes", () => {
  it("003's event lifecycle: captured UPDATE → distributed, e-mail masked as o**@example.com, SSN removed", () => {
    const d = published({
      timestamp: '2024-01-15T10:30:00.000Z',
      table: 'users',
      operation: 'UPDATE',
      beforeImage: { id: 123, email: 'old@example.com', ssn: '123-45-6789' },
      afterImage: { id: 123, email: 'new@example.com', ssn: '123-45-6789' },
    });
    assert.equal(d.eventType, 'user.updated');
    assert.equal(d.entityId, '123');
    assert.equal(d.entityType, 'user');
    assert.equal(d.operation, 'UPDATE');
    assert.deepEqual(d.changes, { email: { old: 'o**@example.com', new: 'n**@example.com' } });
    assert.ok(!JSON.stringify(d).includes('123-45-6789'));
    assert.equal((d.metadata as Record<string, unknown>).redactionPolicy, 'pii-policy-v2@k1');
  });

  it("002's sample test event: eventType/tableName/before/after, status change published, e-mail masked", () => {
    const d = published({
      eventType: 'UPDATE',
      tableName: 'users',
      timestamp: '2024-01-15T10:30:00Z',
      before: { id: 'usr_123', email: 'user@example.com', status: 'active' },
      after: { id: 'usr_123', email: 'user@example.com', status: 'inactive' },
    });
    assert.equal(d.eventType, 'user.updated');
    assert.equal(d.entityId, 'usr_123');
    assert.deepEqual(d.changes, { status: { old: 'active', new: 'inactive' } });
  });

  it("000's compact inventory format is an inventory.updated of (sku, warehouse)", () => {
    const d = published({ op: 'UPDATE', sku: 'A1', wh: 101, qty: 97, ts: '2024-01-15T10:30:00Z' });
    assert.equal(d.eventType, 'inventory.updated');
    assert.equal(d.entityId, 'A1#101');
  });

  it("an order as 003's rules see it: payment_details removed, shipping_address hashed, amount exact", () => {
    const d = published({
      timestamp: '2024-01-15T10:30:00Z',
      table: 'orders',
      operation: 'INSERT',
      beforeImage: null,
      afterImage: {
        order_id: 'o-1',
        total_amount: '10.005',
        order_date: '2024-01-15 10:29:59.123456+00',
        payment_details: { card: '4111111111111111' },
        shipping_address: '1 Main St',
      },
    });
    assert.equal(d.eventType, 'order.created');
    const changes = d.changes as Record<string, { new: unknown }>;
    assert.equal(changes.payment_details, undefined);
    assert.match(String(changes.shipping_address?.new), /^hash:[0-9a-f]{32}$/);
    assert.equal(changes.total_amount?.new, '10.01');
    assert.equal(changes.order_date?.new, '2024-01-15T10:29:59.123456Z');
    assert.ok(!JSON.stringify(d).includes('4111'));
  });
});
