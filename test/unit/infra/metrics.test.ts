import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  exposition,
  metrics,
  metricsEndpointFromEnv,
  registry,
  startMetricsServer,
  stopMetricsServer,
} from '../../../infra/metrics';

/** A metric's value for exactly these labels (0 when the series does not exist). */
async function valueOf(name: string, labels: Record<string, string>, suffix = ''): Promise<number> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} is registered`);
  const { values } = await metric.get();
  const match = values.find(
    (v) =>
      (suffix ? (v as { metricName?: string }).metricName === `${name}${suffix}` : true) &&
      Object.keys(labels).every((k) => String(v.labels[k]) === labels[k]) &&
      Object.keys(v.labels).filter((k) => k !== 'le').length === Object.keys(labels).length,
  );
  return match?.value ?? 0;
}

const ev = (table: string, op: string, agoMs = 100) => ({
  table,
  op,
  commitTs: new Date(Date.now() - agoMs).toISOString(),
  // what the helpers must never read: a row value
  after: { sku: 'SECRET-SKU' },
});

describe('pipeline metrics', () => {
  const consumer = `unit-${Date.now().toString(36)}`;

  it('applied: changes by table and op, stale by table, coalesced, commit-to-apply observed per written change', async () => {
    metrics.applied(
      consumer,
      [ev('inventory', 'c'), ev('inventory', 'c'), ev('inventory', 'u'), ev('orders', 'd')],
      [ev('orders', 'u')],
      3,
    );
    assert.equal(await valueOf('cdc_changes_total', { consumer, table: 'inventory', op: 'c' }), 2);
    assert.equal(await valueOf('cdc_changes_total', { consumer, table: 'inventory', op: 'u' }), 1);
    assert.equal(await valueOf('cdc_changes_total', { consumer, table: 'orders', op: 'd' }), 1);
    assert.equal(await valueOf('cdc_stale_writes_total', { consumer, table: 'orders' }), 1);
    assert.equal(await valueOf('cdc_coalesced_writes_total', { consumer }), 3);
    assert.equal(await valueOf('cdc_commit_to_apply_seconds', { consumer, table: 'inventory' }, '_count'), 3);
    assert.equal(await valueOf('cdc_commit_to_apply_seconds', { consumer, table: 'orders' }, '_count'), 1);
  });

  it('published: accepted events by table, rejections, commit-to-publish latency in seconds', async () => {
    metrics.published(consumer, [ev('inventory', 'u', 2_000), ev('inventory', 'u', 2_000)], 1);
    assert.equal(await valueOf('cdc_events_published_total', { consumer, table: 'inventory' }), 2);
    assert.equal(await valueOf('cdc_publish_rejected_total', { consumer }), 1);
    assert.equal(
      await valueOf('cdc_commit_to_publish_seconds', { consumer, table: 'inventory' }, '_count'),
      2,
    );
    const sum = await valueOf('cdc_commit_to_publish_seconds', { consumer, table: 'inventory' }, '_sum');
    assert.ok(sum >= 4 && sum < 10, `sum ${sum}`);
    // 2 s ago: above the 1 s bucket, within 2.5 s
    const buckets = (await registry.getSingleMetric('cdc_commit_to_publish_seconds')!.get()).values.filter(
      (v) => v.labels.consumer === consumer && (v as { metricName?: string }).metricName?.endsWith('_bucket'),
    );
    assert.equal(buckets.find((b) => b.labels.le === 1)?.value, 0);
    assert.equal(buckets.find((b) => b.labels.le === 2.5)?.value, 2);
    assert.equal(buckets.find((b) => b.labels.le === 0.05) !== undefined, true);
    assert.equal(buckets.find((b) => b.labels.le === 60) !== undefined, true);
  });

  it('dead letters by source and category, alerts by kind', async () => {
    metrics.deadLettered(consumer, 'shard', ['poison', 'poison', 'permanent']);
    metrics.deadLettered(consumer, 'capture', ['poison']);
    assert.equal(
      await valueOf('cdc_dead_letters_total', { consumer, source: 'shard', category: 'poison' }),
      2,
    );
    assert.equal(
      await valueOf('cdc_dead_letters_total', { consumer, source: 'shard', category: 'permanent' }),
      1,
    );
    assert.equal(
      await valueOf('cdc_dead_letters_total', { consumer, source: 'capture', category: 'poison' }),
      1,
    );
    const before = await valueOf('cdc_alerts_published_total', { kind: 'LOW_STOCK' });
    metrics.alertsPublished([{ kind: 'LOW_STOCK' }, { kind: 'LOW_STOCK' }]);
    assert.equal(await valueOf('cdc_alerts_published_total', { kind: 'LOW_STOCK' }), before + 2);
  });

  it('gauges: shard lag (removed when the shard ended) and the slot lag', async () => {
    const shard = { stream: 's', consumer, shardId: 'shardId-000000000007' };
    const labels = { stream: 's', consumer, shard: shard.shardId };
    metrics.pulled(shard, 1234, false);
    assert.equal(await valueOf('cdc_shard_lag_ms', labels), 1234);
    assert.ok(
      Math.abs((await valueOf('cdc_shard_last_pull_timestamp_seconds', labels)) - Date.now() / 1000) < 5,
    );
    metrics.pulled(shard, 0, false);
    assert.equal(await valueOf('cdc_shard_lag_ms', labels), 0);
    metrics.pulled(shard, 0, true);
    assert.doesNotMatch(await registry.metrics(), /shardId-000000000007/);
    metrics.slotHealth({ slot: `slot_${consumer}`, lagBytes: 4096, walRetainedBytes: 8192 });
    assert.equal(await valueOf('cdc_capture_lag_bytes', { slot: `slot_${consumer}` }), 4096);
    assert.equal(await valueOf('cdc_capture_wal_retained_bytes', { slot: `slot_${consumer}` }), 8192);
  });

  it('timed: one duration per call, also when the call fails', async () => {
    assert.equal(await metrics.timed(consumer, 'transform', async () => 42), 42);
    await assert.rejects(
      metrics.timed(consumer, 'transform', async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await valueOf('cdc_batch_duration_seconds', { consumer, step: 'transform' }, '_count'), 2);
  });

  it('the exposition names every metric and carries no row value', async () => {
    metrics.pulled({ stream: 's', consumer, shardId: 'shardId-000000000001' }, 5, false);
    const text = await exposition();
    for (const name of [
      'cdc_changes_total',
      'cdc_stale_writes_total',
      'cdc_coalesced_writes_total',
      'cdc_events_published_total',
      'cdc_publish_rejected_total',
      'cdc_dead_letters_total',
      'cdc_alerts_published_total',
      'cdc_shard_lag_ms',
      'cdc_capture_lag_bytes',
      'cdc_capture_wal_retained_bytes',
      'cdc_batch_duration_seconds_bucket',
      'cdc_commit_to_publish_seconds_count',
      'cdc_commit_to_apply_seconds_sum',
    ])
      assert.match(text, new RegExp(`^${name}\\{`, 'm'), name);
    assert.doesNotMatch(text, /SECRET-SKU/);
  });

  it('endpoint from the environment: loopback and 9464 by default, 0/off disables, SDK on the next port', () => {
    assert.deepEqual(metricsEndpointFromEnv({}), {
      host: '127.0.0.1',
      port: 9464,
      sdkBindAddress: '127.0.0.1:9465',
    });
    assert.equal(metricsEndpointFromEnv({ CDC_METRICS_PORT: '0' }), undefined);
    assert.equal(metricsEndpointFromEnv({ CDC_METRICS_PORT: 'off' }), undefined);
    assert.deepEqual(metricsEndpointFromEnv({ CDC_METRICS_PORT: '9000', CDC_METRICS_HOST: '0.0.0.0' }), {
      host: '0.0.0.0',
      port: 9000,
      sdkBindAddress: '127.0.0.1:9001',
    });
    assert.throws(() => metricsEndpointFromEnv({ CDC_METRICS_PORT: 'x' }), /invalid CDC_METRICS_PORT/);
  });

  it('serves GET /metrics with the SDK exposition appended', async () => {
    const sdk = createServer((_req, res) => res.end('# TYPE temporal_fake counter\ntemporal_fake 1\n'));
    await new Promise<void>((r) => sdk.listen(0, '127.0.0.1', r));
    const sdkPort = (sdk.address() as AddressInfo).port;
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      sdkBindAddress: `127.0.0.1:${sdkPort}`,
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      assert.match(text, /^cdc_changes_total\{/m);
      assert.match(text, /^temporal_fake 1$/m);
      assert.match(text, /^process_cpu_seconds_total /m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await stopMetricsServer(server);
      await new Promise((r) => sdk.close(r));
    }
  });
});
