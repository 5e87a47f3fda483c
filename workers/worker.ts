/** The worker process: hosts every workflow and activity of the pipeline on the `cdc-pipeline` task queue. */
import type { Server } from 'node:http';
import type { Logger } from '@temporalio/common';
import { Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities';
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

async function main(): Promise<void> {
  const { logger, metrics } = installWorkerRuntime();
  // Against a running local stack without hand-set variables, like every script (infra/localStack/environment.ts).
  await useEnvironment({ log: (line) => logger.info(line, { component: 'environment' }) });
  let server: Server | undefined;
  let worker: Worker | undefined;
  try {
    worker = await createWorker({ logger });
    if (metrics) {
      server = await startMetricsServer(metrics);
      logger.info('metrics served', { endpoint: `http://${metrics.host}:${metrics.port}/metrics` });
    }
    await worker.run();
  } finally {
    if (server) await stopMetricsServer(server);
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
