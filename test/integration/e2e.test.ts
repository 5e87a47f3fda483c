import assert from 'node:assert/strict';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { awsClients } from '../../infra/aws';
import { eventRouting, queueUrl } from '../../infra/provisioning';
import { validatePublishedDetail } from '../../domain/publishing/eventSchema';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * One change of each kind travels through every real component: PostgreSQL (pgoutput) → capture
 * activity → Kinesis → shard-reader workflow and its activities → DynamoDB and EventBridge → SQS.
 */
describe('end to end through the local stack', function () {
  this.timeout(180_000);
  let p: TestPipeline;
  const sku = `e2e-${Date.now().toString(36)}`;
  const SKU = sku; // keys are identity: never transformed

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline();
  });
  after(async () => {
    await p?.stop();
  });

  const entity = async (table: string, id: string) =>
    (
      await awsClients().doc.send(
        new GetCommand({
          TableName: p.config.tables.entities,
          Key: { pk: `${table}#${id}` },
          ConsistentRead: true,
        }),
      )
    ).Item;
  const view = async (id: string) =>
    (
      await awsClients().doc.send(
        new GetCommand({ TableName: p.config.tables.inventory, Key: { pk: id }, ConsistentRead: true }),
      )
    ).Item;

  async function receiveUntil(
    queue: string,
    match: (body: { detail: Record<string, unknown>; 'detail-type': string }) => boolean,
  ) {
    const url = await queueUrl(queue);
    const seen: string[] = [];
    return waitFor(
      `an event on ${queue}`,
      async () => {
        const out = await awsClients().sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        for (const m of out.Messages ?? []) {
          await awsClients().sqs.send(
            new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }),
          );
          const body = JSON.parse(m.Body ?? '{}');
          seen.push(body['detail-type']);
          if (match(body)) return { raw: m.Body ?? '', body };
        }
        return undefined;
      },
      { timeoutMs: 30_000, lastSeen: () => seen.join(', ') || 'nothing' },
    );
  }

  it('lists one running shard-reader workflow per shard', async () => {
    const query = `WorkflowType = 'shardReaderWorkflow' AND CdcStream = '${p.config.stream}' AND ExecutionStatus = 'Running'`;
    await waitFor(`${p.config.shardCount} running shard readers`, async () => {
      const n = (await p.client.workflow.count(query)).count;
      return n === p.config.shardCount ? n : undefined;
    });
  });

  it('applies insert, update and delete of inventory rows to DynamoDB', async () => {
    await p.pg.query(
      'INSERT INTO inventory (sku, warehouse_id, on_hand, reserved) VALUES ($1, 1, 100, 5), ($1, 2, 7, 0)',
      [sku],
    );
    await p.pg.query('UPDATE inventory SET on_hand = 80, reserved = 10 WHERE sku = $1 AND warehouse_id = 1', [
      sku,
    ]);
    await p.pg.query('DELETE FROM inventory WHERE sku = $1 AND warehouse_id = 2', [sku]);

    const updated = await waitFor('the update of warehouse 1 in cdc_entities', async () => {
      const item = await entity('inventory', `${SKU}#1`);
      return item?.row?.on_hand === 80 ? item : undefined;
    });
    assert.equal(updated.deleted, false);
    assert.deepEqual(
      { ...updated.row, updated_at: undefined },
      {
        sku: SKU,
        warehouse_id: 1,
        on_hand: 80,
        reserved: 10,
        low_stock_threshold: null, // the column's value; the effective default (10) is in inventory_realtime
        updated_at: undefined,
      },
    );
    const deleted = await waitFor('the tombstone of warehouse 2', async () => {
      const item = await entity('inventory', `${SKU}#2`);
      return item?.deleted === true ? item : undefined;
    });
    assert.equal(deleted.row, undefined, 'a tombstone keeps no row data');
    assert.ok(Number(deleted.ttl) > Date.now() / 1000, 'a tombstone expires by TTL');

    const stock = await view(`${SKU}#1`);
    assert.ok(stock, 'inventory_realtime has the (sku, warehouse) item');
    assert.deepEqual([stock.onHand, stock.reserved, stock.available], [80, 10, 70]);
    assert.equal((await view(`${SKU}#2`))?.deleted, true);
  });

  it('publishes the inventory change to the rule’s SQS target', async () => {
    const { queues } = eventRouting(p.config.eventBus);
    const { body } = await receiveUntil(
      queues.inventory,
      (b) => b['detail-type'] === 'inventory.updated' && b.detail.entityId === `${SKU}#1`,
    );
    assert.equal((body as unknown as { source: string }).source, 'cdc-pipeline.inventory');
    const changes = body.detail.changes as Record<string, { old: unknown; new: unknown }>;
    assert.deepEqual(changes.on_hand, { old: 100, new: 80 });
    assert.deepEqual(changes.reserved, { old: 5, new: 10 });
    assert.match(String(body.detail.eventId), /^evt_[0-9]+_[a-z0-9]+$/);
    assert.deepEqual(
      validatePublishedDetail(body.detail),
      { ok: true },
      'the delivered event matches the event schema',
    );
  });

  it('publishes user events redacted', async () => {
    const userId = `u-${sku}`;
    const email = `Jane.Doe+${sku}@Example.com`;
    const ssn = '078-05-1120';
    await p.pg.query(
      'INSERT INTO users (id, email, phone, full_name, ssn, password_hash) VALUES ($1, $2, $3, $4, $5, $6)',
      [userId, email, '+1-202-555-0147', 'Jane Doe', ssn, '$2b$12$e2eHashOfAPassword000000000000000000'],
    );
    const { raw, body } = await receiveUntil(
      eventRouting(p.config.eventBus).queues.wallboardUsers,
      (b) => b['detail-type'] === 'user.created' && b.detail.entityId === userId,
    );
    for (const secret of [
      email,
      email.toLowerCase(),
      ssn,
      '202-555-0147',
      'Jane Doe',
      'e2eHashOfAPassword',
    ]) {
      assert.ok(!raw.includes(secret), `published event must not contain ${secret}`);
    }
    const changes = body.detail.changes as Record<string, { new: unknown }>;
    // 003: first character of the local part, one mask character per hidden one, the domain.
    assert.equal(changes.email.new, `J${'*'.repeat(email.indexOf('@') - 1)}@Example.com`);
    assert.equal(changes.phone.new, '***********0147');
    assert.match(String(changes.full_name.new), /^tok_[0-9a-f]{24}$/);
    assert.equal(changes.ssn, undefined, 'ssn is removed');
    assert.equal(changes.password_hash, undefined, 'password_hash is removed');
    assert.equal(
      (body.detail.metadata as Record<string, unknown>).redactionPolicy,
      `pii-policy-v2@${p.config.redactionKeyId}`,
    );
    assert.deepEqual(validatePublishedDetail(body.detail), { ok: true });
    const stored = await waitFor('the user in cdc_entities', () => entity('users', userId));
    assert.ok(!JSON.stringify(stored).includes(ssn), 'DynamoDB holds the redacted row');
  });

  it('orders: INSERT and UPDATE are published, a DELETE is applied to DynamoDB but not published (003)', async () => {
    const orderId = `o-${sku}`;
    const queue = eventRouting(p.config.eventBus).queues.wallboardOrders;
    await p.pg.query(
      `INSERT INTO orders (order_id, status, total_amount, payment_details, shipping_address)
       VALUES ($1, 'new', 12.345, '{"card": "4111111111111111"}', '1 Main St')`,
      [orderId],
    );
    const created = await receiveUntil(
      queue,
      (b) => b['detail-type'] === 'order.created' && b.detail.entityId === orderId,
    );
    const createdChanges = created.body.detail.changes as Record<string, { new: unknown }>;
    assert.equal(createdChanges.total_amount?.new, '12.35', 'DECIMAL: two places, half away from zero');
    assert.equal(createdChanges.payment_details, undefined, 'payment_details is removed');
    assert.match(String(createdChanges.shipping_address?.new), /^hash:[0-9a-f]{32}$/);
    assert.ok(!created.raw.includes('4111111111111111') && !created.raw.includes('1 Main St'));

    await p.pg.query(`UPDATE orders SET status = 'paid' WHERE order_id = $1`, [orderId]);
    await receiveUntil(queue, (b) => b['detail-type'] === 'order.updated' && b.detail.entityId === orderId);

    await p.pg.query('DELETE FROM orders WHERE order_id = $1', [orderId]);
    await waitFor('the order tombstone in cdc_entities', async () => {
      const item = await entity('orders', orderId);
      return item?.deleted === true ? item : undefined;
    });
    // The same key again: on the same shard, after the delete. Had the delete been published, its
    // event would come first on the queue.
    await p.pg.query(`INSERT INTO orders (order_id, status, total_amount) VALUES ($1, 'reopened', 1)`, [
      orderId,
    ]);
    const types: string[] = [];
    await receiveUntil(queue, (b) => {
      if (b.detail.entityId === orderId) types.push(b['detail-type']);
      return b['detail-type'] === 'order.created' && b.detail.entityId === orderId;
    });
    assert.deepEqual(types, ['order.created'], 'no order.deleted before the re-created order');
  });
});
