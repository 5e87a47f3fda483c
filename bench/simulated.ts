/**
 * The pipeline's own ceiling (issue 20, item 4): `npm run bench -- --sinks simulated`
 * (= `npm run bench:simulated`).
 *
 *   npm run bench:simulated -- [--shards 1,4] [--rate 1000] [--seconds 15] [--backlog 5000]
 *                              [--consumers pipeline,direct] [--max-records 500]
 *                              [--sim-dynamo-ms 5] [--sim-events-ms 25] [--sim-kinesis-get-ms 15]
 *                              [--sim-kinesis-put-ms 20] [--sim-kinesis-control-ms 10] [--sim-s3-ms 30]
 *                              [--smoke]
 *
 * DynamoDB, EventBridge, S3 and Kinesis are in-process fakes (bench/lib/simulatedAws.ts)
 * that answer after a fixed, AWS-like latency and keep their data; Temporal is the local stack's
 * real dev server. So what is measured is Temporal orchestration and our code: the shard readers
 * (the real worker, `createWorker`, with the fakes as the activities' clients) and, side by side,
 * the direct consumer (bench/lib/directConsumer.ts: the same activities in a plain loop,
 * no Temporal) on fakes of its own. The load generator (bench/lib/simulatedLoad.ts) writes
 * change events of the benchmark's mix straight into the fake Kinesis (no PostgreSQL, no capture);
 * a change's commit time is when it was written.
 *
 * For each shard count (--shards, default 1 and 4) and each consumer (pipeline, direct), on fresh
 * fakes, one after the other:
 * 1. backlog: --backlog changes per shard written first, then the consumer started: its drain rate
 *    (accepted events over the 5th–95th percentile of their acceptance times ÷ 0.9) is its maximum;
 * 2. rate: --rate changes/s per shard (default 1,000: what a Kinesis shard takes) for --seconds;
 *    delivered changes/s (over at least the commits' span) and commit→publish p50/p90/p99 (the
 *    PutEvents call that carried the change's event returned, minus its commit time). Kept up:
 *    every change published within --drain seconds of the last commit, delivered ≥ 0.9 × offered.
 * Per run, the checks: every change written was published (missing), none twice (duplicates),
 * each key's events in commit order (order violations: an event older than one already accepted
 * for its key), and DynamoDB holds each key's newest published version (state mismatches).
 * Pipeline rows add Temporal actions and history events per 1,000 changes (shard-reader
 * histories, bench/lib/temporalCost.ts), all rows CPU seconds per 1,000 changes of this
 * process (worker, fakes, load generator and the local Temporal server's client side; the server is
 * another process, not counted).
 * Targets: one shard reader sustains 1,000 changes/s with commit→publish p99 < 1 s; four shards'
 * backlog rate ≥ 2.5 × one shard's.
 * Output: the table on stdout, `.cache/bench/simulated-<time>.json`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig, type PipelineConfig } from '../infra/config';
import { startConsumer } from '../infra/consumers';
import { temporalClient } from '../infra/temporal';
import { installTestRuntime } from '../test/support/testRuntime';
import { createWorker } from '../workers/worker';
import { shardWorkflowId, supervisorWorkflowId } from '../workflows/names';
import { DEFAULT_BATCH, statusQuery } from '../workflows/shardReader/definitions';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT, serviceStatus } from '../infra/localStack/localStack';
import { DirectConsumer } from './lib/directConsumer';
import { summarize, type Percentiles } from './lib/latency';
import { SimulatedAws, simLatencyFromEnv, type SimEvent, type SimLatency } from './lib/simulatedAws';
import { lsnNumber, lsnText, SimulatedWorkload, type SimLoadResult } from './lib/simulatedLoad';
import { shardReaderCost, type CostBucket } from './lib/temporalCost';
import { UsageMeter } from './lib/usage';

export type SimConsumer = 'pipeline' | 'direct';

export interface SimBenchOptions {
  shardCounts: number[];
  /** Offered changes/s per shard in the rate phase. */
  ratePerShard: number;
  seconds: number;
  /** Backlog changes per shard. */
  backlogPerShard: number;
  /** Seconds after the last commit within which every change must be published. */
  drainSeconds: number;
  consumers: SimConsumer[];
  maxRecords: number;
  /** How long a caught-up pull waits for records (the shard readers' idleWaitMs). */
  idleWaitMs: number;
  latency: SimLatency;
  smoke: boolean;
  outDir: string;
  log: (line: string) => void;
}

export const DEFAULT_SIM_OPTIONS: SimBenchOptions = {
  shardCounts: [1, 4],
  ratePerShard: 1000,
  seconds: 15,
  backlogPerShard: 5000,
  drainSeconds: 15,
  consumers: ['pipeline', 'direct'],
  maxRecords: DEFAULT_BATCH.maxRecords,
  idleWaitMs: 2_000,
  latency: simLatencyFromEnv(),
  smoke: false,
  outDir: join(ROOT, '.cache', 'bench'),
  log: (line) => console.log(line),
};

/** Seconds, not minutes: one and two shards, a small backlog and rate (CI's smoke run). */
export const SIM_SMOKE_OPTIONS: Partial<SimBenchOptions> = {
  shardCounts: [1, 2],
  ratePerShard: 50,
  seconds: 2,
  backlogPerShard: 200,
  drainSeconds: 20,
  smoke: true,
};

export function parseSimulatedArgs(argv: readonly string[]): SimBenchOptions {
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string) => {
    const v = value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${v}`);
    return n;
  };
  const o: SimBenchOptions = {
    ...DEFAULT_SIM_OPTIONS,
    ...(argv.includes('--smoke') ? SIM_SMOKE_OPTIONS : {}),
    latency: simLatencyFromEnv(process.env, argv),
  };
  const shards = value('shards');
  if (shards)
    o.shardCounts = shards
      .split(',')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  const consumers = value('consumers');
  if (consumers)
    o.consumers = consumers.split(',').filter((c): c is SimConsumer => c === 'pipeline' || c === 'direct');
  o.ratePerShard = num('rate') ?? o.ratePerShard;
  o.seconds = num('seconds') ?? o.seconds;
  o.backlogPerShard = num('backlog') ?? o.backlogPerShard;
  o.drainSeconds = num('drain') ?? o.drainSeconds;
  o.maxRecords = num('max-records') ?? o.maxRecords;
  return o;
}

export interface SimRow {
  consumer: SimConsumer;
  shards: number;
  phase: 'backlog' | 'rate';
  /** Offered changes/s (rate phases). */
  offered: number | null;
  changes: number;
  published: number;
  delivered: number | null;
  /** Commit → publish (rate phases; a backlog waited on purpose). */
  latency: Percentiles | null;
  keptUp: boolean | null;
  drained: boolean;
  seconds: number;
  /** CPU seconds per 1,000 changes: this process (worker or direct loop, fakes, load generator). */
  cpuPer1k: number | null;
  /** The same of the local Temporal server process (serves other jobs' workflows too). */
  serverCpuPer1k: number | null;
  actionsPer1k: number | null;
  historyPer1k: number | null;
  /** Shard-reader history bytes per change (encoded events). */
  historyBytesPerChange?: number | null;
  workflowTasksPer1k: number | null;
  actionsByKind?: Record<string, number>;
  activitiesByType?: Record<string, number>;
  /**
   * Direct consumer: each step's share of the loop's time (pull, prepare, apply, publish,
   * checkpoint). Pipeline: each activity type's share of the shards' wall time (started to
   * closed), the rest being Temporal orchestration and the local activities (prepare).
   */
  stepShares?: Record<string, number>;
  /** Pipeline: mean milliseconds from an activity's scheduling to its start, per type. */
  scheduleToStartMs?: Record<string, number>;
}

/** Activity time per type over the shards' wall time; the rest: Temporal orchestration and local activities. */
function pipelineShares(bucket: CostBucket, wallShardSeconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, ms] of Object.entries(bucket.activityExecMs))
    out[k] = Math.round((ms / 1000 / Math.max(0.001, wallShardSeconds)) * 100) / 100;
  const used = Object.values(out).reduce((n, v) => n + v, 0);
  out['temporal + local activities'] = Math.max(0, Math.round((1 - used) * 100) / 100);
  return out;
}

function diffSteps(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]));
}

function shares(steps: Record<string, number>): Record<string, number> {
  const total = Object.values(steps).reduce((n, v) => n + v, 0);
  return Object.fromEntries(
    Object.entries(steps).map(([k, v]) => [k, total > 0 ? Math.round((v / total) * 100) / 100 : 0]),
  );
}

export interface SimCheck {
  consumer: SimConsumer;
  shards: number;
  written: number;
  missing: number;
  duplicates: number;
  orderViolations: number;
  stateMismatches: number;
  /** Commands the fakes do not simulate (should be none). */
  unsupported: Record<string, number>;
  calls: Record<string, number>;
  kinesisPeaks: { shardId: string; maxWritesPerSecond: number; maxGetsPerSecond: number }[];
}

export interface SimTarget {
  name: string;
  status: 'met' | 'not met' | 'inconclusive';
  detail: string;
}

export interface SimBenchReport {
  tag: string;
  startedAt: string;
  durationSeconds: number;
  settings: Omit<SimBenchOptions, 'log' | 'outDir'>;
  environment: Record<string, string | undefined>;
  rows: SimRow[];
  checks: SimCheck[];
  targets: SimTarget[];
  markdown: string;
  file: string;
}

export async function runSimulatedBench(options: Partial<SimBenchOptions> = {}): Promise<SimBenchReport> {
  const o: SimBenchOptions = { ...DEFAULT_SIM_OPTIONS, ...options };
  const started = Date.now();
  const log = (line: string) =>
    o.log(
      line && !line.startsWith(' ')
        ? `[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`
        : line,
    );
  const loadAtStart = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  await useEnvironment({ localStack: 'start', log });
  installTestRuntime();
  const tag = `s${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  log(
    `simulated sinks ${tag}: shards ${o.shardCounts.join(', ')}; ${o.ratePerShard}/s per shard × ${o.seconds} s, ` +
      `backlog ${o.backlogPerShard} per shard; latencies ${JSON.stringify(o.latency)}`,
  );
  const rows: SimRow[] = [];
  const checks: SimCheck[] = [];
  const client = await temporalClient();
  let bundle: WorkflowBundleWithSourceMap | undefined;
  const serverPid = (await serviceStatus('temporal').catch(() => undefined))?.pid;
  try {
    if (o.consumers.includes('pipeline')) {
      log('bundling the workflows …');
      bundle = await bundleWorkflowCode({
        workflowsPath: require.resolve('../workflows'),
        logger: quietLogger,
      });
    }
    for (const shards of o.shardCounts)
      for (const consumer of o.consumers) {
        log(`${consumer}, ${shards} shard(s) …`);
        const run = await runOne(o, log, { consumer, shards, tag, client, bundle, serverPid });
        rows.push(...run.rows);
        checks.push(run.check);
      }
  } finally {
    await client.connection.close();
  }

  const targets = evaluateSimTargets(rows, o);
  const markdown = simMarkdown(rows, checks);
  mkdirSync(o.outDir, { recursive: true });
  const file = join(o.outDir, `simulated-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`);
  const { log: _l, outDir: _d, ...settings } = o;
  const report: SimBenchReport = {
    tag,
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    settings,
    environment: {
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      cpus: String(cpus().length),
      node: process.version,
      commit: gitHead(),
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    },
    rows,
    checks,
    targets,
    markdown,
    file,
  };
  writeFileSync(file, JSON.stringify(report, null, 2));
  o.log('');
  o.log(markdown);
  o.log('');
  o.log('targets (issue 20, simulated sinks):');
  for (const t of targets) o.log(`  ${t.status.padEnd(12)} ${t.name}: ${t.detail}`);
  o.log('');
  o.log(
    `load average ${report.environment.loadAverageAtStart} at the start, ${report.environment.loadAverageAtEnd} at the end; ` +
      `commit ${report.environment.commit ?? '?'}`,
  );
  o.log(`JSON ${file}\n(${report.durationSeconds.toFixed(0)} s)`);
  return report;
}

/** The checkout's commit, and whether files differed from it (other work in progress is measured too). */
function gitHead(): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return undefined;
  }
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

interface RunContext {
  consumer: SimConsumer;
  shards: number;
  tag: string;
  client: Client;
  bundle: WorkflowBundleWithSourceMap | undefined;
  /** The local Temporal server's process (its CPU is measured too), when the local stack runs it. */
  serverPid: number | undefined;
}

/** The configuration of one run: names no other run (or pipeline) uses; nothing is provisioned. */
function simConfig(tag: string, consumer: SimConsumer, shards: number): PipelineConfig {
  const id = `${tag}-${consumer}-${shards}`;
  const u = id.replace(/-/g, '_');
  return loadConfig({
    ...process.env,
    CDC_STREAM: `cdc-sim-${id}`,
    CDC_CONSUMER: 'sim',
    CDC_TASK_QUEUE: `cdc-sim-${id}`,
    CDC_STATE_TABLE: `cdc_state_${u}`,
    CDC_ENTITIES_TABLE: `cdc_entities_${u}`,
    CDC_INVENTORY_TABLE: `inventory_realtime_${u}`,
    CDC_DLQ_TABLE: `cdc_dlq_${u}`,
    CDC_EVENT_BUS: `cdc-sim-${id}`,
    CDC_SHARD_COUNT: String(shards),
    CDC_RESERVATION_EXPIRY: 'off',
  });
}

interface Measured {
  load: SimLoadResult;
  startMs: number;
  endMs: number;
  events: SimEvent[];
  drained: boolean;
  cpuSeconds: number;
  /** CPU seconds of the local Temporal server process (it serves everybody's workflows: noisy). */
  serverCpuSeconds: number | null;
}

async function runOne(
  o: SimBenchOptions,
  log: (line: string) => void,
  ctx: RunContext,
): Promise<{ rows: SimRow[]; check: SimCheck }> {
  const { consumer, shards, client } = ctx;
  const config = simConfig(ctx.tag, consumer, shards);
  const sim = new SimulatedAws(o.latency);
  sim.kinesis.createStream(config.stream, shards);
  const workload = new SimulatedWorkload(sim.kinesis, config.stream, `${ctx.tag}${shards}`);
  const windows: { name: string; startMs: number; endMs: number }[] = [];
  const measured: {
    phase: 'backlog' | 'rate';
    offered: number | null;
    m: Measured;
    steps?: Record<string, number>;
  }[] = [];
  // The direct loop's time per step (ms, summed over shards) before each phase: its shares per phase.
  const stepsNow = (): Record<string, number> => ({ ...(direct?.snapshot().stepMs ?? {}) });

  let worker: Worker | undefined;
  let running: Promise<unknown> | undefined;
  let direct: DirectConsumer | undefined;
  let costs: Record<string, CostBucket> = {};
  try {
    try {
      if (consumer === 'pipeline') {
        worker = await createWorker({
          config,
          io: sim.io(),
          ...(ctx.bundle ? { workflowBundle: ctx.bundle } : {}),
        });
        // A worker that fails says so in the phases (nothing published) and when awaited below.
        running = worker.run().catch((err: unknown) => err);
      }
      // 1. Backlog: written before the consumer starts.
      const backlog = await workload.writeFast(o.backlogPerShard * shards);
      log(`  backlog of ${backlog.count} changes written (${backlog.rate.toFixed(0)}/s)`);
      const b = await measure(ctx.serverPid, sim, backlog, o.drainSeconds, async () => {
        if (consumer === 'pipeline')
          await startConsumer(client, config, {
            settings: { maxRecords: o.maxRecords, idleWaitMs: o.idleWaitMs },
            rescanSeconds: 60,
          });
        else {
          direct = new DirectConsumer(
            config,
            { maxRecords: o.maxRecords, maxBytes: DEFAULT_BATCH.maxBytes, waitMs: o.idleWaitMs },
            sim.io(),
          );
          await direct.start();
        }
      });
      const afterBacklog = stepsNow();
      measured.push({ phase: 'backlog', offered: null, m: b, steps: afterBacklog });
      windows.push({ name: 'backlog', startMs: b.startMs, endMs: b.endMs });
      log(`  backlog: ${describe(b)}`);
      if (direct)
        log(`  direct loop's time per step on the backlog: ${JSON.stringify(shares(afterBacklog))}`);
      // 2. Rate.
      const rate = o.ratePerShard * shards;
      const r = await measure(ctx.serverPid, sim, null, o.drainSeconds, () =>
        workload.writeAtRate(rate, o.seconds),
      );
      measured.push({ phase: 'rate', offered: rate, m: r, steps: diffSteps(afterBacklog, stepsNow()) });
      windows.push({ name: 'rate', startMs: r.startMs, endMs: r.endMs });
      log(`  ${rate}/s: ${describe(r)}`);
      if (direct)
        log(
          `  direct loop's time per step at ${rate}/s: ${JSON.stringify(shares(diffSteps(afterBacklog, stepsNow())))}`,
        );
      // Not measured: the rest drains before the checks (a change not published by then is missing).
      await settle(sim, workload.written.length, SETTLE_MS);
    } finally {
      if (direct) await direct.stop();
      if (consumer === 'pipeline') await stopReaders(client, config, shards);
    }
    if (consumer === 'pipeline') {
      log('  reading the shard readers’ histories …');
      costs = (await shardReaderCost(client, { taskQueue: config.taskQueue, windows, decode: false }))
        .windows;
    }
  } finally {
    if (worker) {
      worker.shutdown();
      const failed = await running;
      if (failed) log(`  worker failed: ${String(failed)}`);
    }
  }
  const rows = measured.map(({ phase, offered, m, steps }) => ({
    ...simRow(consumer, shards, phase, offered, m, costs[phase]),
    ...(consumer === 'direct' && steps ? { stepShares: shares(steps) } : {}),
  }));
  for (const r of rows)
    if (r.consumer === 'pipeline' && r.stepShares)
      log(
        `  shard time per step (${r.phase}): ${JSON.stringify(r.stepShares)}; schedule→start ms: ${JSON.stringify(r.scheduleToStartMs)}`,
      );
  const check = checkRun(
    windows.find((w) => w.name === 'rate'),
    sim,
    workload,
    config,
    consumer,
    shards,
  );
  log(
    `  checks: ${check.written} written, ${check.missing} missing, ${check.duplicates} duplicates, ` +
      `${check.orderViolations} out of order, ${check.stateMismatches} DynamoDB mismatches` +
      (Object.keys(check.unsupported).length ? `; NOT SIMULATED: ${JSON.stringify(check.unsupported)}` : ''),
  );
  return { rows, check };
}

/**
 * Runs `act` (which writes the load, or starts the consumer on a backlog already written), then
 * waits until every change of the load is published or `drainSeconds` after its last commit.
 */
async function measure(
  serverPid: number | undefined,
  sim: SimulatedAws,
  load: SimLoadResult | null,
  drainSeconds: number,
  act: () => Promise<SimLoadResult | void>,
): Promise<Measured> {
  const meter = new UsageMeter(serverPid ? [serverPid] : []).start();
  const startMs = Date.now();
  const acted = await act();
  const l = load ?? (acted as SimLoadResult);
  // A backlog drains from now: at least a minute, or 100 changes/s.
  const deadline = load
    ? Date.now() + Math.max(60_000, load.count * 10) + drainSeconds * 1000
    : l.lastMs + drainSeconds * 1000;
  const inLoad = (e: SimEvent) => {
    if (!e.lsn) return false;
    const n = lsnNumber(e.lsn);
    return n >= l.fromLsn && n <= l.toLsn;
  };
  let from = 0;
  const seen = new Set<string>();
  const events: SimEvent[] = [];
  const collect = () => {
    const accepted = sim.events.accepted;
    for (; from < accepted.length; from++) {
      const e = accepted[from];
      if (!inLoad(e)) continue;
      events.push(e);
      seen.add(`${e.entityKey}@${e.lsn}`);
    }
  };
  for (;;) {
    collect();
    if (seen.size >= l.count || Date.now() > deadline) break;
    await sleep(100);
  }
  const endMs = Date.now();
  const usage = meter.stop();
  return {
    load: l,
    startMs,
    endMs,
    events,
    drained: seen.size >= l.count,
    cpuSeconds: usage.processes.self?.cpuSeconds ?? usage.cpuSeconds,
    serverCpuSeconds: serverPid ? (usage.processes[`pid:${serverPid}`]?.cpuSeconds ?? null) : null,
  };
}

/** How long a run may take after its rate phase to publish what it has not yet (then the checks). */
const SETTLE_MS = 120_000;

async function settle(sim: SimulatedAws, written: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const published = () =>
    new Set(sim.events.accepted.filter((e) => e.lsn).map((e) => `${e.entityKey}@${e.lsn}`)).size;
  while (published() < written && Date.now() < deadline) await sleep(500);
}

function describe(m: Measured): string {
  const d = deliveredOf(m, m.load.firstMs < m.startMs);
  const lat =
    m.load.firstMs >= m.startMs ? summarize(m.events.map((e) => e.acceptedMs - (e.commitMs ?? NaN))) : null;
  return (
    `${distinct(m.events)}/${m.load.count} published${m.drained ? '' : ' (NOT drained)'}, ` +
    `delivered ${d?.toFixed(0) ?? '—'}/s` +
    (lat ? `, commit→publish p50 ${Math.round(lat.p50)} ms, p99 ${Math.round(lat.p99)} ms` : '')
  );
}

const distinct = (events: readonly SimEvent[]) => new Set(events.map((e) => `${e.entityKey}@${e.lsn}`)).size;

/**
 * Changes/s: distinct published changes over the span of their acceptance times (5th to 95th
 * percentile ÷ 0.9: the first and last few are stragglers of latency, not of throughput); at a
 * rate, over at least the commits' span.
 */
function deliveredOf(m: Measured, backlog: boolean): number | null {
  const n = distinct(m.events);
  if (n < 2) return null;
  const times = m.events.map((e) => e.acceptedMs).sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
  const recvSpan = (at(95) - at(5)) / 1000 / 0.9;
  const commitSpan = (m.load.lastMs - m.load.firstMs) / 1000;
  return n / Math.max(0.001, backlog ? recvSpan : Math.max(recvSpan, commitSpan));
}

function simRow(
  consumer: SimConsumer,
  shards: number,
  phase: 'backlog' | 'rate',
  offered: number | null,
  m: Measured,
  bucket: CostBucket | undefined,
): SimRow {
  const published = distinct(m.events);
  const delivered = deliveredOf(m, phase === 'backlog');
  const latency =
    phase === 'rate' ? summarize(m.events.map((e) => e.acceptedMs - (e.commitMs ?? NaN))) : null;
  const per1k = (x: number) => (published > 0 ? (x * 1000) / published : null);
  return {
    consumer,
    shards,
    phase,
    offered,
    changes: m.load.count,
    published,
    delivered,
    latency,
    keptUp:
      phase === 'rate'
        ? m.drained && (delivered ?? 0) >= 0.9 * Math.min(offered ?? Infinity, m.load.rate)
        : null,
    drained: m.drained,
    seconds: (m.endMs - m.startMs) / 1000,
    cpuPer1k: per1k(m.cpuSeconds),
    serverCpuPer1k: m.serverCpuSeconds === null ? null : per1k(m.serverCpuSeconds),
    actionsPer1k: bucket ? per1k(bucket.actions) : null,
    historyPer1k: bucket ? per1k(bucket.events) : null,
    historyBytesPerChange: bucket && published > 0 ? bucket.bytes / published : null,
    workflowTasksPer1k: bucket ? per1k(bucket.workflowTasks) : null,
    ...(bucket
      ? {
          actionsByKind: bucket.actionsByKind,
          activitiesByType: bucket.activitiesByType,
          stepShares: pipelineShares(bucket, ((m.endMs - m.startMs) / 1000) * shards),
          scheduleToStartMs: Object.fromEntries(
            Object.entries(bucket.scheduleToStartMs).map(([k, v]) => [
              k,
              Math.round(v / Math.max(1, bucket.activitiesByType[k] ?? 1)),
            ]),
          ),
        }
      : {}),
  };
}

/** Every change published once, per key in commit order, and DynamoDB at each key's newest version. */
function checkRun(
  rateWindow: { startMs: number; endMs: number } | undefined,
  sim: SimulatedAws,
  workload: SimulatedWorkload,
  config: PipelineConfig,
  consumer: SimConsumer,
  shards: number,
): SimCheck {
  const counts = new Map<string, number>();
  const newest = new Map<string, { lsn: number; version?: string }>();
  let orderViolations = 0;
  for (const e of sim.events.accepted) {
    if (!e.entityKey || !e.lsn) continue;
    const id = `${e.entityKey}@${e.lsn}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
    const lsn = lsnNumber(e.lsn);
    const held = newest.get(e.entityKey);
    if (held && lsn < held.lsn) orderViolations++;
    else newest.set(e.entityKey, { lsn, ...(e.version ? { version: e.version } : {}) });
  }
  let missing = 0;
  for (const w of workload.written) if (!counts.has(`${w.entityKey}@${lsnText(w.lsn)}`)) missing++;
  let duplicates = 0;
  for (const n of counts.values()) if (n > 1) duplicates += n - 1;
  let stateMismatches = 0;
  for (const [key, { version }] of newest) {
    const item = sim.dynamo.item(config.tables.entities, key);
    if (!item || (version !== undefined && item.version !== version)) stateMismatches++;
  }
  const { byName, unsupported } = sim.callCounts();
  return {
    consumer,
    shards,
    written: workload.written.length,
    missing,
    duplicates,
    orderViolations,
    stateMismatches,
    unsupported,
    calls: byName,
    kinesisPeaks: sim.kinesis.kinesisPeaks(config.stream, rateWindow),
  };
}

/** Terminates the supervisor (first: it would restart them) and the shard readers. */
async function stopReaders(client: Client, config: PipelineConfig, shards: number): Promise<void> {
  const reason = 'benchmark (simulated sinks): run done';
  await client.workflow
    .getHandle(supervisorWorkflowId(config.stream, config.consumer))
    .terminate(reason)
    .catch(() => undefined);
  for (let i = 0; i < shards; i++) {
    const reader = client.workflow.getHandle(
      shardWorkflowId(config.stream, config.consumer, `shardId-${String(i).padStart(12, '0')}`),
    );
    // A query is answered between workflow tasks: a chain still running (workflows/shardReader/
    // pull.ts) completes and its local activities become history before the terminate.
    await reader.query(statusQuery).catch(() => undefined);
    await reader.terminate(reason).catch(() => undefined);
  }
}

// ---- Targets and the table ---------------------------------------------------------------------

export function evaluateSimTargets(
  rows: readonly SimRow[],
  o: Pick<SimBenchOptions, 'ratePerShard'>,
): SimTarget[] {
  const find = (consumer: SimConsumer, shards: number, phase: SimRow['phase']) =>
    rows.find((r) => r.consumer === consumer && r.shards === shards && r.phase === phase);
  const targets: SimTarget[] = [];
  const one = find('pipeline', 1, 'rate');
  if (!one)
    targets.push({
      name: 'one shard reader: 1,000 changes/s, p99 < 1 s',
      status: 'inconclusive',
      detail: 'no 1-shard rate run',
    });
  else {
    const p99 = one.latency?.p99 ?? Infinity;
    const atFull = o.ratePerShard >= 1000;
    const ok = Boolean(one.keptUp) && p99 < 1000;
    targets.push({
      name: 'one shard reader: 1,000 changes/s, p99 < 1 s',
      status: ok ? (atFull ? 'met' : 'inconclusive') : 'not met',
      detail:
        `offered ${one.offered}/s, delivered ${fmt(one.delivered)}/s, ${one.keptUp ? 'kept up' : 'fell behind'}, ` +
        `commit→publish p99 ${fmt(one.latency?.p99)} ms` +
        (atFull ? '' : ` (offered below 1,000/s: --rate ${o.ratePerShard})`),
    });
  }
  const b1 = find('pipeline', 1, 'backlog');
  const b4 = find('pipeline', 4, 'backlog');
  if (!b1?.delivered || !b4?.delivered)
    targets.push({
      name: 'four shards ≥ 2.5 × one (backlog rates)',
      status: 'inconclusive',
      detail: 'needs --shards 1,4',
    });
  else {
    const x = b4.delivered / b1.delivered;
    targets.push({
      name: 'four shards ≥ 2.5 × one (backlog rates)',
      status: x >= 2.5 ? 'met' : 'not met',
      detail: `${fmt(b4.delivered)}/s vs ${fmt(b1.delivered)}/s = ${x.toFixed(2)}×`,
    });
  }
  return targets;
}

const fmt = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);

/** The rows as a Markdown table (docs/performance.md pastes it), then the checks. */
export function simMarkdown(rows: readonly SimRow[], checks: readonly SimCheck[]): string {
  const lines = [
    '| consumer | shards | load | delivered changes/s | commit→publish p50 / p90 / p99 ms | actions / 1k | history events / 1k | history bytes / change | CPU-s / 1k: bench process | CPU-s / 1k: Temporal server |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const load = r.phase === 'backlog' ? `backlog ${r.changes}` : `${r.offered}/s${r.keptUp ? '' : ' *'}`;
    const lat = r.latency ? `${fmt(r.latency.p50)} / ${fmt(r.latency.p90)} / ${fmt(r.latency.p99)}` : '—';
    lines.push(
      `| ${r.consumer} | ${r.shards} | ${load} | ${fmt(r.delivered)}${r.drained ? '' : ' (not drained)'} | ${lat} | ` +
        `${fmt(r.actionsPer1k, 1)} | ${fmt(r.historyPer1k, 0)} | ${fmt(r.historyBytesPerChange)} | ${fmt(r.cpuPer1k, 2)} | ${fmt(r.serverCpuPer1k, 2)} |`,
    );
  }
  lines.push(
    '',
    '(* fell behind: not all published within the drain time, or delivered < 0.9 × offered)',
    '',
  );
  for (const c of checks) {
    const peaks = c.kinesisPeaks;
    lines.push(
      `- ${c.consumer}, ${c.shards} shard(s): ${c.written} changes written, ${c.missing} missing, ${c.duplicates} duplicates, ` +
        `${c.orderViolations} out of per-key order, ${c.stateMismatches} DynamoDB items not at the newest version; ` +
        `busiest second per shard in the rate phase: ≤ ${Math.max(0, ...peaks.map((p) => p.maxWritesPerSecond))} records written, ` +
        `≤ ${Math.max(0, ...peaks.map((p) => p.maxGetsPerSecond))} GetRecords calls` +
        (Object.keys(c.unsupported).length ? `; not simulated: ${JSON.stringify(c.unsupported)}` : ''),
    );
  }
  return lines.join('\n');
}
