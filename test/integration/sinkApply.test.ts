import assert from 'node:assert/strict';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createActivities } from '../../activities';
import { transformRecords } from '../../activities/processing';
import { entityKey, inventoryKey } from '../../domain/core/itemKeys';
import type { StreamRecord } from '../../domain/shards/shardTypes';
import { awsClients } from '../../infra/aws';
import { loadConfig, type PipelineConfig } from '../../infra/config';
import { provisionDynamo } from '../../infra/provisioning';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';

/** The DynamoDB sink on DynamoDB Local: partial images, coalescing, tombstone TTL. */
describe('DynamoDB sink on DynamoDB Local', function () {
  this.timeout(120_000);
  let config: PipelineConfig;
  let activities: ReturnType<typeof createActivities>;

  before(async () => {
    await stackUp();
    applyLocalStackEnv();
    const id = `${Date.now().toString(36)}s`;
    config = loadConfig({
      ...process.env,
      CDC_STATE_TABLE: `sink_state_${id}`,
      CDC_ENTITIES_TABLE: `sink_entities_${id}`,
      CDC_INVENTORY_TABLE: `sink_inventory_${id}`,
      CDC_DLQ_TABLE: `sink_dlq_${id}`,
      CDC_STREAM_RETENTION_HOURS: '168',
      CDC_DLQ_REDRIVE_WINDOW_DAYS: '30',
    });
    await provisionDynamo(config);
    activities = createActivities(config);
  });
  after(async () => {
    for (const TableName of Object.values(config.tables))
      await awsClients()
        .dynamo.send(new DeleteTableCommand({ TableName }))
        .catch(() => undefined);
  });

  let seq = 1000;
  const record = (data: unknown): StreamRecord => ({
    sequenceNumber: String(++seq),
    partitionKey: 'inventory:x',
    data: JSON.stringify(data),
    encoding: 'utf8',
    arrivalMs: 0,
  });
  async function apply(records: StreamRecord[]) {
    const { events, deadLetters } = transformRecords({ shardId: 'shardId-0', records });
    assert.deepEqual(deadLetters, []);
    return activities.applyEvents(await activities.redactEvents(events));
  }
  const get = async (table: string, pk: string) =>
    (await awsClients().doc.send(new GetCommand({ TableName: table, Key: { pk }, ConsistentRead: true })))
      .Item;
  const image = (sku: string, after: Record<string, unknown>, lsn: string, op = 'u') => ({
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'inventory',
      lsn,
      commitTs: '2026-01-01T00:00:00Z',
      index: 0,
    },
    op,
    key: { sku, warehouse_id: 1 },
    before: null,
    after: { sku, warehouse_id: 1, ...after },
  });

  it('a partial image (the compact format) updates only its columns: reserved and the threshold stay', async () => {
    await apply([
      record(image('PART-1', { on_hand: 100, reserved: 7, low_stock_threshold: 15 }, '0/10', 'c')),
    ]);
    const out = await apply([
      record({ op: 'UPDATE', sku: 'PART-1', wh: 1, qty: 60, ts: '2026-06-01T00:00:00Z' }),
    ]);
    assert.equal(out.applied, 1);
    const stock = await get(config.tables.inventory, inventoryKey('PART-1', 1));
    assert.deepEqual(
      [stock?.onHand, stock?.reserved, stock?.available, stock?.lowStockThreshold],
      [60, 7, 53, 15],
    );
    const entity = await get(config.tables.entities, entityKey('inventory', 'PART-1#1'));
    assert.equal((entity?.row as Record<string, unknown>).reserved, 7, 'the entity row keeps the column too');
    // An older partial change is stale, like any other.
    const stale = await apply([
      record({ op: 'UPDATE', sku: 'PART-1', wh: 1, qty: 1, ts: '2026-05-01T00:00:00Z' }),
    ]);
    assert.deepEqual([stale.applied, stale.stale], [0, 1]);
  });

  it('coalesces a hot key: 500 updates of one SKU in a batch are one write, the newest', async () => {
    const records = Array.from({ length: 500 }, (_, i) =>
      record(image('HOT-1', { on_hand: 1000 - i, reserved: 0 }, `0/${(0x100 + i).toString(16)}`)),
    );
    const started = Date.now();
    const out = await apply(records);
    assert.deepEqual([out.applied, out.coalesced, out.stale], [1, 499, 0]);
    assert.ok(Date.now() - started < 10_000);
    const stock = await get(config.tables.inventory, inventoryKey('HOT-1', 1));
    assert.equal(stock?.onHand, 501);
  });

  it('out of order: a change older than DynamoDB holds is outdated (not news); the same version again is news', async () => {
    const newer = record(image('OOO-1', { on_hand: 5, reserved: 0 }, '0/40'));
    const older = record(image('OOO-1', { on_hand: 9, reserved: 0 }, '0/30'));
    const first = await apply([newer]);
    assert.deepEqual([first.applied, first.outdated], [1, []]);
    // The older one arrives later (a replayed or out-of-order record): refused and outdated.
    const late = await apply([older]);
    assert.equal(late.applied, 0);
    assert.equal(late.outdated?.length, 1);
    // The newer one again (a retry after a failed publish): not written, but news again.
    const again = await apply([newer]);
    assert.deepEqual([again.applied, again.stale, again.outdated], [0, 1, []]);
    const stock = await get(config.tables.inventory, inventoryKey('OOO-1', 1));
    assert.equal(stock?.onHand, 5);
  });

  it('out of order within a batch: newer first, the older one after it is outdated; a retry of the batch says the same', async () => {
    const newer = record(image('OOO-2', { on_hand: 5, reserved: 0 }, '0/50'));
    const older = record(image('OOO-2', { on_hand: 9, reserved: 0 }, '0/48'));
    for (let attempt = 1; attempt <= 2; attempt++) {
      const out = await apply([newer, older]);
      assert.equal(out.outdated?.length, 1, `attempt ${attempt}`);
    }
    // In order and retried: both are news both times (the retry re-publishes what failed).
    const a = record(image('OOO-3', { on_hand: 1, reserved: 0 }, '0/60'));
    const b = record(image('OOO-3', { on_hand: 2, reserved: 0 }, '0/61'));
    assert.deepEqual((await apply([a, b])).outdated, []);
    assert.deepEqual((await apply([a, b])).outdated, []);
  });

  it('tombstones live as long as retention plus the redrive window', async () => {
    await apply([record(image('TOMB-1', { on_hand: 1, reserved: 0 }, '0/20', 'c'))]);
    const del = {
      ...image('TOMB-1', {}, '0/21', 'd'),
      before: { sku: 'TOMB-1', warehouse_id: 1 },
      after: null,
    };
    await apply([record(del)]);
    const tomb = await get(config.tables.entities, entityKey('inventory', 'TOMB-1#1'));
    assert.equal(tomb?.deleted, true);
    const days = (Number(tomb?.ttl) - Date.now() / 1000) / 86_400;
    assert.ok(
      days > 36.9 && days < 37.1,
      `tombstone TTL ${days.toFixed(2)} days (7 days retention + 30 redrive)`,
    );
  });
});
