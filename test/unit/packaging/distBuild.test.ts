import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../../infra/localStack/localStack';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/waitFor';

/**
 * Issue 22, item 3: the product runs with plain `node` after `npm ci --omit=dev`. In a temporary
 * copy of the repository's files (tracked, plus new ones not ignored): `npm run build` (tsc needs
 * typescript, a dev dependency: the build borrows this checkout's node_modules through a symlink,
 * which is removed before the install), then `npm ci --omit=dev` from the npm cache, then each
 * production entry point: the CLI (dist and bin/cdc), the worker up to its start-up checks, the
 * workflow bundle the worker makes at start-up (webpack, from dist/workflows), the codec server
 * (GET /health), the wallboard's files. No tsx, typescript or mocha is installed.
 */
describe('the build runs without dev dependencies (npm run build, npm ci --omit=dev)', function () {
  this.timeout(240_000);
  let dir: string;
  const children: ChildProcess[] = [];

  /** Only what a production process has: no variable of this test process (local stack, AWS, PG). */
  const bareEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    ...extra,
  });

  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000) => {
    const r = spawnSync(cmd, args, { cwd: dir, env, encoding: 'utf8', timeout: timeoutMs });
    return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, error: r.error };
  };

  before(function () {
    this.timeout(240_000);
    dir = mkdtempSync(join(tmpdir(), 'cdc-dist-'));
    const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(files.status, 0, files.stderr);
    for (const f of files.stdout.split('\0').filter(Boolean)) {
      const from = join(ROOT, f);
      if (!existsSync(from)) continue; // deleted in the work tree
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(from, join(dir, f));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const build = run('npm', ['run', '-s', 'build'], process.env);
    unlinkSync(join(dir, 'node_modules'));
    assert.equal(build.status, 0, `npm run build failed:\n${build.out}`);
    const install = run(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'],
      { ...process.env, NODE_ENV: 'production' },
      180_000,
    );
    assert.equal(install.status, 0, `npm ci --omit=dev failed:\n${install.out}`);
  });

  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs no dev tool (tsx, typescript, mocha)', () => {
    for (const name of ['tsx', 'typescript', 'mocha', 'eslint', '@temporalio/testing'])
      assert.ok(!existsSync(join(dir, 'node_modules', name)), `node_modules/${name} is installed`);
  });

  it('emits the entry points and the files they read at run time into dist/', () => {
    for (const f of [
      'cli/index.js',
      'workers/worker.js',
      'workers/codecServer.js',
      'wallboard/server.js',
      'wallboard/page.html',
      'workflows/index.js',
      'infra/schema.sql',
      'infra/analyticsSchema.sql',
      'config/tables.yaml',
    ])
      assert.ok(existsSync(join(dir, 'dist', f)), `dist/${f} is missing`);
    // Nothing of the tests, benchmarks or scripts.
    for (const f of ['test', 'bench', 'scripts'])
      assert.ok(!existsSync(join(dir, 'dist', f)), `dist/${f} exists`);
  });

  it('runs the CLI with node, and through bin/cdc (no tsx: the compiled one)', () => {
    const direct = run(process.execPath, ['dist/cli/index.js', '--help'], bareEnv());
    assert.equal(direct.status, 0, direct.out);
    assert.match(direct.out, /Usage: cdc/);
    const bin = run('sh', ['bin/cdc', '--help'], bareEnv());
    assert.equal(bin.status, 0, bin.out);
    assert.match(bin.out, /Usage: cdc/);
  });

  it('starts the worker up to its start-up checks, which refuse with one clear line', () => {
    // Every endpoint explicit and not loopback, no redaction secret: the worker refuses before
    // it connects anywhere (a module missing would fail earlier, with another message).
    const r = run(
      process.execPath,
      ['dist/workers/worker.js'],
      bareEnv({
        AWS_ENDPOINT_URL: 'http://aws.invalid:4566',
        AWS_REGION: 'us-east-1',
        PGHOST: 'db.invalid',
        TEMPORAL_ADDRESS: 'temporal.invalid:7233',
        CDC_PAYLOAD_KEYS: '',
        CDC_METRICS_PORT: 'off',
      }),
      60_000,
    );
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, /worker: invalid pipeline configuration: CDC_REDACTION_SECRET/);
    assert.doesNotMatch(r.out, /Cannot find module|ERR_MODULE_NOT_FOUND/);
  });

  it('bundles the workflows from dist/ as the worker does at start-up (webpack, a production dependency)', () => {
    const r = run(
      process.execPath,
      [
        '-e',
        `require('@temporalio/worker').bundleWorkflowCode({ workflowsPath: require.resolve('./dist/workflows'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } })
          .then((b) => console.log('bundle bytes', b.code.length), (e) => { console.error(e); process.exit(1); })`,
      ],
      bareEnv(),
      120_000,
    );
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /bundle bytes \d{6,}/);
  });

  it('serves the codec server (GET /health) and stops on SIGTERM', async () => {
    const keyFile = join(dir, 'keys.json');
    const made = run(
      process.execPath,
      ['-e', `require('./dist/infra/codec/keyring').ensureKeyFile(${JSON.stringify(keyFile)}, 'dist-1')`],
      bareEnv(),
    );
    assert.equal(made.status, 0, made.out);
    const port = await freePort();
    let out = '';
    const child = spawn(process.execPath, ['dist/workers/codecServer.js'], {
      cwd: dir,
      env: bareEnv({ CDC_PAYLOAD_KEY_FILE: keyFile, CDC_CODEC_PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const health = await waitFor(
      'the codec server to answer GET /health',
      async () => {
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${out}`);
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        return { status: res.status, body: (await res.json()) as { status?: string } };
      },
      { timeoutMs: 30_000, lastSeen: () => out },
    );
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  });

  it('has the wallboard page next to the compiled server', () => {
    const page = readFileSync(join(dir, 'dist', 'wallboard', 'page.html'), 'utf8');
    assert.equal(page, readFileSync(join(ROOT, 'wallboard', 'page.html'), 'utf8'));
    const r = run(
      process.execPath,
      ['-e', "require('./dist/wallboard/server'); console.log('loaded')"],
      bareEnv(),
    );
    assert.equal(r.status, 0, r.out);
  });
});
