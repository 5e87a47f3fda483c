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
        low_stock_threshold: 10,
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
      'INSERT INTO users (user_id, email, phone, full_name, ssn) VALUES ($1, $2, $3, $4, $5)',
      [userId, email, '+1-202-555-0147', 'Jane Doe', ssn],
    );
    const { raw, body } = await receiveUntil(
      eventRouting(p.config.eventBus).queues.wallboardUsers,
      (b) => b['detail-type'] === 'user.created' && b.detail.entityId === userId,
    );
    for (const secret of [email, email.toLowerCase(), ssn, '202-555-0147', 'Jane Doe']) {
      assert.ok(!raw.includes(secret), `published event must not contain ${secret}`);
    }
    const changes = body.detail.changes as Record<string, { new: unknown }>;
    assert.match(String(changes.email.new), /^hash:[0-9a-f]{32}$/);
    assert.equal(changes.ssn, undefined, 'ssn is removed');
    assert.equal((body.detail.metadata as Record<string, unknown>).redactionPolicy, 'pii-policy-v1');
    assert.deepEqual(validatePublishedDetail(body.detail), { ok: true });
    const stored = await waitFor('the user in cdc_entities', () => entity('users', userId));
    assert.ok(!JSON.stringify(stored).includes(ssn), 'DynamoDB holds the redacted row');
  });
});
