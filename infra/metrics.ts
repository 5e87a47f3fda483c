/**
 * The pipeline's Prometheus metrics (docs/metrics.md): a process-global prom-client registry, the
 * typed helpers the activities record through (one call per activity call, never per record from
 * the activity's side), and the worker's `/metrics` endpoint, which also serves the Temporal SDK's
 * own runtime metrics (scraped from the SDK's exporter on loopback and appended).
 *
 * PII: labels are consumer, stream, shard, slot, table, op, step, source, category, alert kind and
 * backfill id.
 * Never a key or any other value of a row.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SlotHealth } from '../domain/capture/captureTypes';
import { ConfigurationError } from '../domain/core/errors';

/** The registry every pipeline metric is in (one per process: a worker). */
export const registry = new Registry();

/** Seconds from a source commit to apply or publish: 50 ms to a minute. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
/** Seconds one activity call of a step takes. */
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const registers = [registry];

const changes = new Counter({
  name: 'cdc_changes_total',
  help: 'Changes written by the sink (DynamoDB), by table and operation (c, u, d, r)',
  labelNames: ['consumer', 'table', 'op'] as const,
  registers,
});
const staleWrites = new Counter({
  name: 'cdc_stale_writes_total',
  help: 'Changes the sink refused because it already held the same or a newer version (replays, duplicates)',
  labelNames: ['consumer', 'table'] as const,
  registers,
});
const coalescedWrites = new Counter({
  name: 'cdc_coalesced_writes_total',
  help: 'Changes not written because a newer full change of the same key came later in the batch',
  labelNames: ['consumer'] as const,
  registers,
});
const batchRereads = new Counter({
  name: 'cdc_batch_rereads_total',
  help: 'Batches a step found in no worker cache and read again (source: kinesis or s3, the copy of a held batch)',
  labelNames: ['consumer', 'source'] as const,
  registers,
});
const outdatedChanges = new Counter({
  name: 'cdc_outdated_changes_total',
  help: 'Changes older than what the sink held (replayed or out of order): not written, not published',
  labelNames: ['consumer'] as const,
  registers,
});
const eventsPublished = new Counter({
  name: 'cdc_events_published_total',
  help: 'Events EventBridge accepted, by table',
  labelNames: ['consumer', 'table'] as const,
  registers,
});
const publishRejected = new Counter({
  name: 'cdc_publish_rejected_total',
  help: 'Events EventBridge rejected for good (dead-lettered)',
  labelNames: ['consumer'] as const,
  registers,
});
const deadLetters = new Counter({
  name: 'cdc_dead_letters_total',
  help: 'Records parked in the DLQ, by source (shard, capture) and category',
  labelNames: ['consumer', 'source', 'category'] as const,
  registers,
});
const alertsPublished = new Counter({
  name: 'cdc_alerts_published_total',
  help: 'Alerts published on the bus (each alertId once), by kind',
  labelNames: ['kind'] as const,
  registers,
});
const shardLagMs = new Gauge({
  name: 'cdc_shard_lag_ms',
  help: "Kinesis MillisBehindLatest of a shard's last pull (0 when caught up)",
  labelNames: ['stream', 'consumer', 'shard'] as const,
  registers,
});
const shardLastPull = new Gauge({
  name: 'cdc_shard_last_pull_timestamp_seconds',
  help: "Unix time of a shard's last completed pull on this worker (a STUCK or stopped reader stops moving it)",
  labelNames: ['stream', 'consumer', 'shard'] as const,
  registers,
});
const getRecordsCalls = new Counter({
  name: 'cdc_getrecords_calls_total',
  help: "GetRecords calls a worker made on a shard (its rate: calls per second, against the shard's 5 reads/s shared by every consumer)",
  labelNames: ['stream', 'shard', 'consumer'] as const,
  registers,
});
const backfillLagMs = new Gauge({
  name: 'cdc_backfill_lag_ms',
  help: "Kinesis MillisBehindLatest of a replay backfill's last read of a shard (never the live shard's lag)",
  labelNames: ['backfill', 'stream', 'shard'] as const,
  registers,
});
const captureLagBytes = new Gauge({
  name: 'cdc_capture_lag_bytes',
  help: "WAL bytes between PostgreSQL's current LSN and the slot's confirmed (acknowledged) LSN",
  labelNames: ['slot'] as const,
  registers,
});
const captureRetainedBytes = new Gauge({
  name: 'cdc_capture_wal_retained_bytes',
  help: 'WAL bytes PostgreSQL keeps for the slot (current LSN − restart LSN)',
  labelNames: ['slot'] as const,
  registers,
});
const batchDuration = new Histogram({
  name: 'cdc_batch_duration_seconds',
  help: 'Duration of one activity call of a shard reader step (transform, redact, apply, publish, dead_letter)',
  labelNames: ['consumer', 'step'] as const,
  buckets: STEP_BUCKETS,
  registers,
});
const commitToPublish = new Histogram({
  name: 'cdc_commit_to_publish_seconds',
  help: "Seconds from the source transaction's commit to EventBridge accepting its event",
  labelNames: ['consumer', 'table'] as const,
  buckets: LATENCY_BUCKETS,
  registers,
});
const commitToApply = new Histogram({
  name: 'cdc_commit_to_apply_seconds',
  help: "Seconds from the source transaction's commit to the sink writing the change",
  labelNames: ['consumer', 'table'] as const,
  buckets: LATENCY_BUCKETS,
  registers,
});

const holdSignals = new Counter({
  name: 'cdc_hold_changes_total',
  help: 'Reservation changes handed to reservation-expiry workflows (delivered) or with no running workflow to tell (ignored)',
  labelNames: ['result'] as const,
  registers,
});
const holdReleases = new Counter({
  name: 'cdc_hold_releases_total',
  help: 'Expiry releases run, by outcome (released, not-due, not-held, missing)',
  labelNames: ['outcome'] as const,
  registers,
});
const holdLateness = new Histogram({
  name: 'cdc_hold_release_lateness_seconds',
  help: "Seconds from a hold's deadline to its release (PostgreSQL's clock)",
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
  registers,
});

/** What the helpers need of a pipeline event (never its row). */
interface EventFacts {
  table: string;
  op: string;
  commitTs: string;
}

export type Step = 'transform' | 'redact' | 'apply' | 'publish' | 'dead_letter';

/** Observes, per event, now − commit time, grouped by table (one child lookup per table). */
function observeSinceCommit(h: typeof commitToApply, consumer: string, events: readonly EventFacts[]): void {
  const now = Date.now();
  const byTable = new Map<string, ReturnType<typeof h.labels>>();
  for (const e of events) {
    const committed = Date.parse(e.commitTs);
    if (Number.isNaN(committed)) continue;
    let child = byTable.get(e.table);
    if (!child) byTable.set(e.table, (child = h.labels(consumer, e.table)));
    child.observe(Math.max(0, now - committed) / 1000);
  }
}

/** Counts by a key of the events, then adds each count once. */
function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const i of items) counts.set(key(i), (counts.get(key(i)) ?? 0) + 1);
  return counts;
}

/** The helpers activities record through. */
export const metrics = {
  /** Times one activity call of a step (recorded whether it succeeds or fails). */
  async timed<T>(consumer: string, step: Step, fn: () => Promise<T>): Promise<T> {
    const end = batchDuration.startTimer({ consumer, step });
    try {
      return await fn();
    } finally {
      end();
    }
  },

  /** A pull of a shard returned: its lag behind the stream's tip (the series is removed once the shard ended). */
  pulled(
    shard: { stream: string; consumer: string; shardId: string },
    millisBehindLatest: number,
    ended: boolean,
  ) {
    const labels = { stream: shard.stream, consumer: shard.consumer, shard: shard.shardId };
    if (ended) {
      shardLagMs.remove(labels);
      shardLastPull.remove(labels);
      return;
    }
    shardLagMs.set(labels, millisBehindLatest);
    shardLastPull.set(labels, Date.now() / 1000);
  },

  /**
   * A replay backfill read a shard: its own position (`cdc_backfill_lag_ms`), apart from the live
   * shard reader's `cdc_shard_lag_ms`; the series is removed once the replay of the shard is done.
   */
  backfillPulled(
    read: { backfillId: string; stream: string; shardId: string },
    millisBehindLatest: number,
    done: boolean,
  ) {
    const labels = { backfill: read.backfillId, stream: read.stream, shard: read.shardId };
    if (done) backfillLagMs.remove(labels);
    else backfillLagMs.set(labels, millisBehindLatest);
  },

  /** What the sink did with a batch: changes written and refused as stale (by table), and coalesced. */
  applied(consumer: string, written: readonly EventFacts[], stale: readonly EventFacts[], coalesced: number) {
    for (const [k, n] of countBy(written, (e) => `${e.table}\u0000${e.op}`)) {
      const [table, op] = k.split('\u0000');
      changes.inc({ consumer, table, op }, n);
    }
    for (const [table, n] of countBy(stale, (e) => e.table)) staleWrites.inc({ consumer, table }, n);
    coalescedWrites.inc({ consumer }, coalesced); // also 0: the series exists from the first batch on
    observeSinceCommit(commitToApply, consumer, written);
  },

  /** One GetRecords call on a shard (a pull's page, a trimmed-checkpoint check, a batch read back). */
  getRecordsCalled(call: { stream: string; shardId: string; consumer: string }) {
    getRecordsCalls.inc({ stream: call.stream, shard: call.shardId, consumer: call.consumer });
  },

  /** A batch read back by reference from Kinesis or its S3 copy instead of the worker's cache. */
  batchReread(consumer: string, source: 'kinesis' | 's3') {
    batchRereads.inc({ consumer, source });
  },

  /** Changes the sink found older than what it held (not published). */
  outdated(consumer: string, n: number) {
    outdatedChanges.inc({ consumer }, n);
  },

  /** Events EventBridge accepted (by table, with their commit-to-publish latency) and rejected for good. */
  published(consumer: string, accepted: readonly EventFacts[], rejected: number) {
    for (const [table, n] of countBy(accepted, (e) => e.table)) eventsPublished.inc({ consumer, table }, n);
    publishRejected.inc({ consumer }, rejected);
    observeSinceCommit(commitToPublish, consumer, accepted);
  },

  /** Records parked in the DLQ. */
  deadLettered(consumer: string, source: 'shard' | 'capture', categories: readonly string[]) {
    for (const [category, n] of countBy(categories, (c) => c))
      deadLetters.inc({ consumer, source, category }, n);
  },

  /** Alerts published now (not the ones published before). */
  alertsPublished(alerts: readonly { kind: string }[]) {
    for (const [kind, n] of countBy(alerts, (a) => a.kind)) alertsPublished.inc({ kind }, n);
  },

  /** Reservation changes handed to expiry workflows. */
  holdsSignalled(delivered: number, ignored: number) {
    holdSignals.inc({ result: 'delivered' }, delivered);
    holdSignals.inc({ result: 'ignored' }, ignored);
  },

  /** One expiry release and, when it released, how late after the deadline. */
  holdReleased(outcome: string, lateSeconds?: number) {
    holdReleases.inc({ outcome });
    if (lateSeconds !== undefined) holdLateness.observe(Math.max(0, lateSeconds));
  },

  /** The replication slot's lag and retained WAL, as the capture health check read them. */
  slotHealth(h: Pick<SlotHealth, 'slot' | 'lagBytes' | 'walRetainedBytes'>) {
    captureLagBytes.set({ slot: h.slot }, h.lagBytes);
    captureRetainedBytes.set({ slot: h.slot }, h.walRetainedBytes);
  },
};

/** Where the worker serves /metrics; undefined when switched off. */
export interface MetricsEndpoint {
  host: string;
  port: number;
  /** The Temporal SDK's Prometheus exporter: always on loopback (our endpoint proxies it). */
  sdkBindAddress: string;
}

/**
 * `CDC_METRICS_HOST` (default 127.0.0.1), `CDC_METRICS_PORT` (default 9464; `0` or `off`
 * disables), `CDC_METRICS_SDK_PORT` (default the port + 1: the SDK exporter, on 127.0.0.1).
 */
export function metricsEndpointFromEnv(env: NodeJS.ProcessEnv = process.env): MetricsEndpoint | undefined {
  const raw = (env.CDC_METRICS_PORT ?? '').trim() || '9464';
  if (raw === '0' || raw.toLowerCase() === 'off') return undefined;
  const port = portNumber('CDC_METRICS_PORT', raw);
  const sdkPort = portNumber(
    'CDC_METRICS_SDK_PORT',
    (env.CDC_METRICS_SDK_PORT ?? '').trim() || String(port + 1),
  );
  const host = (env.CDC_METRICS_HOST ?? '').trim() || '127.0.0.1';
  return { host, port, sdkBindAddress: `127.0.0.1:${sdkPort}` };
}

function portNumber(name: string, raw: string): number {
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535)
    throw new ConfigurationError(`invalid ${name} '${raw}': a port (1-65535), or 0/off to disable metrics`);
  return port;
}

/** The Temporal runtime's telemetry option for the SDK's own metrics (Runtime.install). */
export function sdkMetricsOption(endpoint: MetricsEndpoint) {
  return {
    prometheus: { bindAddress: endpoint.sdkBindAddress, useSecondsForDurations: true },
  } as const;
}

/**
 * Serves `GET /metrics`: the pipeline's registry (with the process's default metrics) followed by
 * the SDK's exposition, fetched from its exporter (left out, with a comment, when it does not answer).
 */
export async function startMetricsServer(endpoint: MetricsEndpoint): Promise<Server> {
  if (!registry.getSingleMetric('process_cpu_seconds_total')) collectDefaultMetrics({ register: registry });
  const sdkUrl = `http://${endpoint.sdkBindAddress}/metrics`;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    exposition(sdkUrl).then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) =>
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).name}\n`),
    );
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

/** Our registry's exposition plus the SDK's. */
export async function exposition(sdkUrl?: string): Promise<string> {
  const ours = await registry.metrics();
  if (!sdkUrl) return ours;
  try {
    const res = await fetch(sdkUrl, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const sdk = await res.text();
    return `${ours.endsWith('\n') ? ours : `${ours}\n`}${sdk}`;
  } catch (err) {
    return `${ours}\n# Temporal SDK metrics unavailable (${sdkUrl}): ${(err as Error).message}\n`;
  }
}

/** Closes the server and its keep-alive connections. */
export function stopMetricsServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
