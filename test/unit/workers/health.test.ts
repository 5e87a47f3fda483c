import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import {
  cachedReadiness,
  healthEndpointFromEnv,
  healthServerUrl,
  runChecks,
  startHealthServer,
  stopHealthServer,
  workerReadinessChecks,
  type ReadinessCheck,
} from '../../../workers/health';
import { loadConfig } from '../../../infra/config';

/** workers/health.ts: readiness from injected checks, cached; the /healthz and /readyz routes. */
describe('worker health and readiness (workers/health.ts)', () => {
  const ok = (name: string, calls?: { n: number }): ReadinessCheck => ({
    name,
    check: async () => {
      if (calls) calls.n++;
    },
  });
  const failing = (name: string, message: string): ReadinessCheck => ({
    name,
    check: async () => {
      const err = new Error(message);
      err.name = 'ResourceNotFoundException';
      throw err;
    },
  });

  it('is ready only when every check passes, naming each with its error', async () => {
    const all = await runChecks([ok('temporal'), ok('kinesis')]);
    assert.equal(all.ready, true);
    assert.deepEqual(
      all.checks.map((c) => [c.name, c.ok]),
      [
        ['temporal', true],
        ['kinesis', true],
      ],
    );
    const one = await runChecks([
      ok('temporal'),
      failing('dynamodb', 'Cannot do operations on a non-existent table'),
    ]);
    assert.equal(one.ready, false);
    assert.equal(
      one.checks[1].error,
      'ResourceNotFoundException: Cannot do operations on a non-existent table',
    );
  });

  it('fails a check that does not answer within the timeout', async () => {
    const hang: ReadinessCheck = { name: 'postgres', check: () => new Promise(() => undefined) };
    const r = await runChecks([hang], 50);
    assert.equal(r.ready, false);
    assert.match(r.checks[0].error ?? '', /no answer within 50 ms/);
  });

  it('reuses a round for cacheMs, and shares one round between concurrent probes', async () => {
    let t = 1_000;
    const calls = { n: 0 };
    const readiness = cachedReadiness([ok('kinesis', calls)], { cacheMs: 5_000, now: () => t });
    await Promise.all([readiness(), readiness(), readiness()]);
    assert.equal(calls.n, 1);
    t += 4_999;
    await readiness();
    assert.equal(calls.n, 1);
    t += 1;
    await readiness();
    assert.equal(calls.n, 2);
  });

  it('reads CDC_HEALTH_PORT and CDC_HEALTH_HOST (off unless set; loopback by default)', () => {
    assert.equal(healthEndpointFromEnv({}), undefined);
    assert.equal(healthEndpointFromEnv({ CDC_HEALTH_PORT: 'off' }), undefined);
    assert.deepEqual(healthEndpointFromEnv({ CDC_HEALTH_PORT: '8080' }), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(healthEndpointFromEnv({ CDC_HEALTH_PORT: '8080', CDC_HEALTH_HOST: '0.0.0.0' }), {
      host: '0.0.0.0',
      port: 8080,
    });
    assert.throws(() => healthEndpointFromEnv({ CDC_HEALTH_PORT: 'http' }), /invalid CDC_HEALTH_PORT 'http'/);
  });

  it("checks the worker's dependencies: Temporal, the stream, the state table, PostgreSQL, the bus (operational sink)", async () => {
    const config = loadConfig({ CDC_STREAM: 's1', CDC_STATE_TABLE: 'st1', CDC_EVENT_BUS: 'b1' });
    const sent: string[] = [];
    const client = (service: string) => ({
      send: async (cmd: { constructor: { name: string }; input: unknown }) => {
        sent.push(`${service}:${cmd.constructor.name}:${JSON.stringify(cmd.input)}`);
        return {};
      },
    });
    const checks = workerReadinessChecks({
      config,
      worker: { getState: () => 'RUNNING' },
      connection: {
        workflowService: {
          describeNamespace: async (req: { namespace?: string | null }) => {
            sent.push(`temporal:${req.namespace}`);
            return {};
          },
        },
      } as never,
      namespace: 'ns1',
      aws: { kinesis: client('kinesis'), dynamo: client('dynamo'), events: client('events') } as never,
      pg: { query: async (sql: string) => (sent.push(`pg:${sql}`), { rows: [] }) } as never,
    });
    const r = await runChecks(checks);
    assert.equal(r.ready, true, JSON.stringify(r));
    assert.deepEqual(
      r.checks.map((c) => c.name),
      ['temporal', 'kinesis', 'dynamodb', 'postgres', 'eventbridge'],
    );
    assert.deepEqual(sent.sort(), [
      'dynamo:DescribeTableCommand:{"TableName":"st1"}',
      'events:DescribeEventBusCommand:{"Name":"b1"}',
      'kinesis:DescribeStreamSummaryCommand:{"StreamName":"s1"}',
      'pg:SELECT 1',
      'temporal:ns1',
    ]);
    const stopping = workerReadinessChecks({
      config,
      worker: { getState: () => 'DRAINING' },
      connection: { workflowService: { describeNamespace: async () => ({}) } } as never,
      namespace: 'ns1',
      aws: { kinesis: client('kinesis'), dynamo: client('dynamo'), events: client('events') } as never,
      pg: { query: async () => ({ rows: [] }) } as never,
    });
    const d = await runChecks(stopping);
    assert.equal(d.ready, false);
    assert.equal(d.checks[0].error, 'Error: worker is DRAINING');
  });

  describe('the server', () => {
    let server: Server;
    let ready = true;
    before(async () => {
      server = await startHealthServer({ host: '127.0.0.1', port: 0 }, async () =>
        runChecks([ok('temporal'), ready ? ok('kinesis') : failing('kinesis', 'Stream s1 not found')]),
      );
    });
    after(() => stopHealthServer(server));

    it('answers /healthz 200, /readyz 200 or 503 with each check, 404 elsewhere', async () => {
      const base = healthServerUrl(server);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      let res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 200);
      let body = (await res.json()) as { status: string; checks: { name: string; ok: boolean }[] };
      assert.equal(body.status, 'ready');
      assert.deepEqual(
        body.checks.map((c) => c.name),
        ['temporal', 'kinesis'],
      );
      ready = false;
      res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
      body = (await res.json()) as typeof body;
      assert.equal(body.status, 'not ready');
      assert.equal(body.checks.find((c) => c.name === 'kinesis')?.ok, false);
      assert.equal((await fetch(`${base}/metrics`)).status, 404);
    });
  });
});
