/**
 * The main job on the embedded local stack: start the services, provision, run the worker and
 * the capture and supervisor workflows, and print where to look. Ctrl-C stops the worker; the
 * stack keeps running until `npm run stack down`.
 */
import type { Server } from 'node:http';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { z } from 'zod';
import { destroyAwsClients } from '../infra/aws';
import { loadConfig, type PipelineConfig } from '../infra/config';
import { startMetricsServer, stopMetricsServer, type MetricsEndpoint } from '../infra/metrics';
import { consumerConfig, deploymentConsumers, provisionConsumer, startConsumer } from '../infra/consumers';
import { startPipeline } from '../infra/pipelineClient';
import { provisionAll } from '../infra/provisioning';
import { temporalClient } from '../infra/temporal';
import { startWallboard, wallboardPort, type Wallboard } from '../wallboard/server';
import { createWorker, installWorkerRuntime } from '../workers/worker';
import { useEnvironment } from '../infra/localStack/environment';
import {
  codecEndpoint,
  LOCAL_PAYLOAD_KEY_FILE,
  PORTS,
  PG_DATABASE,
  StackError,
} from '../infra/localStack/localStack';

async function main(): Promise<void> {
  const t0 = Date.now();
  // The workers' runtime as `npm run worker` installs it: JSON-line logs and the SDK's metrics
  // exporter, before any connection; the /metrics endpoint (same as the worker's) starts below.
  const { metrics } = installWorkerRuntime();
  console.log('Starting the local stack…');
  // The main job runs on the local stack: it points every variable still unset at it.
  await useEnvironment({ localStack: 'start', stackLog: (l) => console.log(`  ${l}`), summary: false });
  const config = loadConfig();
  console.log('Provisioning…');
  await provisionAll(config, (l) => console.log(`  ${l}`));
  // The consumers of the stream (infra/consumers.ts): operational (DynamoDB + EventBridge) and,
  // unless CDC_ANALYTICS=off, analytics (docs/analytics.md), each with its own worker and task queue.
  const analytics = z
    .enum(['on', 'off'])
    .default('on')
    .parse(process.env.CDC_ANALYTICS || undefined);
  const consumers = deploymentConsumers(config)
    .filter((c) => c.sink === 'operational' || analytics === 'on')
    .map((c) => consumerConfig(config, c));
  for (const c of consumers) await provisionConsumer(c);
  // One workflow bundle for every consumer's worker (bundling takes seconds).
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  const workers: Worker[] = [];
  for (const c of consumers) workers.push(await createWorker({ config: c, workflowBundle }));
  const client = await temporalClient();
  await startPipeline(client, consumers[0]!);
  for (const c of consumers.slice(1)) await startConsumer(client, c);
  const metricsServer = await startMainMetrics(metrics);
  const wallboard = await startMainWallboard(config);
  const ui = `http://127.0.0.1:${PORTS.temporalUi}`;
  console.log(`
Pipeline running (ready in ${((Date.now() - t0) / 1000).toFixed(1)}s).
  Temporal Web UI:  ${ui}/namespaces/default/workflows
  Wallboard:        ${wallboard.line}
  Metrics:          ${metricsServer.line}
  Consumers:        ${consumers.map((c) => `${c.consumer} (${c.sink}, task queue ${c.taskQueue})`).join(', ')}
  Payloads:         encrypted (AES-256-GCM, keys in ${process.env.CDC_PAYLOAD_KEY_FILE ?? 'CDC_PAYLOAD_KEYS'});
                    the Web UI decodes them through the codec server ${codecEndpoint()}
  CLI, decoded:     temporal workflow show --codec-endpoint ${codecEndpoint()} --workflow-id <id>${
    process.env.CDC_PAYLOAD_KEY_FILE === LOCAL_PAYLOAD_KEY_FILE
      ? ''
      : `\n  Note:             your own keys are set; the stack's codec server decodes with ${LOCAL_PAYLOAD_KEY_FILE} only`
  }
  Make a change:    psql -h 127.0.0.1 -p ${PORTS.postgres} -U postgres ${PG_DATABASE} \\
                      -c "INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ('SKU-1', 1, 100)"
  See it arrive:    npm run -s inspect -- inventory SKU-1#1, and on the wallboard
                    (it reads queues of its own; the consumers' queues keep every event:
                    npm run -s inspect -- queue ${config.eventBus}-inventory-events)
  Stop:             Ctrl-C (worker), then: npm run stack down
`);
  const shutdown = () => workers.forEach((w) => w.shutdown());
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  await Promise.all(workers.map((w) => w.run()));
  await wallboard.running?.stop();
  if (metricsServer.running) await stopMetricsServer(metricsServer.running);
  await client.connection.close();
  destroyAwsClients();
}

/**
 * The Prometheus endpoint `npm run worker` serves (infra/metrics.ts, docs/metrics.md: CDC_METRICS_HOST,
 * CDC_METRICS_PORT, default 127.0.0.1:9464): the pipeline's metrics of every worker in this process
 * and the SDK's. A port in use is reported, not fatal (another worker may serve it).
 */
async function startMainMetrics(
  endpoint: MetricsEndpoint | undefined,
): Promise<{ running?: Server; line: string }> {
  if (!endpoint) return { line: 'off (CDC_METRICS_PORT=off)' };
  try {
    const running = await startMetricsServer(endpoint);
    return { running, line: `http://${endpoint.host}:${endpoint.port}/metrics (Prometheus)` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return { line: `not served: port ${endpoint.port} is in use (set CDC_METRICS_PORT)` };
  }
}

/** The wallboard (docs/wallboard.md) on CDC_WALLBOARD_PORT; a port in use is reported, not fatal. */
async function startMainWallboard(config: PipelineConfig): Promise<{ running?: Wallboard; line: string }> {
  const port = wallboardPort();
  if (port === undefined) return { line: 'off (CDC_WALLBOARD_PORT=off)' };
  try {
    const running = await startWallboard({ config, port });
    return { running, line: `${running.url} (stock, orders and alerts, live)` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return { line: `not started: port ${port} is in use (set CDC_WALLBOARD_PORT)` };
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof StackError ? `stack: ${err.message}` : err);
  process.exit(1);
});
