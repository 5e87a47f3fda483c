import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import { Client as PgClient } from 'pg';
import { awsClients } from '../../infra/aws';
import { configToEnv, loadConfig, type PipelineConfig } from '../../infra/config';
import { deprovisionDeadLetters, deprovisionEvents } from '../../infra/provisioning';
import { temporalClient } from '../../infra/temporal';
import { applyLocalStackEnv, codecEndpoint, ROOT, stackUp } from '../../infra/localStack/localStack';
import { captureWorkflowId, shardWorkflowId, supervisorWorkflowId } from '../../workflows/names';
import { waitFor } from '../support/waitFor';

/** Polls `probe` until it is true (waitFor stops at any value but undefined). */
const until = (what: string, probe: () => Promise<boolean>, timeoutMs = 90_000) =>
  waitFor(what, async () => ((await probe()) ? true : undefined), { timeoutMs, intervalMs: 500 });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

// ---------------------------------------------------------------------------------------------
// The commands, taken from the docs: a command that drifts (renamed, reworded, removed) fails
// here with the line the test looked for.

const doc = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** The lines of a document's ```sh blocks, a `\`-continued command joined into one line. */
function shellLines(file: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  let pending = '';
  for (const raw of doc(file).split('\n')) {
    if (/^```/.test(raw.trim())) {
      inBlock = !inBlock && /^```sh\s*$/.test(raw.trim());
      continue;
    }
    if (!inBlock) continue;
    const line = pending + raw.trim();
    if (line.endsWith('\\')) {
      pending = `${line.slice(0, -1).trimEnd()} `;
      continue;
    }
    pending = '';
    if (line) lines.push(stripComment(line));
  }
  return lines;
}

/** Drops a trailing `# comment` (a `#` outside quotes, after a space). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && i > 0 && /\s/.test(line[i - 1]!)) return line.slice(0, i).trimEnd();
  }
  return line;
}

/** The first command of `file`'s shell blocks that starts with `prefix` (whitespace-insensitive). */
function docCommand(file: string, prefix: string): string {
  const norm = (s: string) => s.replace(/\s+/g, ' ');
  const found = shellLines(file).find((l) => norm(l).startsWith(norm(prefix)));
  assert.ok(found, `${file} no longer shows a command starting with: ${prefix}`);
  return found;
}

// ---------------------------------------------------------------------------------------------

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * The operator commands of README.md, docs/cli.md, docs/payload-encryption.md and docs/metrics.md,
 * as written, against the pipeline run the way `npm start` runs it (issue 19, item 10): the test
 * runs `npm start` itself, with its own names (stream, slot, tables, bus, task queue, metrics port)
 * so that it never touches the main job's pipeline or another test's, and without the parts that
 * would take from others (the wallboard consumes SQS queues, reservation expiry releases other
 * tests' holds, the analytics consumer shares one database). The docs' default names are mapped to
 * this pipeline's (`cdc-inventory` → its stream, and so on, `SUBSTITUTE`); nothing else is changed.
 */
describe('the operator commands of the README and docs/cli.md, on `npm start`', function () {
  this.timeout(300_000);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const sku = `OPS${id}`.toUpperCase();
  let config: PipelineConfig;
  let env: NodeJS.ProcessEnv;
  let metricsPort: number;
  let main: ChildProcess | undefined;
  let mainOut = '';
  let pg: PgClient;

  /** The docs' default names → this pipeline's. */
  const SUBSTITUTE = (): [RegExp, string][] => [
    [/cdc-inventory\b/g, config.stream],
    [/cdc_inventory_slot\b/g, config.slot],
    [/127\.0\.0\.1:9464\b/g, `127.0.0.1:${metricsPort}`],
    [/SKU-1\b/g, sku],
  ];
  const mapped = (command: string) => SUBSTITUTE().reduce((c, [re, to]) => c.replace(re, to), command);

  /** Runs one shell line (the docs' commands are shell), in the user's environment plus `env`. */
  const sh = (command: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', mapped(command)], {
        cwd: ROOT,
        env: { ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  const ok = async (command: string, extraEnv?: NodeJS.ProcessEnv): Promise<Run> => {
    const r = await sh(command, extraEnv);
    assert.equal(r.code, 0, `${mapped(command)}\n${show(r)}`);
    return r;
  };

  // README, "Operate it": `S=…` and the commands that use it, in one shell with the codec endpoint
  // exported as its Quick start says ("export TEMPORAL_CODEC_ENDPOINT=…").
  const README = 'README.md';
  const S = () => docCommand(README, 'S=cdc-shard:');
  const exportCodec = () => docCommand(README, 'export TEMPORAL_CODEC_ENDPOINT=');
  const inReadmeShell = (command: string) => `${exportCodec()}; ${S()}; ${command}`;

  /** A decoded query result: JSON with the field, no ciphertext. */
  const assertDecoded = (r: Run, field: string) => {
    assert.ok(!/binary\/encrypted|encryption-key-id/.test(r.stdout), `ciphertext:\n${show(r)}`);
    assert.match(r.stdout, new RegExp(`"${field}"\\s*:`), show(r));
  };
  const shardState = async (shard: string): Promise<string | undefined> => {
    const r = await sh(
      `temporal workflow query --codec-endpoint ${codecEndpoint()} --workflow-id ${shard} --type status -o json`,
    );
    return /"state"\s*:\s*"([A-Z_]+)"/.exec(r.stdout)?.[1];
  };

  before(async function () {
    this.timeout(360_000);
    await stackUp();
    applyLocalStackEnv(); // this process's own clients
    metricsPort = await freePort();
    const sdkPort = await freePort();
    // The user's environment: what they set (nothing of PG*, AWS_*, TEMPORAL_*: the scripts find the
    // local stack), the pipeline's names, PATH with the temporal CLI that setup installs.
    const user = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => !/^(PG|AWS_|TEMPORAL_)/.test(k) && !(k.startsWith('CDC_') && !k.endsWith('_PORT')),
      ),
    );
    config = loadConfig({
      ...user,
      CDC_STREAM: `cdc-ops-${id}`,
      CDC_TASK_QUEUE: `cdc-ops-${id}`,
      CDC_STATE_TABLE: `cdc_state_ops_${id}`,
      CDC_ENTITIES_TABLE: `cdc_entities_ops_${id}`,
      CDC_INVENTORY_TABLE: `inventory_realtime_ops_${id}`,
      CDC_DLQ_TABLE: `cdc_dlq_ops_${id}`,
      CDC_DLQ_BUCKET: `cdc-ops-${id}`,
      CDC_EVENT_BUS: `cdc-ops-${id}`,
      CDC_SLOT: `cdc_ops_${id}`,
      CDC_PUBLICATION: `cdc_ops_${id}`,
    });
    env = {
      ...user,
      ...configToEnv(config),
      CDC_ANALYTICS: 'off',
      CDC_WALLBOARD_PORT: 'off',
      CDC_RESERVATION_EXPIRY: 'off',
      CDC_METRICS_PORT: String(metricsPort),
      CDC_METRICS_SDK_PORT: String(sdkPort),
      PATH: `${join(ROOT, '.cache', 'venv', 'bin')}:${process.env.PATH ?? ''}`,
    };
    // `npm start`, as a user runs it (its own process group, so that Ctrl-C reaches tsx and main.ts).
    main = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    main.stdout!.on('data', (d: Buffer) => (mainOut += d.toString()));
    main.stderr!.on('data', (d: Buffer) => (mainOut += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      main!.once('exit', (code) => reject(new Error(`npm start exited ${code}:\n${mainOut}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      exited,
      until(
        'npm start to print "Pipeline running"',
        async () => mainOut.includes('Pipeline running'),
        300_000,
      ),
    ]);
    pg = new PgClient();
    await pg.connect();
  });

  after(async function () {
    this.timeout(120_000);
    const ignore = () => undefined;
    if (main?.pid && main.exitCode === null) {
      process.kill(-main.pid, 'SIGINT'); // Ctrl-C
      const exited = new Promise<void>((r) => main!.once('exit', () => r()));
      const timer = setTimeout(() => process.kill(-main!.pid!, 'SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    }
    if (!config) return;
    const client = await temporalClient();
    const open = client.workflow.list({
      query: `TaskQueue = '${config.taskQueue}' AND ExecutionStatus = 'Running'`,
    });
    for await (const wf of open)
      await client.workflow.getHandle(wf.workflowId).terminate('test finished').catch(ignore);
    await client.connection.close();
    if (pg) {
      await pg.query('DELETE FROM inventory WHERE sku = $1', [sku]).catch(ignore);
      await waitFor(
        `slot ${config.slot} to be released`,
        async () => {
          await pg.query(
            'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
            [config.slot],
          );
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      ).catch(ignore);
      await pg.query(`DROP PUBLICATION IF EXISTS ${config.publication}`).catch(ignore);
      await pg.end();
    }
    const { kinesis, dynamo } = awsClients();
    await kinesis.send(new DeleteStreamCommand({ StreamName: config.stream })).catch(ignore);
    for (const TableName of Object.values(config.tables))
      await dynamo.send(new DeleteTableCommand({ TableName })).catch(ignore);
    await deprovisionEvents(config).catch(ignore);
    await deprovisionDeadLetters(config, { deleteBucket: true }).catch(ignore);
  });

  const shard0 = () => shardWorkflowId(config.stream, config.consumer, 'shardId-000000000000');

  it('npm start printed where to look, with the metrics endpoint', () => {
    assert.match(mainOut, new RegExp(`Metrics: +http://127\\.0\\.0\\.1:${metricsPort}/metrics`), mainOut);
  });

  it('README: temporal workflow query … --type status, with the codec endpoint exported (decoded)', async () => {
    // README, Quick start: `export TEMPORAL_CODEC_ENDPOINT=…` then the status query of shard 0.
    const query = docCommand(README, 'temporal workflow query --workflow-id cdc-shard:');
    assert.match(mapped(query), new RegExp(shard0()));
    await until('the shard reader to answer its status query', async () => {
      const r = await sh(`${exportCodec()}; ${query}`);
      return r.code === 0 && r.stdout.includes('"state"');
    });
    assertDecoded(await ok(`${exportCodec()}; ${query}`), 'lagMs');
  });

  it('docs/payload-encryption.md: temporal workflow query --codec-endpoint … --type status (decoded, the query sends no payloads)', async () => {
    const query = docCommand(
      'docs/payload-encryption.md',
      'temporal workflow query --codec-endpoint http://127.0.0.1:18233',
    ).replace('<id>', shard0());
    assertDecoded(await ok(query), 'state');
    // docs/payload-encryption.md: `temporal workflow show --codec-endpoint … --workflow-id <id>`.
    const showCmd = docCommand('docs/payload-encryption.md', 'temporal workflow show').replace(
      '<id>',
      shard0(),
    );
    const shown = await ok(showCmd);
    assert.ok(!/binary\/encrypted/.test(shown.stdout), show(shown));
  });

  it('README: temporal workflow list --query \'CdcState = "…"\' and the Web UI filter CdcStream = "cdc-inventory"', async () => {
    await ok(docCommand(README, 'temporal workflow list --query'));
    // README, Quick start ("Filter them with, for example, … `CdcStream = "cdc-inventory"`"): the same filter in the CLI.
    const filter = /`(CdcStream = "cdc-inventory")`/.exec(doc(README))?.[1];
    assert.ok(filter, 'README no longer shows the filter CdcStream = "cdc-inventory"');
    await until('the shard readers listed by CdcStream', async () => {
      const r = await ok(`temporal workflow list --query '${filter}'`);
      return (
        r.stdout.includes(shard0()) && r.stdout.includes(supervisorWorkflowId(config.stream, config.consumer))
      );
    });
    // A reader shows CAUGHT_UP once a pull finds its shard at the tip: changes on both shards (16
    // keys of this test's SKU) get it there at once, where an empty shard's first pull would wait
    // out the idle pull (60 s).
    for (let w = 100; w < 116; w++)
      await pg.query(
        'INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING',
        [sku, w],
      );
    await until('the shard readers listed as CAUGHT_UP', async () => {
      const r = await ok(`temporal workflow list --query 'CdcState = "CAUGHT_UP" AND ${filter}'`);
      return r.stdout.includes(shard0());
    });
  });

  it('README: pause and resume a shard with temporal workflow signal, and all of them through the supervisor', async () => {
    await ok(inReadmeShell(docCommand(README, 'temporal workflow signal --workflow-id "$S" --name pause')));
    await until('shard 0 PAUSED', async () => (await shardState(shard0())) === 'PAUSED');
    await ok(inReadmeShell(docCommand(README, 'temporal workflow signal --workflow-id "$S" --name resume')));
    await until('shard 0 no longer PAUSED', async () => {
      const state = await shardState(shard0());
      return state !== undefined && state !== 'PAUSED';
    });
    // Every shard through the supervisor, then `npx cdc resume --all` (README, Operate it).
    await ok(docCommand(README, 'temporal workflow signal --workflow-id cdc-supervisor:'));
    const shard1 = shardWorkflowId(config.stream, config.consumer, 'shardId-000000000001');
    await until('both shards PAUSED', async () => {
      const [a, b] = await Promise.all([shardState(shard0()), shardState(shard1)]);
      return a === 'PAUSED' && b === 'PAUSED';
    });
    const resumed = await ok(docCommand(README, 'npx cdc resume --all'));
    assert.match(resumed.stdout + resumed.stderr, /acknowledged|resumed/i, show(resumed));
    const [a, b] = await Promise.all([shardState(shard0()), shardState(shard1)]);
    assert.ok(a !== 'PAUSED' && b !== 'PAUSED', `${a} ${b}`);
  });

  it('README: npx cdc pause --shard 1 … is acknowledged; docs/cli.md: cdc resume', async () => {
    const paused = await ok(docCommand(README, 'npx cdc pause --shard 1'));
    assert.match(paused.stdout + paused.stderr, /PAUSED|acknowledged/i, show(paused));
    // docs/cli.md shows `cdc pause --shard 1 …` with `cdc` linked by npm: `npx cdc` is that command in a checkout.
    assert.ok(shellLines('docs/cli.md').includes('cdc pause --shard 1 --reason "deploying consumer"'));
    await ok('npx cdc resume --shard 1');
  });

  it('README: the supervisor overview query and the capture health query (decoded)', async () => {
    const overview = await ok(
      inReadmeShell(docCommand(README, 'temporal workflow query --workflow-id cdc-supervisor:')),
    );
    assert.ok(overview.stdout.includes('shardId-000000000000'), show(overview));
    assert.ok(!/binary\/encrypted/.test(overview.stdout), show(overview));
    const health = await ok(
      inReadmeShell(docCommand(README, 'temporal workflow query --workflow-id cdc-capture:')),
    );
    assertDecoded(health, 'state');
    assert.ok(
      mapped(docCommand(README, 'temporal workflow query --workflow-id cdc-capture:')).includes(
        captureWorkflowId(config.slot),
      ),
    );
  });

  it('docs/cli.md: cdc provision source --dry-run and cdc provision temporal, against what npm start provisioned', async () => {
    // npm start provisioned the source: the dry run finds nothing to change and lists the grants.
    const dry = await ok(`npx ${docCommand('docs/cli.md', 'cdc provision source --dry-run')}`);
    assert.match(dry.stdout, /^-- nothing to change/, show(dry));
    assert.match(dry.stdout, /WITH REPLICATION;/, show(dry));
    const sa = await ok(`npx ${docCommand('docs/cli.md', 'cdc provision temporal')}`);
    assert.match(sa.stdout, /search attribute\(s\) present/, show(sa));
    // It changes (or could change) something: it said where it goes first.
    assert.match(sa.stderr, /^environment: PostgreSQL → .*Temporal → /, show(sa));
  });

  it('README: npx cdc status (and docs/cli.md: cdc status)', async () => {
    const status = docCommand(README, 'npx cdc status').replace(/\s*\[--watch\]/, '');
    assert.ok(shellLines('docs/cli.md').includes('cdc status'));
    const r = await ok(status);
    assert.ok(r.stdout.includes(config.stream), show(r));
    assert.ok(r.stdout.includes('shardId-000000000001'), show(r));
    assert.match(r.stdout, new RegExp(`capture ${captureWorkflowId(config.slot)}\\s+RUNNING`), show(r));
  });

  it('README: a change made with psql shows in npm run -s inspect -- inventory …', async () => {
    // README, "Watch a change arrive": the psql command (INSERT, UPDATE) then inspect.
    await ok(docCommand(README, 'psql -h 127.0.0.1'));
    const inspect = docCommand(README, 'npm run -s inspect -- inventory');
    assert.ok(shellLines('docs/cli.md').includes("cdc inspect inventory 'SKU-1#1'"));
    await until('inspect to show the change', async () => {
      const r = await sh(inspect);
      return r.code === 0 && r.stdout.includes(sku) && /"reserved"\s*:\s*5\b/.test(r.stdout);
    });
  });

  it("README/docs/metrics.md: GET 127.0.0.1:9464/metrics serves the pipeline's cdc_ metrics (curl)", async () => {
    assert.ok(
      doc(README).includes('`127.0.0.1:9464/metrics`'),
      'README no longer names 127.0.0.1:9464/metrics',
    );
    const curl = /`(curl -s 127\.0\.0\.1:9464\/metrics \| grep '\^cdc_')`/.exec(doc('docs/metrics.md'))?.[1];
    assert.ok(curl, "docs/metrics.md no longer shows curl -s 127.0.0.1:9464/metrics | grep '^cdc_'");
    const url = `http://${mapped('127.0.0.1:9464')}/metrics`;
    await until("the shards' lag in the metrics", async () => {
      // curl, or the same GET where curl is not installed.
      const text =
        (await sh('command -v curl')).code === 0
          ? (await sh(curl)).stdout
          : (await (await fetch(url)).text())
              .split('\n')
              .filter((l) => l.startsWith('cdc_'))
              .join('\n');
      return (
        new RegExp(`^cdc_shard_lag_ms\\{[^}]*stream="${config.stream}"`, 'm').test(text) &&
        /^cdc_changes_total\{/m.test(text)
      );
    });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^temporal_/m, 'the SDK metrics are appended');
  });
});
