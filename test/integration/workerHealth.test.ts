import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { configToEnv } from '../../infra/config';
import { ROOT } from '../../infra/localStack/localStack';
import { probes } from '../support/pipelineProbes';
import { freePort } from '../support/ports';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

interface ReadyBody {
  status: string;
  ready: boolean;
  checks: { name: string; ok: boolean; error?: string }[];
}

/** GET /readyz until it answers 200 (the worker bundles its workflows first: /readyz says `starting`). */
async function untilReady(base: string, lastSeen: () => string): Promise<ReadyBody> {
  let last = '';
  return waitFor(
    `${base}/readyz to answer 200`,
    async () => {
      const res = await fetch(`${base}/readyz`);
      const body = (await res.json()) as ReadyBody;
      last = JSON.stringify(body);
      return res.status === 200 ? body : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, lastSeen: () => `${last} ${lastSeen()}` },
  );
}

/**
 * Issue 22, item 3: the worker process serves /healthz and /readyz (Temporal, the stream, the state
 * table, PostgreSQL, the bus), and drains on SIGTERM: it says so in two log lines and ends with
 * exit code 0; what it was doing is handed back (the other worker on the task queue carries on).
 */
describe('worker health, readiness and drain (worker process)', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let base: string;

  before(async function () {
    this.timeout(240_000);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    p = await startTestPipeline(
      {},
      { workerProcess: true, workerEnv: { CDC_HEALTH_PORT: String(port), CDC_METRICS_PORT: 'off' } },
    );
  });
  after(async () => {
    await p?.stop();
  });

  it('answers /healthz 200 and /readyz 200, naming each check', async () => {
    const health = await waitFor('/healthz', async () => fetch(`${base}/healthz`), { timeoutMs: 60_000 });
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const ready = await untilReady(base, () => '');
    assert.equal(ready.status, 'ready');
    assert.deepEqual(ready.checks.map((c) => c.name).sort(), [
      'dynamodb',
      'eventbridge',
      'kinesis',
      'postgres',
      'temporal',
    ]);
    assert.ok(ready.checks.every((c) => c.ok));
  });

  it('drains on SIGTERM: one line at the start, one at the end, exit code 0, the other worker carries on', async () => {
    const { entity } = probes(p);
    const product = async (id: string) => {
      await p.pg.query('INSERT INTO products (product_id, sku, name, price) VALUES ($1, $1, $2, 1)', [
        id,
        'drain test',
      ]);
      return waitFor(`product ${id} in cdc_entities`, () => entity('products', id), { timeoutMs: 60_000 });
    };
    // A second worker process on the same task queue, which the test stops.
    const port = await freePort();
    let log = '';
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...configToEnv(p.config),
        CDC_HEALTH_PORT: String(port),
        CDC_METRICS_PORT: 'off',
        CDC_SHUTDOWN_GRACE_MS: '2000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await untilReady(`http://127.0.0.1:${port}`, () => log.slice(-500));
      const tag = `DRN${Date.now().toString(36)}`.toUpperCase();
      await product(`${tag}-1`);
      const signalled = Date.now();
      child.kill('SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise<'late'>((r) => setTimeout(() => r('late'), 30_000).unref()),
      ]);
      assert.equal(code, 0, `exit code (within 30 s of SIGTERM); log: ${log.slice(-2000)}`);
      assert.ok(Date.now() - signalled < 30_000);
      const lines = log.split('\n').map((l) => {
        try {
          return (JSON.parse(l) as { msg?: string }).msg ?? '';
        } catch {
          return l;
        }
      });
      const draining = lines.findIndex((l) => l.startsWith('draining: SIGTERM'));
      const drained = lines.findIndex((l) => l.startsWith('drained: in '));
      assert.ok(draining >= 0, `no "draining:" line in ${log.slice(-2000)}`);
      assert.ok(drained > draining, `no "drained:" line after it in ${log.slice(-2000)}`);
      assert.match(lines[draining], /2000 ms to finish/);
      // Nothing is lost with it: the pipeline's own worker applies what comes next.
      await product(`${tag}-2`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
