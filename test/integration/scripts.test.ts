import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { Client as PgClient } from 'pg';
import { awsClients } from '../../infra/aws';
import { configToEnv, loadConfig, type PipelineConfig } from '../../infra/config';
import { deprovisionDeadLetters, deprovisionEvents, eventRouting } from '../../infra/provisioning';
import { temporalClient } from '../../infra/temporal';
import { applyLocalStackEnv, ROOT, stackUp } from '../../infra/localStack/localStack';
import { captureWorkflowId, supervisorWorkflowId } from '../../workflows/names';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run -s <script> -- <args>` (the npm scripts call `cdc`), in `env` only. */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', script, ...(args.length ? ['--', ...args] : [])], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The environment of a user who set nothing: no PG*, AWS_* or TEMPORAL_* variables, no pipeline
 * configuration but `config` (the local stack's own port settings, CDC_*_PORT, are kept).
 */
function cleanEnv(config?: PipelineConfig): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(PG|AWS_|TEMPORAL_)/.test(k) && !(k.startsWith('CDC_') && !k.endsWith('_PORT')),
    ),
  );
  return { ...env, ...(config ? configToEnv(config) : {}) };
}

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * The scripts against the running local stack with no hand-set variables (issue 8, item 21), and
 * `inspect queue` leaving queues as it found them (item 22). Each test provisions its own names
 * (a run id, like testPipeline.ts) and removes them, so the main job's resources are never touched.
 */
describe('npm scripts (cdc) on the running local stack, without hand-set variables', function () {
  this.timeout(180_000);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  let pg: PgClient;

  before(async function () {
    this.timeout(240_000);
    await stackUp();
    applyLocalStackEnv(); // this process's own clients (the scripts get a clean environment)
    pg = new PgClient();
    await pg.connect();
  });
  after(async () => {
    await pg?.end();
  });

  describe('provision, pipeline:start and inspect', () => {
    let config: PipelineConfig;
    before(() => {
      config = loadConfig({
        ...cleanEnv(),
        CDC_STREAM: `cdc-test-${id}`,
        CDC_SHARD_COUNT: '1',
        CDC_CONSUMER: 'test',
        CDC_TASK_QUEUE: `cdc-test-${id}`,
        CDC_STATE_TABLE: `cdc_state_${id}`,
        CDC_ENTITIES_TABLE: `cdc_entities_${id}`,
        CDC_INVENTORY_TABLE: `inventory_realtime_${id}`,
        CDC_DLQ_TABLE: `cdc_dlq_${id}`,
        CDC_DLQ_BUCKET: `cdc-test-${id}`,
        CDC_EVENT_BUS: `cdc-test-${id}`,
        CDC_SLOT: `cdc_test_${id}`,
        CDC_PUBLICATION: `cdc_test_${id}`,
      });
    });
    after(async () => {
      if (!config) return;
      const ignore = () => undefined;
      const client = await temporalClient();
      for (const wf of [captureWorkflowId(config.slot), supervisorWorkflowId(config.stream, config.consumer)])
        await client.workflow.getHandle(wf).terminate('test finished').catch(ignore);
      await client.connection.close();
      // No worker ran: the slot is not active and can be dropped at once.
      await pg.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [config.slot],
      );
      await pg.query(`DROP PUBLICATION IF EXISTS ${config.publication}`);
      const { kinesis, dynamo } = awsClients();
      await kinesis.send(new DeleteStreamCommand({ StreamName: config.stream })).catch(ignore);
      for (const TableName of Object.values(config.tables))
        await dynamo.send(new DeleteTableCommand({ TableName })).catch(ignore);
      await deprovisionEvents(config);
      await deprovisionDeadLetters(config, { deleteBucket: true });
    });

    it('npm run provision (cdc provision) provisions on the local stack (README slot recovery: no ECONNREFUSED 127.0.0.1:5432)', async () => {
      const run = await runScript('provision', [], cleanEnv(config));
      assert.equal(run.code, 0, show(run));
      assert.match(run.stdout, /^provisioned; source system \d+ timeline \d+/m, show(run));
      const slot = await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [config.slot]);
      assert.equal(slot.rowCount, 1, 'the slot was created');
      const { kinesis, sqs } = awsClients();
      await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: config.stream }));
      await sqs.send(new GetQueueUrlCommand({ QueueName: eventRouting(config.eventBus).queues.alerts }));
    });

    it('npm run pipeline:start (cdc pipeline start) and npm run inspect (cdc inspect) reach the local stack', async () => {
      const start = await runScript('pipeline:start', [], cleanEnv(config));
      assert.equal(start.code, 0, show(start));
      assert.match(start.stdout, new RegExp(`capture: ${captureWorkflowId(config.slot)}`));
      const inspect = await runScript('inspect', ['inventory', 'NO-SUCH-SKU#1'], cleanEnv(config));
      assert.equal(inspect.code, 3, `no such item: exit 3 (not found)\n${show(inspect)}`);
    });
  });

  describe('inspect queue', () => {
    const queue = `cdc-test-${id}-peek`;
    const missing = `cdc-test-${id}-missing`;
    after(async () => {
      const { sqs } = awsClients();
      for (const QueueName of [queue, missing]) {
        const url = await sqs.send(new GetQueueUrlCommand({ QueueName })).catch(() => undefined);
        if (url?.QueueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: url.QueueUrl }));
      }
    });

    it('peeks: the messages stay receivable by consumers', async () => {
      const { sqs } = awsClients();
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queue }));
      const bodies = [`{"n":1,"id":"${id}-a"}`, `{"n":2,"id":"${id}-b"}`];
      for (const MessageBody of bodies) await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody }));

      const run = await runScript('inspect', ['queue', queue], cleanEnv());
      assert.equal(run.code, 0, show(run));
      assert.ok(run.stdout.includes(`${id}-a`) && run.stdout.includes(`${id}-b`), show(run));

      // Another client (a consumer) still receives both, at once: nothing was hidden or deleted.
      const received = new Set<string>();
      const deadline = Date.now() + 5_000;
      while (received.size < 2 && Date.now() < deadline) {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        for (const m of out.Messages ?? []) received.add(m.Body ?? '');
      }
      assert.deepEqual([...received].sort(), bodies, 'a consumer receives every message after the peek');
      // And the output says so.
      assert.match(run.stdout, /Peeking at queue/);
      assert.match(run.stdout, /stay on the queue/);
    });

    it('reports a missing queue in one line and does not create it', async () => {
      const run = await runScript('inspect', ['queue', missing], cleanEnv());
      assert.equal(run.code, 3, show(run));
      const lines = run.stderr.trim().split('\n');
      assert.deepEqual(lines.length, 1, show(run));
      assert.match(lines[0], new RegExp(`queue '${missing}' does not exist`));
      await assert.rejects(
        awsClients().sqs.send(new GetQueueUrlCommand({ QueueName: missing })),
        (err: Error) => err.name === 'QueueDoesNotExist',
      );
    });
  });
});
