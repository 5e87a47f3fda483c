import assert from 'node:assert/strict';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Client as PgClient } from 'pg';
import { createActivities } from '../../activities';
import { defaultDeps } from '../../activities/deps';
import { awsClients } from '../../infra/aws';
import { loadConfig, type PipelineConfig } from '../../infra/config';
import { ANALYTICS_CONSUMER, consumerConfig, deploymentConsumers } from '../../infra/consumers';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';
import { provisionAnalytics, provisionDynamo } from '../../infra/provisioning';

/**
 * Backfill through the consumer's own delivery path (issue 21, item 2): a snapshot chunk run by
 * the analytics consumer's activities writes the analytics database, as its shard readers and
 * its redrives do, and neither DynamoDB nor EventBridge (the operational consumer's). On the
 * local stack's PostgreSQL, with an analytics database of its own.
 */
describe('backfill for the analytics consumer (local stack)', function () {
  this.timeout(120_000);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const PREFIX = `BFA-${run}-`;
  const ROWS = 5;
  let config: PipelineConfig;
  let admin: PgClient;
  let analytics: PgClient;

  before(async function () {
    this.timeout(120_000);
    await stackUp();
    applyLocalStackEnv();
    // Tables of its own: the state table holds the source epoch the watermark reads.
    const base = loadConfig({
      ...process.env,
      CDC_STATE_TABLE: `cdc_state_bfa_${run}`,
      CDC_ENTITIES_TABLE: `cdc_entities_bfa_${run}`,
      CDC_INVENTORY_TABLE: `inventory_realtime_bfa_${run}`,
      CDC_DLQ_TABLE: `cdc_dlq_bfa_${run}`,
      CDC_RESERVATION_EXPIRY: 'off',
    });
    const consumer = deploymentConsumers(base).find((c) => c.name === ANALYTICS_CONSUMER)!;
    config = { ...consumerConfig(base, consumer), analyticsDatabase: `analytics_bfa_${run}` };
    await provisionDynamo(config);
    await provisionAnalytics(config);
    admin = new PgClient();
    await admin.connect();
    await admin.query(
      `INSERT INTO products (product_id, name, category, price)
       SELECT $1 || i, 'Backfilled ' || i, 'tools', 10 + i FROM generate_series(1, $2) i`,
      [PREFIX, ROWS],
    );
    analytics = new PgClient({ database: config.analyticsDatabase });
    await analytics.connect();
  });

  after(async function () {
    this.timeout(60_000);
    await analytics?.end().catch(() => undefined);
    await admin
      ?.query('DELETE FROM products WHERE product_id LIKE $1', [`${PREFIX}%`])
      .catch(() => undefined);
    await admin?.query(`DROP DATABASE IF EXISTS "analytics_bfa_${run}" WITH (FORCE)`).catch(() => undefined);
    await admin?.end();
    if (config)
      for (const TableName of Object.values(config.tables))
        await awsClients()
          .dynamo.send(new DeleteTableCommand({ TableName }))
          .catch(() => undefined);
  });

  it('a snapshot chunk writes the analytics database, not DynamoDB, and publishes nothing', async () => {
    const puts: unknown[] = [];
    const base = defaultDeps(config);
    const events = {
      send: async (command: unknown) => {
        puts.push(command);
        throw new Error('the analytics consumer publishes nothing (test)');
      },
    } as unknown as EventBridgeClient;
    const activities = createActivities(config, {
      ...base,
      keyring: base.keyring,
      aws: { kinesis: base.aws.kinesis, doc: base.aws.doc, s3: base.aws.s3, events },
    });
    const backfillId = `analytics-${run}`;
    const watermark = await activities.backfillWatermark({ backfillId, table: 'products' });
    const r = await activities.backfillChunk({
      backfillId,
      table: 'products',
      filter: { keyRange: { from: PREFIX, to: `${PREFIX}~` } },
      limit: 100,
      watermark,
    });
    assert.deepEqual(
      { read: r.read, applied: r.applied, stale: r.stale, published: r.published, rejected: r.rejected },
      { read: ROWS, applied: ROWS, stale: 0, published: 0, rejected: 0 },
    );
    const rows = await analytics.query<{ entity_id: string; operation: string }>(
      `SELECT entity_id, operation FROM cdc_changes WHERE table_name = 'products' AND entity_id LIKE $1
        ORDER BY entity_id`,
      [`${PREFIX}%`],
    );
    assert.deepEqual(
      rows.rows,
      Array.from({ length: ROWS }, (_, i) => ({ entity_id: `${PREFIX}${i + 1}`, operation: 'SNAPSHOT' })),
      'every row in the analytics database, as a snapshot',
    );
    const item = await awsClients().doc.send(
      new GetCommand({
        TableName: config.tables.entities,
        Key: { pk: `products#${PREFIX}1` },
        ConsistentRead: true,
      }),
    );
    assert.equal(item.Item, undefined, 'nothing written to DynamoDB');
    assert.equal(puts.length, 0, 'nothing put on EventBridge');

    // The same chunk again (a retry): the analytics database holds these very events; nothing twice.
    const again = await activities.backfillChunk({
      backfillId,
      table: 'products',
      filter: { keyRange: { from: PREFIX, to: `${PREFIX}~` } },
      limit: 100,
      watermark,
    });
    assert.equal(again.read, ROWS);
    const count = await analytics.query<{ n: string }>(
      `SELECT count(*) AS n FROM cdc_changes WHERE table_name = 'products' AND entity_id LIKE $1`,
      [`${PREFIX}%`],
    );
    assert.equal(Number(count.rows[0]!.n), ROWS);
  });
});
