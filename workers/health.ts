/**
 * The worker's health endpoints (issue 22): `GET /healthz` (the process answers: 200) and
 * `GET /readyz` (200 only when every readiness check passes, else 503), both with a JSON body.
 *
 * Readiness checks are injected (`ReadinessCheck`): the worker process passes
 * `workerReadinessChecks` (the Temporal connection, and each sink it writes to, one cheap call
 * each); tests pass their own. Results are cached for `cacheMs` (a load balancer or kubelet
 * probing every second costs one round of calls per few seconds), concurrent probes share one
 * round, and each check is bounded by `timeoutMs`. Bodies name each check with its outcome and,
 * when it fails, the error's name and message (AWS/pg/gRPC errors: no row values).
 *
 * Settings (like the metrics endpoint, infra/metrics.ts): `CDC_HEALTH_PORT` (unset, 0 or `off`:
 * no endpoint), `CDC_HEALTH_HOST` (default 127.0.0.1; `0.0.0.0` in a container, whose port is
 * published or probed by the orchestrator).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeEventBusCommand } from '@aws-sdk/client-eventbridge';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { ConfigurationError } from '../domain/core/errors';
import type { AwsClients } from '../infra/aws';
import type { PipelineConfig } from '../infra/config';
import { pgPool } from '../infra/pgConnection';

export interface ReadinessCheck {
  /** Names the check in the body (`temporal`, `dynamodb`, …). */
  name: string;
  /** Resolves when the dependency answers; throws (or rejects) when it does not. */
  check: () => Promise<void>;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** How long the check took. */
  ms: number;
  /** When it failed: the error's name and message, bounded. */
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: CheckResult[];
  /** When this round ran (ISO): a cached answer shows its age. */
  checkedAt: string;
}

export interface ReadinessOptions {
  /** A round's answer is reused this long (default 5 s). */
  cacheMs?: number;
  /** A check not done within this fails (default 3 s). */
  timeoutMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export const DEFAULT_READINESS_CACHE_MS = 5_000;
export const DEFAULT_READINESS_TIMEOUT_MS = 3_000;
const MAX_ERROR_CHARS = 300;

/** Runs the checks in parallel, each bounded; one failing makes the whole not ready. */
export async function runChecks(
  checks: readonly ReadinessCheck[],
  timeoutMs = DEFAULT_READINESS_TIMEOUT_MS,
  now: () => number = Date.now,
): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async ({ name, check }): Promise<CheckResult> => {
      const start = now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
        return { name, ok: true, ms: now() - start };
      } catch (err) {
        return { name, ok: false, ms: now() - start, error: describeError(err) };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results, checkedAt: new Date(now()).toISOString() };
}

function describeError(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; code?: unknown };
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' && e.message ? e.message : String(e?.code ?? err);
  const text = `${name}: ${message}`.replace(/\s+/g, ' ');
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

/** The readiness of a set of checks, cached for `cacheMs`; concurrent callers share one round. */
export function cachedReadiness(
  checks: readonly ReadinessCheck[],
  opts: ReadinessOptions = {},
): () => Promise<Readiness> {
  const cacheMs = opts.cacheMs ?? DEFAULT_READINESS_CACHE_MS;
  const now = opts.now ?? Date.now;
  let last: { at: number; value: Readiness } | undefined;
  let running: Promise<Readiness> | undefined;
  return () => {
    if (last && now() - last.at < cacheMs) return Promise.resolve(last.value);
    running ??= runChecks(checks, opts.timeoutMs, now).then((value) => {
      last = { at: now(), value };
      running = undefined;
      return value;
    });
    return running;
  };
}

export interface HealthEndpoint {
  host: string;
  port: number;
}

/** `CDC_HEALTH_PORT` / `CDC_HEALTH_HOST`; undefined when the endpoint is off (the default). */
export function healthEndpointFromEnv(env: NodeJS.ProcessEnv = process.env): HealthEndpoint | undefined {
  const raw = (env.CDC_HEALTH_PORT ?? '').trim();
  if (raw === '' || raw === '0' || raw.toLowerCase() === 'off') return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65_535)
    throw new ConfigurationError(`invalid CDC_HEALTH_PORT '${raw}': a port (1-65535), or 0/off for none`);
  const host = (env.CDC_HEALTH_HOST ?? '').trim() || '127.0.0.1';
  return { host, port };
}

/** Serves `/healthz` and `/readyz` (GET or HEAD); resolves once listening (`port` 0: any free one). */
export async function startHealthServer(
  endpoint: HealthEndpoint,
  readiness: () => Promise<Readiness>,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : `${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'GET /healthz or /readyz' });
    if (path === '/healthz')
      return send(200, { status: 'ok', pid: process.pid, uptimeS: Math.round(process.uptime()) });
    if (path === '/readyz') {
      readiness().then(
        (r) => send(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ...r }),
        (err: unknown) => send(503, { status: 'not ready', error: describeError(err) }),
      );
      return;
    }
    send(404, { error: `no route ${path}; GET /healthz or /readyz` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.port, endpoint.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function healthServerUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

export function stopHealthServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface WorkerReadinessDeps {
  config: PipelineConfig;
  /** The worker (its state must be RUNNING) and its connection to Temporal. */
  worker: Pick<Worker, 'getState'>;
  connection: Pick<NativeConnection, 'workflowService'>;
  namespace: string;
  aws: Pick<AwsClients, 'dynamo' | 'events' | 'kinesis'>;
  /** A pool on the source database (PG*), for `SELECT 1`. */
  pg: Pick<Pool, 'query'>;
}

/**
 * What this worker needs to do its work, one cheap call each: Temporal (the worker runs and the
 * namespace answers), the stream (DescribeStreamSummary), PostgreSQL (`SELECT 1`: capture runs on
 * every worker of the task queue), and the sinks of its consumer: the state table
 * (DescribeTable) and, for the operational sink, the event bus (DescribeEventBus); for the
 * analytics sink, its database (`SELECT 1` on the analytics pool when given).
 */
export function workerReadinessChecks(
  deps: WorkerReadinessDeps & { analyticsPg?: Pick<Pool, 'query'> },
): ReadinessCheck[] {
  const { config, aws } = deps;
  const checks: ReadinessCheck[] = [
    {
      name: 'temporal',
      check: async () => {
        const state = deps.worker.getState();
        if (state !== 'RUNNING') throw new Error(`worker is ${state}`);
        await deps.connection.workflowService.describeNamespace({ namespace: deps.namespace });
      },
    },
    {
      name: 'kinesis',
      check: async () => {
        await aws.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: config.stream }));
      },
    },
    {
      name: 'dynamodb',
      check: async () => {
        await aws.dynamo.send(new DescribeTableCommand({ TableName: config.tables.state }));
      },
    },
    {
      name: 'postgres',
      check: async () => {
        await deps.pg.query('SELECT 1');
      },
    },
  ];
  if (config.sink === 'operational')
    checks.push({
      name: 'eventbridge',
      check: async () => {
        await aws.events.send(new DescribeEventBusCommand({ Name: config.eventBus }));
      },
    });
  else if (deps.analyticsPg) {
    const analytics = deps.analyticsPg;
    checks.push({
      name: 'analytics',
      check: async () => {
        await analytics.query('SELECT 1');
      },
    });
  }
  return checks;
}

/**
 * A small pool for the readiness `SELECT 1`, connecting as the activities' pools do
 * (infra/pgConnection.ts: PG*, TLS, Secrets Manager or IAM credentials), bounded in time.
 */
export function readinessPool(database?: string): Pool {
  const pool = pgPool({
    ...(database ? { database } : {}),
    max: 1,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: DEFAULT_READINESS_TIMEOUT_MS,
    application_name: 'cdc-worker-readiness',
    allowExitOnIdle: true,
  });
  pool.on('error', () => undefined); // a server closing the idle connection: the next check reconnects
  return pool;
}
