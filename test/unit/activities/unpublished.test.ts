import assert from 'node:assert/strict';
import { createActivities } from '../../../activities';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { Row } from '../../../domain/core/json';
import type { StreamRecord } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { fakes, type Fakes } from './fakes';

const config = loadConfig({});
const { entities } = config.tables;

/** A canonical change record of `table` at LSN 0/<lsn>, as capture writes it to the stream. */
function record(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  lsn: number,
  before: Row | null,
  after: Row | null,
): StreamRecord {
  const change: ChangeEvent = {
    source: {
      db: 'app',
      schema: 'public',
      table,
      lsn: `0/${lsn.toString(16).toUpperCase()}`,
      commitTs: new Date(1_790_000_000_000 + lsn).toISOString(),
      index: 0,
    },
    op,
    key,
    before,
    after,
  };
  return {
    sequenceNumber: String(lsn),
    partitionKey: `${table}:${JSON.stringify(key)}`,
    data: JSON.stringify(change),
    encoding: 'utf8',
    arrivalMs: 0,
  };
}

/** The shard reader's steps for one batch: transform → redact → apply → publish. */
async function run(f: Fakes, records: StreamRecord[]) {
  const a = createActivities(config, f.io);
  const { events, deadLetters } = await a.transformRecords({ shardId: 'shardId-000000000000', records });
  assert.deepEqual(deadLetters, []);
  const redacted = await a.redactEvents(events);
  return {
    events: redacted,
    applied: await a.applyEvents(redacted),
    published: await a.publishEvents(redacted),
  };
}

describe('operations a table does not publish (fake DynamoDB and EventBridge)', () => {
  const order = {
    order_id: 'o-1',
    user_id: 'u-1',
    status: 'new',
    total_amount: '12.5',
    payment_details: { card: '4111111111111111' },
    shipping_address: '1 Main St',
  };

  it('an orders DELETE (orders publish INSERT and UPDATE) is applied to DynamoDB but not sent to EventBridge', async () => {
    const f = fakes();
    const created = await run(f, [record('orders', 'c', { order_id: 'o-1' }, 0x100, null, order)]);
    assert.deepEqual(created.applied, { applied: 1, stale: 0, coalesced: 0, rejected: [], outdated: [] });
    assert.deepEqual(created.published, { published: 1, alerts: 0, rejected: [] });
    assert.equal(f.doc.item(entities, 'orders#o-1')?.deleted, false);

    const deleted = await run(f, [record('orders', 'd', { order_id: 'o-1' }, 0x200, order, null)]);
    const [del] = deleted.events;
    assert.equal(del?.unpublished, true);
    assert.equal(del?.eventType, 'order.deleted');
    assert.equal(del?.redactionPolicy, 'pii-policy-v2@' + config.redactionKeyId, 'redacted all the same');
    // The current-state store follows the delete…
    assert.deepEqual(deleted.applied, { applied: 1, stale: 0, coalesced: 0, rejected: [], outdated: [] });
    const item = f.doc.item(entities, 'orders#o-1');
    assert.equal(item?.deleted, true);
    assert.equal(item?.version, del?.version);
    // …and the bus sees only the create.
    assert.deepEqual(deleted.published, { published: 0, alerts: 0, rejected: [] });
    assert.deepEqual(
      f.events.accepted.map((e) => e.DetailType),
      ['order.created'],
    );
    assert.equal(f.events.requests.length, 1, 'no PutEvents request for the delete');
  });

  it('in a mixed batch only the published operations reach EventBridge, in order', async () => {
    const f = fakes();
    const { applied, published } = await run(f, [
      record('orders', 'c', { order_id: 'o-2' }, 0x100, null, { ...order, order_id: 'o-2' }),
      record('orders', 'd', { order_id: 'o-1' }, 0x101, order, null),
      record('transactions', 'c', { txn_id: 't-1' }, 0x102, null, { txn_id: 't-1', amount: '9.999' }),
      record(
        'transactions',
        'u',
        { txn_id: 't-1' },
        0x103,
        { txn_id: 't-1', amount: '9.999' },
        { txn_id: 't-1', amount: '10.004' },
      ),
      record('audit_logs', 'c', { log_id: 1 }, 0x104, null, { log_id: 1, action: 'login' }),
    ]);
    assert.equal(applied.applied + applied.coalesced, 5);
    assert.deepEqual(published, { published: 3, alerts: 0, rejected: [] });
    assert.deepEqual(
      f.events.accepted.map((e) => e.DetailType),
      ['order.created', 'transaction.created', 'audit_log.created'],
    );
    // The transaction's UPDATE still keeps its DynamoDB item current.
    assert.equal((f.doc.item(entities, 'transactions#t-1')?.row as Row | undefined)?.amount, '10.00');
  });
});
