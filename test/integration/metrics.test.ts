import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from '../../infra/localStack/localStack';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** The sum of a metric's samples whose labels contain all of `labels` (e.g. `table="inventory"`). */
function sample(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (!m || m[1] !== name || !labels.every((l) => (m[2] ?? '').includes(l))) continue;
    sum += Number(m[3]);
    found = true;
  }
  return found ? sum : NaN;
}

/**
 * The worker process serves /metrics (the pipeline's metrics and the Temporal SDK's) and writes
 * JSON-line logs with the SDK's workflow attributes.
 */
describe('worker metrics and structured logs', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let url: string;

  before(async function () {
    this.timeout(240_000);
    const port = await freePort();
    const sdkPort = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    p = await startTestPipeline(
      {},
      {
        workerProcess: true,
        workerEnv: {
          CDC_METRICS_PORT: String(port),
          CDC_METRICS_SDK_PORT: String(sdkPort),
          // DEBUG: the SDK's "Activity started" lines carry workflowId, activityType, taskQueue.
          CDC_LOG_LEVEL: 'DEBUG',
        },
      },
    );
  });
  after(async () => {
    await p?.stop();
  });

  const scrape = async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    return res.text();
  };

  /** Inserts `rows` inventory rows, one transaction each. */
  const load = async (rows: number) => {
    const prefix = `MET${Date.now().toString(36)}`.toUpperCase();
    for (let n = 0; n < rows; n++)
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 10)', [
        `${prefix}-${n}`,
      ]);
  };

  it('counts applied and published changes, observes commit-to-publish latency, and serves the SDK metrics', async () => {
    const table = 'table="inventory"';
    await load(25);
    const first = await waitFor(
      'the first changes to be counted',
      async () => {
        const text = await scrape().catch(() => undefined);
        return text && sample(text, 'cdc_commit_to_publish_seconds_count', table) > 0 ? text : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1_000 },
    );
    const applied1 = sample(first, 'cdc_changes_total', table, 'consumer="test"');
    const published1 = sample(first, 'cdc_commit_to_publish_seconds_count', table);
    assert.ok(applied1 > 0, 'cdc_changes_total{table="inventory"} > 0');

    await load(25);
    const second = await waitFor(
      'the counters to move',
      async () => {
        const text = await scrape();
        return sample(text, 'cdc_commit_to_publish_seconds_count', table) > published1 ? text : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    assert.ok(sample(second, 'cdc_changes_total', table, 'op="c"') > applied1, 'cdc_changes_total increased');
    assert.ok(sample(second, 'cdc_events_published_total', table) > 0);
    assert.ok(sample(second, 'cdc_batch_duration_seconds_count', 'step="apply"') > 0);
    assert.ok(sample(second, 'cdc_batch_duration_seconds_count', 'step="publish"') > 0);
    assert.ok(sample(second, 'cdc_shard_lag_ms', `stream="${p.config.stream}"`) >= 0);
    // the Temporal SDK's runtime metrics, appended
    assert.match(second, /^temporal_\w+/m);
    assert.match(second, /^temporal_activity_execution_latency/m);
    // no row value in the exposition: our keys look like MET…-n
    assert.doesNotMatch(second, /MET[0-9A-Z]+-\d+/);
  });

  it('writes JSON lines with level and the SDK attributes (workflowId) to the worker log', async () => {
    const log = join(ROOT, '.stack', `worker-${p.config.taskQueue}.log`);
    const lines = await waitFor(
      'a log line with a workflowId',
      async () => {
        const parsed = readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        return parsed.some((l) => typeof l.workflowId === 'string') ? parsed : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1_000 },
    );
    assert.ok(
      lines.every(
        (l) => typeof l.level === 'string' && typeof l.msg === 'string' && typeof l.ts === 'string',
      ),
    );
    const shardLine = lines.find((l) => String(l.workflowId).startsWith('cdc-shard:') && l.activityType);
    assert.ok(shardLine, 'a shard reader activity line');
    assert.equal(shardLine.taskQueue, p.config.taskQueue);
    assert.ok(lines.some((l) => l.msg === 'metrics served'));
    assert.doesNotMatch(readFileSync(log, 'utf8'), /MET[0-9A-Z]+-\d+/);
  });
});
