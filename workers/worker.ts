/** The worker process: hosts every workflow and activity of the pipeline on the `cdc-pipeline` task queue. */
import type { Server } from 'node:http';
import type { Logger } from '@temporalio/common';
import { ConfigurationError } from '../domain/core/errors';
import { Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities';
import { awsClients } from '../infra/aws';
import type { ActivityDeps } from '../activities/deps';
import { assertProductionSecrets, loadConfig, type PipelineConfig } from '../infra/config';
import { createJsonLogger, logLevelFromEnv } from '../infra/logging';
import {
  metricsEndpointFromEnv,
  sdkMetricsOption,
  startMetricsServer,
  stopMetricsServer,
} from '../infra/metrics';
import { checkSchemaAtStartup } from '../infra/schemaCheck';
import { assertSearchAttributes } from '../infra/searchAttributes';
import { workerConnection } from '../infra/temporal';
import { useEnvironment } from '../infra/localStack/environment';
import {
  cachedReadiness,
  healthEndpointFromEnv,
  healthServerUrl,
  readinessPool,
  type Readiness,
  startHealthServer,
  stopHealthServer,
  workerReadinessChecks,
} from './health';

/**
 * `CDC_SHUTDOWN_GRACE_MS`: on SIGTERM/SIGINT the worker stops polling and lets running activities
 * finish this long before it cancels them (capture then puts what it buffered and acknowledges it;
 * a cancelled pull or apply is retried by its workflow on another worker). Default 0, the SDK's:
 * cancel at once. The container image sets 5000 (inside Docker's 10 s stop timeout).
 */
export function shutdownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env.CDC_SHUTDOWN_GRACE_MS ?? '').trim() || '0';
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || ms > 600_000)
    throw new ConfigurationError(`invalid CDC_SHUTDOWN_GRACE_MS '${raw}': milliseconds (0-600000)`);
  return ms;
}

export async function createWorker(
  opts: {
    config?: PipelineConfig;
    logger?: Logger;
    /** Benchmarks only (`npm run bench -- --codec off`): payloads unencrypted, to measure what the codec costs. */
    plainPayloads?: boolean;
    /** The workflows already bundled (several workers in one process bundle once). */
    workflowBundle?: WorkflowBundleWithSourceMap;
    /** Benchmarks only (`npm run bench -- --sinks simulated`): the activities' clients (default: the process's). */
    io?: Omit<ActivityDeps, 'config'>;
    /** How long running activities may finish after shutdown is asked before they are cancelled (default 0). */
    shutdownGraceMs?: number;
  } = {},
): Promise<Worker> {
  const config = opts.config ?? loadConfig();
  // Start-up refusals: the development HMAC secret outside the local stack; search attributes
  // missing in the namespace; a table file that does not match PostgreSQL (keys); warnings for
  // rule columns that do not exist and unruled PII.
  assertProductionSecrets(config);
  const warn = opts.logger
    ? (line: string) => opts.logger!.warn(line, { component: 'schema' })
    : (line: string) => console.warn(`[schema] ${line}`);
  const { connection, namespace, dataConverter } = await workerConnection();
  try {
    // The search attributes the workflows write must exist in the namespace (infra/searchAttributes.ts):
    // without one every upsert fails its workflow task; refuse, naming the command that creates them.
    await assertSearchAttributes(connection, namespace, (line) =>
      opts.logger ? opts.logger.warn(line, { component: 'search-attributes' }) : console.warn(line),
    );
    await checkSchemaAtStartup(config, warn);
  } catch (err) {
    await connection.close();
    throw err;
  }
  return Worker.create({
    connection,
    namespace,
    // Encrypted payloads and failures (infra/codec): history holds no plaintext rows.
    ...(opts.plainPayloads ? {} : { dataConverter }),
    taskQueue: config.taskQueue,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities(config, opts.io),
    maxConcurrentActivityTaskExecutions: 100,
    shutdownGraceTime: opts.shutdownGraceMs ?? 0,
  });
}

/**
 * The process's Temporal runtime, once and before any connection: JSON-line logs (infra/logging.ts,
 * `CDC_LOG_LEVEL`) for the SDK's, the workflows' and the activities' messages (native ones
 * forwarded too), and the SDK's Prometheus exporter when metrics are on (infra/metrics.ts).
 * Only the worker process calls it; tests that host workers in-process install their own.
 */
export function installWorkerRuntime(env: NodeJS.ProcessEnv = process.env): {
  logger: Logger;
  metrics: ReturnType<typeof metricsEndpointFromEnv>;
} {
  const level = logLevelFromEnv(env);
  const logger = (processLogger = createJsonLogger(level));
  const metrics = metricsEndpointFromEnv(env);
  Runtime.install({
    logger,
    telemetryOptions: {
      logging: { forward: {}, filter: { core: level, other: 'WARN' } },
      ...(metrics ? { metrics: sdkMetricsOption(metrics) } : {}),
    },
  });
  return { logger, metrics };
}

/** The worker process's logger, once installed (for its last words). */
let processLogger: Logger | undefined;

/**
 * The worker's start-up checks on its environment alone, before it connects anywhere: the pipeline
 * configuration (infra/config.ts), the redaction secret outside the local stack
 * (`assertProductionSecrets`), the metrics and health endpoints and the shutdown grace time.
 * Throws the first refusal (one clear line). test/unit/packaging/compose.test.ts runs it on
 * docker-compose.yml's worker environment.
 */
export function checkWorkerEnvironment(env: NodeJS.ProcessEnv = process.env): {
  config: PipelineConfig;
  health: ReturnType<typeof healthEndpointFromEnv>;
  metrics: ReturnType<typeof metricsEndpointFromEnv>;
  graceMs: number;
} {
  const config = loadConfig(env);
  assertProductionSecrets(config, env);
  return {
    config,
    health: healthEndpointFromEnv(env),
    metrics: metricsEndpointFromEnv(env),
    graceMs: shutdownGraceMs(env),
  };
}

async function main(): Promise<void> {
  const { logger, metrics } = installWorkerRuntime();
  // Against a running local stack without hand-set variables, like every script (infra/localStack/environment.ts).
  await useEnvironment({ log: (line) => logger.info(line, { component: 'environment' }) });
  const { config, health, graceMs } = checkWorkerEnvironment();
  let server: Server | undefined;
  let healthServer: Server | undefined;
  let worker: Worker | undefined;
  const pools: { end(): Promise<void> }[] = [];
  try {
    // Served from the start: /healthz answers while the workflows bundle; /readyz says `starting`.
    let readiness: () => Promise<Readiness> = async () => ({
      ready: false,
      checks: [{ name: 'worker', ok: false, ms: 0, error: 'starting (connecting, bundling the workflows)' }],
      checkedAt: new Date().toISOString(),
    });
    if (health) {
      healthServer = await startHealthServer(health, () => readiness());
      logger.info('health served', {
        endpoint: `${healthServerUrl(healthServer)}/healthz`,
        readiness: `${healthServerUrl(healthServer)}/readyz`,
      });
    }
    worker = await createWorker({ config, logger, shutdownGraceMs: graceMs });
    if (metrics) {
      server = await startMetricsServer(metrics);
      logger.info('metrics served', { endpoint: `http://${metrics.host}:${metrics.port}/metrics` });
    }
    if (health) {
      const pg = readinessPool();
      const analyticsPg = config.sink === 'analytics' ? readinessPool(config.analyticsDatabase) : undefined;
      pools.push(pg, ...(analyticsPg ? [analyticsPg] : []));
      const checks = workerReadinessChecks({
        config,
        worker,
        connection: worker.connection!,
        namespace: worker.options.namespace,
        aws: awsClients(),
        pg,
        ...(analyticsPg ? { analyticsPg } : {}),
      });
      readiness = cachedReadiness(checks);
      logger.info(`readiness checks: ${checks.map((c) => c.name).join(', ')}`, { component: 'health' });
    }
    // The SDK's runtime shuts the worker down on SIGTERM/SIGINT (it stops polling, lets running
    // tasks finish for the grace time, then cancels them); these lines say so in the log.
    const running = worker;
    let drainStart: number | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (drainStart !== undefined) return;
      drainStart = Date.now();
      const st = running.getStatus();
      logger.info(
        `draining: ${signal}, no new tasks; ${st.numInFlightActivities} activities and ${st.numInFlightWorkflowActivations} workflow tasks in flight, ${graceMs} ms to finish before running activities are cancelled (capture acknowledges what is on the stream)`,
        { component: 'shutdown', inFlightActivities: st.numInFlightActivities, graceMs },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    await worker.run();
    if (drainStart !== undefined) {
      const st = worker.getStatus();
      logger.info(
        `drained: in ${Date.now() - drainStart} ms; ${st.numInFlightActivities} activities and ${st.numInFlightWorkflowActivations} workflow tasks left, ${st.numCachedWorkflows} workflows cached`,
        { component: 'shutdown', inFlightActivities: st.numInFlightActivities },
      );
    }
  } finally {
    if (healthServer) await stopHealthServer(healthServer);
    if (server) await stopMetricsServer(server);
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    // The last native object: the runtime shuts down (log forwarding, SDK exporter) and the process can end.
    await worker?.connection?.close();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    // Configuration problems are one clear message; anything else with its stack.
    const name = (err as Error)?.name ?? '';
    const clear = /Configuration|Keyring/.test(name) || /^invalid /.test((err as Error)?.message ?? '');
    if (processLogger && clear) processLogger.error(`worker: ${(err as Error).message}`);
    else if (processLogger) processLogger.error('worker failed', { error: err });
    else console.error(clear ? `worker: ${(err as Error).message}` : err);
    process.exit(1);
  });
}
