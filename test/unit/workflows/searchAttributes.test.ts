import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { assertSearchAttributes } from '../../../infra/searchAttributes';
import { SA } from '../../../workflows/names';
import { installTestRuntime } from '../../support/testRuntime';

const ROOT = join(__dirname, '..', '..', '..');
const TEMPORAL_CLI = join(ROOT, '.cache', 'venv', 'bin', 'temporal');

/**
 * The worker's start-up check of search attributes against a real Temporal dev server: here, in
 * the workflow tests' process (scripts/test.sh), not in the unit process, so a server that hangs
 * or an SDK runtime that crashes cannot take the unit tests down. The pure checks are in
 * test/unit/infra/searchAttributes.test.ts.
 */
describe('search attributes the worker writes (start-up check)', () => {
  describe('on a Temporal dev server whose namespace lacks CdcSku and CdcExpiresAt', function () {
    this.timeout(120_000);
    let env: TestWorkflowEnvironment;
    before(async function () {
      this.timeout(120_000);
      installTestRuntime();
      env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: TEMPORAL_CLI },
          ip: '127.0.0.1',
          searchAttributes: Object.values(SA).filter((k) => k !== SA.sku && k !== SA.expiresAt),
          extraArgs: ['--headless'],
        },
      });
    });
    after(async () => {
      await env?.teardown();
    });

    it('the worker process exits 1 with one line naming the command; that command, run as printed, fixes it', async () => {
      const run = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], {
          cwd: ROOT,
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: env.address,
            TEMPORAL_NAMESPACE: 'default',
            CDC_PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
            CDC_PAYLOAD_KEY_FILE: '',
            CDC_REDACTION_SECRET: randomBytes(16).toString('hex'),
            CDC_METRICS_PORT: 'off',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, out }));
      });
      assert.equal(run.code, 1, run.out);
      const lines = run.out.split('\n').filter((l) => /search attribute/.test(l));
      assert.equal(lines.length, 1, run.out);
      assert.match(lines[0]!, /lacks the search attributes CdcExpiresAt \(Datetime\), CdcSku \(Keyword\)/);
      const command = /create them with: (.*?)(?:"|$)/.exec(lines[0]!)?.[1];
      assert.ok(command, lines[0]);

      await assert.rejects(
        () => assertSearchAttributes(env.connection, 'default'),
        /CdcSku.*temporal operator search-attribute create --namespace default --name CdcSku --type Keyword/,
      );
      // The command as printed (with the server's address), then the check passes.
      const created = spawnSync('bash', ['-c', command], {
        encoding: 'utf8',
        env: {
          ...process.env,
          PATH: `${join(ROOT, '.cache', 'venv', 'bin')}:${process.env.PATH}`,
          TEMPORAL_ADDRESS: env.address,
        },
      });
      assert.equal(created.status, 0, created.stderr);
      await assertSearchAttributes(env.connection, 'default');
    });
  });
});
