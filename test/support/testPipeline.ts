import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import type { Client as TemporalClient } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { awsClients, destroyAwsClients } from '../../infra/aws';
import { configToEnv, loadConfig, type PipelineConfig } from '../../infra/config';
import { startPipeline, type StartOptions } from '../../infra/pipelineClient';
import { deprovisionDeadLetters, deprovisionEvents, provisionAll } from '../../infra/provisioning';
import { temporalClient } from '../../infra/temporal';
import { createWorker } from '../../workers/worker';
import type { BatchSettings } from '../../workflows/shardReader';
import { applyLocalStackEnv, PORTS, ROOT, stackUp } from '../../infra/localStack/localStack';
import { serviceCut, type ServiceCut } from './serviceCut';
import { installTestRuntime } from './testRuntime';
import { waitFor } from './waitFor';

export interface TestPipeline {
  config: PipelineConfig;
  client: TemporalClient;
  /** The in-process worker (undefined with `workerProcess`). */
  worker: Worker | undefined;
  pg: PgClient;
  /** Shuts the worker down (as a deploy would) and starts a new one on the same task queue. */
  restartWorker(): Promise<void>;
  /**
   * With `workerProcess`: SIGKILL the worker process (no shutdown at all), then start a new one.
   * `noticeNow`: tell the server at once what it notices later by its timeouts (the lost worker's
   * sticky queues after about 10 s, its started activity attempts at their heartbeat timeouts):
   * the open workflows' sticky queues are reset and their started attempts failed, so that what
   * runs next runs on the new worker without waiting those timeouts out.
   */
  killWorker(opts?: { noticeNow?: boolean }): Promise<void>;
  /** With `eventBridgeOutage`: EventBridge down and up again for this pipeline only. */
  eventBridge: ServiceCut | undefined;
  /** Process ids of the `extraWorkerProcesses` (benchmarks measure their CPU and memory). */
  extraWorkerPids(): number[];
  stop(): Promise<void>;
}

export interface TestPipelineOptions {
  shardCount?: number;
  rescanSeconds?: number;
  /** Start shard readers (default true); false: capture only, tests read the stream. */
  readers?: boolean;
  /** Run the worker as a separate process (so a test can SIGKILL it). */
  workerProcess?: boolean;
  /** With `workerProcess`: variables added to the worker process's environment (e.g. CDC_METRICS_PORT). */
  workerEnv?: Record<string, string>;
  capture?: StartOptions['capture'];
  /** Start and signal reservation-expiry workflows (default off: other tests' holds must stay as they are). */
  reservationExpiry?: boolean;
  /** Benchmarks only: no payload codec (in-process worker), to measure what encryption costs. */
  plainPayloads?: boolean;
  /** Worker processes started besides the worker, on the same task queue (scale-out benchmark). */
  extraWorkerProcesses?: number;
  /**
   * EventBridge reached through a proxy of this pipeline's own (`eventBridge.down()`/`up()`), so a
   * test takes EventBridge down for its pipeline without stopping the shared emulator.
   */
  eventBridgeOutage?: boolean;
}

/**
 * A pipeline of its own on the local stack (started or reused): stream, slot, publication,
 * tables, bus, queues and task queue carry a run id, so tests never see the main job's data
 * or each other's, and a running `npm start` does not disturb them.
 */
export async function startTestPipeline(
  settings: Partial<BatchSettings> = {},
  options: TestPipelineOptions = {},
): Promise<TestPipeline> {
  installTestRuntime();
  await stackUp();
  applyLocalStackEnv();
  const eventBridge = options.eventBridgeOutage ? await serviceCut(PORTS.moto) : undefined;
  const emulatorEndpoint = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  if (eventBridge) {
    // This process's clients (the in-process worker, provisioning) and a worker process's environment.
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBridge.endpoint;
    destroyAwsClients();
  }
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const config = loadConfig({
    ...process.env,
    CDC_STREAM: `cdc-test-${id}`,
    CDC_CONSUMER: 'test',
    CDC_TASK_QUEUE: `cdc-test-${id}`,
    CDC_STATE_TABLE: `cdc_state_${id}`,
    CDC_ENTITIES_TABLE: `cdc_entities_${id}`,
    CDC_INVENTORY_TABLE: `inventory_realtime_${id}`,
    CDC_DLQ_TABLE: `cdc_dlq_${id}`,
    CDC_EVENT_BUS: `cdc-test-${id}`,
    CDC_SLOT: `cdc_test_${id}`,
    CDC_PUBLICATION: `cdc_test_${id}`,
    ...(options.shardCount ? { CDC_SHARD_COUNT: String(options.shardCount) } : {}),
    // Reservation expiry only where a test asks for it: a released hold would change other tests' rows.
    CDC_RESERVATION_EXPIRY: options.reservationExpiry ? 'on' : 'off',
  });
  // A setup that fails half-way releases what it provisioned (a leaked slot retains WAL, and
  // PostgreSQL has only max_replication_slots of them).
  let startedHost: WorkerHost | undefined;
  let startedClient: TemporalClient | undefined;
  const extraHosts: WorkerHost[] = [];
  try {
    await provisionAll(config);
    for (let i = 0; i < (options.extraWorkerProcesses ?? 0); i++)
      extraHosts.push(processWorker(config, options.workerEnv));
    startedHost = options.workerProcess
      ? processWorker(config, options.workerEnv)
      : await inProcessWorker(config, options.plainPayloads === true);
    startedClient = await temporalClient({ plainPayloads: options.plainPayloads === true });
    await startPipeline(startedClient, config, {
      settings: { idleWaitMs: 2_000, ...settings },
      rescanSeconds: options.rescanSeconds ?? 2,
      ...(options.readers === false ? { readers: false } : {}),
      ...(options.capture ? { capture: options.capture } : {}),
    });
  } catch (err) {
    if (startedClient) await terminateOpen(startedClient, config).catch(() => undefined);
    await startedHost?.stop().catch(() => undefined);
    await Promise.all(extraHosts.map((h) => h.stop().catch(() => undefined)));
    await startedClient?.connection.close().catch(() => undefined);
    await releaseResources(config, 5_000).catch(() => undefined);
    if (eventBridge) await restoreEventBridge(eventBridge, emulatorEndpoint);
    throw err;
  }
  const host = startedHost!;
  const client = startedClient!;
  const pg = new PgClient();
  await pg.connect();

  const restartWorker = async () => {
    await host.stop();
    await host.start();
    handle.worker = host.worker();
  };
  const killWorker = async (opts: { noticeNow?: boolean } = {}) => {
    await host.kill();
    if (opts.noticeNow) await noticeLostWorker(client, config);
    await host.start();
  };

  const stop = async () => {
    if (process.env.CDC_RECORD_HISTORIES)
      await recordHistories(client, config, process.env.CDC_RECORD_HISTORIES);
    await terminateOpen(client, config);
    await host.stop();
    await Promise.all(extraHosts.map((h) => h.stop()));
    await client.connection.close();
    await pg.end();
    await releaseResources(config, 30_000);
    if (eventBridge) await restoreEventBridge(eventBridge, emulatorEndpoint);
  };
  const extraWorkerPids = () => extraHosts.flatMap((h) => h.pid() ?? []);
  const handle: TestPipeline = {
    config,
    client,
    worker: host.worker(),
    pg,
    restartWorker,
    killWorker,
    extraWorkerPids,
    eventBridge,
    stop,
  };
  return handle;
}

/** Back to the emulator's own endpoint, and clients that use it. */
async function restoreEventBridge(cut: ServiceCut, endpoint: string | undefined): Promise<void> {
  await cut.close();
  if (endpoint === undefined) delete process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
  else process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = endpoint;
  destroyAwsClients();
}

async function terminateOpen(client: TemporalClient, config: PipelineConfig): Promise<void> {
  for (const wf of await listOpen(client, config))
    await client.workflow
      .getHandle(wf)
      .terminate('test finished')
      .catch(() => undefined);
}

/** What the server notices of a SIGKILLed worker by its timeouts, told at once (see `killWorker`). */
async function noticeLostWorker(client: TemporalClient, config: PipelineConfig): Promise<void> {
  const { namespace } = client.options;
  for (const workflowId of await listOpen(client, config)) {
    const d = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch(() => undefined);
    if (!d) continue;
    await client.workflowService
      .resetStickyTaskQueue({ namespace, execution: { workflowId, runId: d.runId } })
      .catch(() => undefined);
    for (const a of d.raw.pendingActivities ?? [])
      if (
        a.activityId &&
        a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
      )
        await client.activity
          .fail(
            { workflowId, runId: d.runId, activityId: a.activityId },
            new Error('worker SIGKILLed (test)'),
          )
          .catch(() => undefined); // finished or timed out meanwhile: nothing to tell
  }
}

/** Drops the slot (once the capture activity let it go) and publication, deletes stream, bus, queues and tables. */
async function releaseResources(config: PipelineConfig, slotWaitMs: number): Promise<void> {
  const pg = new PgClient();
  await pg.connect();
  try {
    await waitFor(
      `slot ${config.slot} to be released`,
      async () => {
        await pg.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
          [config.slot],
        );
        return true;
      },
      { timeoutMs: slotWaitMs, intervalMs: 500 },
    );
    await pg.query(`DROP PUBLICATION IF EXISTS ${config.publication}`);
  } finally {
    await pg.end();
  }
  const { kinesis, dynamo } = awsClients();
  await kinesis.send(new DeleteStreamCommand({ StreamName: config.stream })).catch(() => undefined);
  await deprovisionEvents(config).catch(() => undefined);
  await deprovisionDeadLetters(config).catch(() => undefined);
  for (const TableName of Object.values(config.tables))
    await dynamo.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
}

async function listOpen(client: TemporalClient, config: PipelineConfig): Promise<string[]> {
  const ids: string[] = [];
  const query = `TaskQueue = '${config.taskQueue}' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

/** Saves the histories of this run's workflows (one per workflow type) for the replay test. */
async function recordHistories(client: TemporalClient, config: PipelineConfig, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const seen = new Set<string>();
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${config.taskQueue}'` })) {
    if (seen.has(wf.type)) continue;
    seen.add(wf.type);
    const history = await client.workflow.getHandle(wf.workflowId).fetchHistory();
    writeFileSync(join(dir, `${wf.type}.json`), JSON.stringify(history));
  }
}

interface WorkerHost {
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  worker(): Worker | undefined;
  pid(): number | undefined;
}

async function inProcessWorker(config: PipelineConfig, plainPayloads = false): Promise<WorkerHost> {
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const host: WorkerHost = {
    async start() {
      worker = await createWorker({ config, plainPayloads });
      running = worker.run();
    },
    async stop() {
      worker?.shutdown();
      await running;
    },
    kill: () => Promise.reject(new Error('killWorker needs { workerProcess: true }')),
    worker: () => worker,
    pid: () => process.pid,
  };
  await host.start();
  return host;
}

/** The worker as its own process (`tsx workers/worker.ts`), configured through the environment like in production. */
function processWorker(config: PipelineConfig, workerEnv: Record<string, string> = {}): WorkerHost {
  let child: ChildProcess | undefined;
  // Metrics off unless the test asks for a port: worker processes of tests running side by side
  // (scripts/test.sh runs two lanes) must not all bind the default 9464/9465.
  const env = { ...process.env, CDC_METRICS_PORT: 'off', ...configToEnv(config), ...workerEnv };
  const logPath = join(ROOT, '.stack', `worker-${config.taskQueue}.log`);
  const exited = (c: ChildProcess) =>
    new Promise<void>((r) => (c.exitCode !== null || c.signalCode ? r() : c.once('exit', () => r())));
  // A worker that exits by itself (not stopped or killed by the test) is started again once, as a
  // process supervisor would, and said so: the log names the cause.
  let restarts = 0;
  const host: WorkerHost = {
    async start() {
      const log = openSync(logPath, 'a');
      // One process (tsx as a loader, not its CLI, which would run the worker in a child process).
      const c = spawn(process.execPath, ['--import', 'tsx', 'workers/worker.ts'], {
        cwd: ROOT,
        env,
        stdio: ['ignore', log, log],
      });
      child = c;
      closeSync(log);
      c.once('exit', (code, signal) => {
        if (child !== c || signal || code === 0) return; // stopped or killed by the test
        console.error(
          `      worker process of ${config.taskQueue} exited with code ${code} (see ${logPath})`,
        );
        if (restarts++ < 1) void host.start();
      });
    },
    async stop() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill('SIGTERM');
      await exited(c);
    },
    async kill() {
      if (!child) return;
      const c = child;
      child = undefined;
      c.kill('SIGKILL');
      await exited(c);
    },
    worker: () => undefined,
    pid: () => child?.pid,
  };
  void host.start();
  return host;
}
