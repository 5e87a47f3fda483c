import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import {
  assertSearchAttributes,
  REQUIRED_SEARCH_ATTRIBUTES,
  searchAttributeMessage,
  searchAttributeProblems,
} from '../../../infra/searchAttributes';
import { SA } from '../../../workflows/names';
import { installTestRuntime } from '../../support/testRuntime';

const ROOT = join(__dirname, '..', '..', '..');
const TEMPORAL_CLI = join(ROOT, '.cache', 'venv', 'bin', 'temporal');
const T = temporal.api.enums.v1.IndexedValueType;

/** Every attribute the workflows write, as the operator service lists them (name → enum), but `except`. */
function listed(except: string[] = []): Record<string, number> {
  const byType = {
    KEYWORD: T.INDEXED_VALUE_TYPE_KEYWORD,
    INT: T.INDEXED_VALUE_TYPE_INT,
    DATETIME: T.INDEXED_VALUE_TYPE_DATETIME,
  } as Record<string, number>;
  return Object.fromEntries(
    Object.values(SA)
      .filter((k) => !except.includes(k.name))
      .map((k) => [k.name, byType[k.type]!]),
  );
}

describe('search attributes the worker writes (start-up check)', () => {
  it('requires every attribute of workflows/names.ts', () => {
    assert.deepEqual(
      REQUIRED_SEARCH_ATTRIBUTES.map((k) => k.name),
      Object.values(SA).map((k) => k.name),
    );
    for (const name of ['CdcState', 'CdcStream', 'CdcSku', 'CdcExpiresAt'])
      assert.ok(
        REQUIRED_SEARCH_ATTRIBUTES.some((k) => k.name === name),
        name,
      );
  });

  it('nothing to say when all are there (system attributes and others besides)', () => {
    const problems = searchAttributeProblems({ ...listed(), WorkflowType: T.INDEXED_VALUE_TYPE_KEYWORD });
    assert.deepEqual(problems, { missing: [], wrongType: [] });
    assert.equal(searchAttributeMessage(problems, 'default'), undefined);
  });

  it('names the missing ones in one line, with the commands that create them (one per type)', () => {
    const problems = searchAttributeProblems(listed(['CdcSku', 'CdcExpiresAt', 'CdcTable']));
    assert.deepEqual(
      problems.missing.map((m) => m.name),
      ['CdcTable', 'CdcExpiresAt', 'CdcSku'],
    );
    const message = searchAttributeMessage(problems, 'prod')!;
    assert.ok(!message.includes('\n'), message);
    assert.match(
      message,
      /namespace prod lacks the search attributes CdcTable \(Keyword\), CdcExpiresAt \(Datetime\), CdcSku \(Keyword\)/,
    );
    assert.ok(
      message.endsWith(
        'create them with: temporal operator search-attribute create --namespace prod --name CdcTable --name CdcSku --type Keyword' +
          ' && temporal operator search-attribute create --namespace prod --name CdcExpiresAt --type Datetime',
      ),
      message,
    );
  });

  it('says when one exists with another type (names as strings too)', () => {
    const problems = searchAttributeProblems({ ...listed(), CdcLagMs: 'INDEXED_VALUE_TYPE_KEYWORD' });
    assert.deepEqual(problems.wrongType, [{ name: 'CdcLagMs', type: 'INT', actual: 'KEYWORD' }]);
    assert.match(searchAttributeMessage(problems, 'default')!, /CdcLagMs as KEYWORD, not Int/);
  });

  it('a listing this identity may not read is a warning, not a refusal', async () => {
    const warnings: string[] = [];
    await assertSearchAttributes(
      {
        operatorService: {
          listSearchAttributes: () =>
            Promise.reject(Object.assign(new Error('7 PERMISSION_DENIED: no'), { code: 7 })),
        },
      },
      'default',
      (l) => warnings.push(l),
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /not checked/);
  });

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
