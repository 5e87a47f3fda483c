import assert from 'node:assert/strict';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Client as PgClient } from 'pg';
import { defaultDeps, type ActivityDeps } from '../../activities/deps';
import { snapshotChunk } from '../../activities/backfill/snapshot';
import { takeWatermark } from '../../activities/backfill/watermark';
import { consumerDelivery } from '../../activities/delivery/consumerDelivery';
import { createAlertPublisher } from '../../activities/publishing/alertPublisher';
import type { SnapshotChunkInput } from '../../domain/backfill/chunks';
import { awsClients } from '../../infra/aws';
import { loadConfig, type PipelineConfig } from '../../infra/config';
import { deprovisionEvents, provisionDynamo, provisionEvents } from '../../infra/provisioning';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';

/**
 * A snapshot chunk retried after its delivery failed (issue 19, item 6): the chunk's watermark is
 * taken once, before its first attempt (the workflow keeps it), so the retry writes and publishes
 * the same events, once, under the same ids; none counts as stale. On the local stack's
 * PostgreSQL, DynamoDB and EventBridge, with a bus and tables of its own; the first PutEvents fails.
 */
describe('backfill: a snapshot chunk retried after a failed publish (local stack)', function () {
  this.timeout(300_000);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const PREFIX = `BFR-${run}-`;
  const ROWS = 5;
  let config: PipelineConfig;
  let admin: PgClient;

  before(async function () {
    this.timeout(240_000);
    await stackUp();
    applyLocalStackEnv();
    config = loadConfig({
      ...process.env,
      CDC_CONSUMER: 'test',
      CDC_STATE_TABLE: `cdc_state_bfr_${run}`,
      CDC_ENTITIES_TABLE: `cdc_entities_bfr_${run}`,
      CDC_INVENTORY_TABLE: `inventory_realtime_bfr_${run}`,
      CDC_DLQ_TABLE: `cdc_dlq_bfr_${run}`,
      CDC_EVENT_BUS: `cdc-bfr-${run}`,
      CDC_RESERVATION_EXPIRY: 'off',
    });
    await provisionDynamo(config);
    await provisionEvents(config);
    admin = new PgClient();
    await admin.connect();
    await admin.query(
      `INSERT INTO products (product_id, name, category, price)
       SELECT $1 || i, 'Retried ' || i, 'tools', 10 + i FROM generate_series(1, $2) i`,
      [PREFIX, ROWS],
    );
  });

  after(async function () {
    this.timeout(120_000);
    await admin
      ?.query('DELETE FROM products WHERE product_id LIKE $1', [`${PREFIX}%`])
      .catch(() => undefined);
    await admin?.end();
    if (config) {
      for (const TableName of Object.values(config.tables))
        await awsClients()
          .dynamo.send(new DeleteTableCommand({ TableName }))
          .catch(() => undefined);
      await deprovisionEvents(config).catch(() => undefined);
    }
  });

  /** The stack's EventBridge, failing the first `failures` PutEvents requests; every request's event ids kept. */
  function flakyEvents(failures: number) {
    const real = awsClients().events;
    const puts: { ids: string[]; ok: boolean }[] = [];
    const client = {
      send: async (command: PutEventsCommand) => {
        const ids = (command.input.Entries ?? []).map(
          (e) => (JSON.parse(e.Detail!) as { eventId: string }).eventId,
        );
        if (failures-- > 0) {
          puts.push({ ids, ok: false });
          throw Object.assign(new Error('EventBridge unavailable (test)'), { name: 'InternalFailure' });
        }
        const out = await real.send(command);
        puts.push({ ids, ok: !out.FailedEntryCount });
        return out;
      },
    } as unknown as EventBridgeClient;
    return { client, puts };
  }

  it('publishes the same events once, under the same ids, none stale', async () => {
    const events = flakyEvents(1);
    const base = defaultDeps(config);
    const deps: ActivityDeps = {
      ...base,
      config,
      keyring: base.keyring,
      aws: {
        kinesis: base.aws.kinesis,
        doc: base.aws.doc,
        s3: base.aws.s3,
        events: events.client,
      },
    };
    // The operational consumer's delivery path (DynamoDB, then EventBridge), as the worker binds it.
    const pooled = { ...deps, pools: base.pools! };
    const ports = consumerDelivery(pooled, createAlertPublisher(pooled));
    const backfillId = `retry-${run}`;
    // What the workflow does before the chunk's first attempt, and gives every attempt.
    const watermark = await takeWatermark(deps, { backfillId, table: 'products' });
    const input: SnapshotChunkInput = {
      backfillId,
      table: 'products',
      filter: { keyRange: { from: PREFIX, to: `${PREFIX}~` } },
      limit: 100,
      watermark,
    };

    // First attempt: rows applied to DynamoDB, then the publish fails: the activity fails.
    await assert.rejects(snapshotChunk(deps, ports, input), /EventBridge unavailable/);
    assert.equal(events.puts.length, 1);
    const firstIds = [...events.puts[0].ids].sort();
    assert.equal(firstIds.length, ROWS);

    // Some other transaction moves the WAL on (a busy database) before the retry.
    await admin.query(`UPDATE products SET updated_at = now() WHERE product_id = $1`, [`${PREFIX}1`]);

    // The retry (Temporal's, or the workflow's hold): same input, so same watermark.
    const r = await snapshotChunk(deps, ports, input);
    assert.deepEqual(
      { read: r.read, applied: r.applied, stale: r.stale, published: r.published, rejected: r.rejected },
      { read: ROWS, applied: ROWS, stale: 0, published: ROWS, rejected: 0 },
    );
    const published = events.puts.filter((p) => p.ok).flatMap((p) => p.ids);
    assert.deepEqual([...published].sort(), firstIds, 'the same event ids, each published once');

    // DynamoDB holds those very events (the version of the first attempt's watermark).
    for (let i = 1; i <= ROWS; i++) {
      const item = (
        await base.aws.doc.send(
          new GetCommand({
            TableName: config.tables.entities,
            Key: { pk: `products#${PREFIX}${i}` },
            ConsistentRead: true,
          }),
        )
      ).Item;
      assert.ok(item && firstIds.includes(String(item.eventId)), `products ${i}: ${String(item?.eventId)}`);
    }
  });
});
