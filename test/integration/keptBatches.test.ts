import assert from 'node:assert/strict';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { awsClients } from '../../infra/aws';
import { eventRouting, provisionDynamo } from '../../infra/provisioning';
import { probes } from '../support/pipelineProbes';
import { freePort } from '../support/ports';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * A batch held past its share of the stream's retention (`keepHeldBatchAfter`, issue 20) is kept
 * in S3, read from there by a worker that does not have it cached, and deleted once processed.
 * The share is set so small here that the first failure keeps the batch; the failure is this
 * pipeline's own inventory table gone (other tests' pipelines are not touched).
 */
describe('a batch held long is kept in S3 until it is processed', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let metricsUrl: string;

  before(async function () {
    this.timeout(240_000);
    const port = await freePort();
    // The SDK's exporter on a free port too (its default, port + 1, may be another worker's).
    const sdkPort = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    p = await startTestPipeline(
      { keepHeldBatchAfter: 1e-9, idleWaitMs: 1_000 },
      {
        shardCount: 1,
        workerProcess: true,
        workerEnv: { CDC_METRICS_PORT: String(port), CDC_METRICS_SDK_PORT: String(sdkPort) },
      },
    );
  });
  after(async () => {
    await p?.stop();
  });

  it('keeps the held batch, reads it from S3 in a new worker process, and deletes it once processed', async () => {
    const { dynamo, s3 } = awsClients();
    const probe = probes(p);
    const prefix = `held-batches/${p.config.consumer}/${p.config.stream}/`;
    const keptObjects = async () =>
      (await s3.send(new ListObjectsV2Command({ Bucket: p.config.deadLetters.bucket, Prefix: prefix })))
        .Contents ?? [];

    await dynamo.send(new DeleteTableCommand({ TableName: p.config.tables.inventory }));
    const sku = `KEPT-${Date.now().toString(36)}`.toUpperCase();
    await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 7)', [sku]);
    // Kept in S3 only after a failed attempt of a step (here apply): no status query needed.
    await waitFor(
      'the held batch kept in S3',
      async () => ((await keptObjects()).length ? true : undefined),
      {
        timeoutMs: 120_000,
      },
    );

    // The step held is apply (its table is gone), and the status says so.
    const held = await waitFor(
      'the shard held at apply in its status',
      async () =>
        (await probe.allShardStatuses().catch(() => [])).find((st) => st.lastError?.step === 'apply'),
      { timeoutMs: 60_000 },
    );
    assert.match(held.lastError!.message, /inventory_realtime|ResourceNotFound|not found/i);

    // A new worker process has nothing cached: the next attempt must read the batch from S3.
    await p.killWorker();
    await provisionDynamo(p.config);
    await probe.receiveUntil(
      eventRouting(p.config.eventBus).queues.inventory,
      (b) => (b.detail as { entityId: string }).entityId === `${sku}#1`,
      120_000,
    );
    const s3Rereads = await waitFor('a reread from S3 in the metrics', async () => {
      const text = await (await fetch(metricsUrl)).text().catch(() => '');
      const line = text
        .split('\n')
        .find((l) => l.startsWith('cdc_batch_rereads_total') && l.includes('source="s3"'));
      const n = line ? Number(line.split(' ').at(-1)) : 0;
      return n > 0 ? n : undefined;
    });
    assert.ok(s3Rereads >= 1);
    await waitFor('the kept copy deleted once processed', async () =>
      (await keptObjects()).length === 0 ? true : undefined,
    );
  });
});
