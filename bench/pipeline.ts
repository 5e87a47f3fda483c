/**
 * The pipeline benchmark (issue 13): our cost separated from the emulators', in one run, on the
 * local stack, printed as a table, written as JSON and charted as PNG.
 *
 *   npm run bench -- [--rates 10,25,50,100,200,400 | --rate N] [--seconds 15] [--backlog 1500]
 *                    [--shards 4] [--workers 2] [--scale-rate N] [--scale-backlog N] [--no-scale-out]
 *                    [--ceiling-seconds 4] [--max-records 500] [--local-steps 1|0] [--codec on|off]
 *                    [--smoke] [--linger 0,100,200,300,500]
 *   npm run bench -- --sinks simulated …   (= npm run bench:simulated: bench/simulated.ts,
 *                    in-process AWS fakes at AWS-like latencies: the pipeline's own ceiling)
 *   npm run bench:smoke          (= --smoke: every part, tiny sizes, one rate; CI runs it as a test)
 *
 * Method. A load process (bench/lib/loadProcess.ts) holds the load generator, the SQS
 * receivers and the DynamoDB watcher, so this process holds only what is measured: the Temporal
 * worker (in-process) or the direct consumer. Every pipeline here is isolated
 * (test/support/testPipeline.ts: its own slot, stream, tables, bus, queues, task queue); since
 * every slot on the local stack captures the same tables, the workload's keys carry a run tag and
 * the pipelines' publications are narrowed to tagged rows (row filters), so jobs running alongside
 * do not load the measured pipeline; only tagged changes are counted.
 * 1. Pipeline X (2 shards, capture only at first). Seed rows, a warm-up of the mix, then:
 *    - Sink ceilings, each for a few seconds after a short warm-up (bench/lib/sinkCeilings.ts):
 *      PutEvents (10 × ~1 KB entries, 8 in flight, the publisher's) on X's bus with its rules, SQS
 *      targets and archive (the receivers drain the queues); version-guarded PutItem (32 in flight,
 *      the apply's); Kinesis PutRecords (500-record requests, one at a time like the producer, of
 *      the warm-up's own records with the large rows at the mix's share) into X's stream, then
 *      GetRecords of them (Limit = max records, one reader per shard). A ceiling in changes/s
 *      divides by the items one change needs (DynamoDB: 1.5, an inventory change writes two
 *      items; coalescing of hot keys not counted).
 *    - Both consumers' checkpoints are set after the raw records, so neither reads them.
 *    - Capture alone: the backlog (--backlog changes of the mix, committed by 12 connections as
 *      fast as PostgreSQL takes them); records/s arriving on the stream (ApproximateArrivalTimestamp
 *      span) against the raw PutRecords loop. If capture keeps up with the generator, the
 *      generator is the limit and the target is inconclusive.
 *    - Direct consumer (bench/lib/directConsumer.ts: the activity functions in a plain
 *      loop, no Temporal, its own DynamoDB tables) drains that backlog.
 *    - The pipeline (supervisor and shard readers started now) drains the same backlog: full
 *      batches; its actions per 1,000 changes are the "at full batches" figure.
 *    - The pipeline at stepped offered rates (--rates, --seconds each), until it falls behind:
 *      delivered < 0.9 × offered, or commit→SQS p99 > 5 s, or not drained within
 *      max(10 s, --seconds) of the last commit.
 *    - The shard readers are stopped; the direct consumer, from the stream's end, at the same rates.
 * 2. Scale-out (--shards 4 --workers 2): pipeline S with 4 shards, the in-process worker and
 *    (workers − 1) worker processes on the task queue: a backlog and one rate (--scale-rate, by
 *    default the first rate at which the 2-shard pipeline fell behind). Its histories are decoded:
 *    activities and records pulled per worker identity (ActivityTaskStarted.identity), per-shard
 *    duplicates (each record's sequence number pulled once) and checkpoints (only forward).
 *    With --smoke, pipeline X itself runs with --shards and --workers (one setup less).
 * Figures, per measured thing:
 * - delivered changes/s: distinct events of the window received on SQS over the span of their
 *   receipts (5th to 95th percentile receipt ÷ 0.9; at rates at least the span of the commits);
 *   products reach no queue (archive only), so the count is scaled by committed / SQS-bound changes;
 * - commit→SQS and commit→DynamoDB p50/p90/p99: see bench/lib/latency.ts (receipt, or
 *   first sighting by a 250 ms poll of sampled keys (±125 ms), minus the commit time the event or
 *   item carries). Backlog rows have none (the changes waited on purpose);
 * - CPU-s and MB: CPU seconds of the consuming processes (this process, which also runs capture
 *   in the worker, plus extra worker processes) per 1,000 records the consumer processed
 *   (shard-reader counters, or the direct loop's), and their peak RSS. The load generator and
 *   probes are in the load process, not included;
 * - history events, workflow tasks and actions per 1,000 records: shard-reader histories
 *   (bench/lib/temporalCost.ts documents the action rule);
 * - limiting component: the offered load when it kept up; capture when a rate phase fell behind
 *   and its changes reached the stream late (commit→Kinesis p50, read from the stream after each
 *   rate, ≥ half the commit→SQS p50); a sink whose ceiling, or capture whose measured rate, the
 *   figure is at (0.8–1.25×; consumers: GetRecords, PutItem, PutEvents); else the stage with the
 *   largest share of the shards' time (direct: the loop's timings; pipeline: the worker's step
 *   metrics, pull and checkpoint activity times, and the rest, time outside our steps, as
 *   Temporal orchestration).
 * Targets (issue 13), evaluated in bench/lib/report.ts: pipeline vs direct consumer on the
 * same backlog (≥ 0.8×); pipeline backlog rate vs the slowest sink ceiling in changes/s (≥ 0.8×);
 * commit→SQS p99 < 1 s at the highest measured rate ≤ half the pipeline's maximum (its backlog
 * rate or best kept-up rate; inconclusive when every measured rate is above half and missed);
 * ≤ 10 actions per 1,000 changes on the pipeline's backlog (full batches: the mean batch is
 * reported); capture ≥ 0.8× the raw PutRecords loop (inconclusive when capture kept up with the
 * load generator).
 * Output: the table on stdout, then the issue's targets with met / not met / inconclusive;
 * `.cache/bench/bench-<time>.json` (everything) and `.cache/bench/bench-<time>.png` (latency
 * percentiles against offered rate, pipeline and direct consumer). Numbers are noisy on a
 * shared machine: compare runs side by side. `--codec off` runs pipeline X's worker and client
 * without the payload codec (what encryption costs); the scale-out worker processes always use it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createActivities } from '../activities';
import { HEARTBEAT_TABLE } from '../domain/capture/walChange';
import { awsClients } from '../infra/aws';
import type { PipelineConfig } from '../infra/config';
import { startPipeline } from '../infra/pipelineClient';
import { eventRouting, provisionDynamo, queueUrl } from '../infra/provisioning';
import { startTestPipeline, type TestPipeline } from '../test/support/testPipeline';
import { shardWorkflowId, supervisorWorkflowId } from '../workflows/names';
import { DEFAULT_BATCH, statusQuery, type BatchSettings } from '../workflows/shardReader/definitions';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT } from '../infra/localStack/localStack';
import { chartSvg, renderPng, type ChartSeries } from './lib/chart';
import { DirectConsumer } from './lib/directConsumer';
import {
  isoToMs,
  summarize,
  waitQueuesDrained,
  type Percentiles,
  type WindowQuery,
  type WindowStats,
} from './lib/latency';
import { MIX, TAGGED_COLUMN, type LoadResult } from './lib/load';
import { LoadProcess } from './lib/loadProcess';
import {
  evaluateTargets,
  formatTable,
  formatTargets,
  limitingOf,
  markdownTable,
  sinkLimits,
  type Row,
  type Section,
  type Target,
} from './lib/report';
import {
  getRecordsCeiling,
  guardedPutCeiling,
  putEventsCeiling,
  putRecordsCeiling,
  type Ceiling,
  type RecordTemplate,
} from './lib/sinkCeilings';
import { shardReaderCost, type CostBucket, type ShardCheck, type ShardReaderCost } from './lib/temporalCost';
import { parseSimulatedArgs, runSimulatedBench } from './simulated';
import { diffRecord, stepSeconds, UsageMeter, type MeterResult } from './lib/usage';

export interface BenchOptions {
  rates: number[];
  /** Seconds of offered load per rate. */
  seconds: number;
  /** At least this long to drain after the last commit of a rate (then it fell behind). */
  drainSeconds: number;
  /** Changes in the capture / consumer backlog. */
  backlog: number;
  warmup: number;
  ceilingSeconds: number;
  rawMaxRecords: number;
  /** Scale-out: shards and workers (in-process worker + workers − 1 processes). */
  shards: number;
  workers: number;
  scaleOut: boolean;
  scaleRate?: number;
  scaleBacklog: number;
  maxRecords: number;
  localPureSteps: boolean;
  plainPayloads: boolean;
  publishConcurrency: number;
  applyConcurrency: number;
  generatorConcurrency: number;
  smoke: boolean;
  /**
   * `--linger`: the pipeline's rates are run once per value (CDC_PULL_LINGER_MS, set on the
   * in-process worker's configuration between phases): the latency/actions curve. Default: the
   * worker's configured linger only.
   */
  lingers?: number[];
  outDir: string;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  rates: [10, 25, 50, 100, 200, 400],
  seconds: 15,
  drainSeconds: 10,
  backlog: 1500,
  warmup: 300,
  ceilingSeconds: 4,
  rawMaxRecords: 10_000,
  shards: 4,
  workers: 2,
  scaleOut: true,
  scaleBacklog: 1000,
  maxRecords: DEFAULT_BATCH.maxRecords,
  localPureSteps: true,
  plainPayloads: false,
  publishConcurrency: 8,
  applyConcurrency: 32,
  generatorConcurrency: 12,
  smoke: false,
  outDir: join(ROOT, '.cache', 'bench'),
  log: (line) => console.log(line),
};

/** Every part, tiny sizes, one rate: a CI smoke run (well under a minute of measuring). */
export const SMOKE_OPTIONS: Partial<BenchOptions> = {
  rates: [20],
  seconds: 2,
  drainSeconds: 5,
  backlog: 100,
  warmup: 40,
  ceilingSeconds: 1,
  rawMaxRecords: 1000,
  scaleBacklog: 100,
  smoke: true,
};

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const has = (name: string) => argv.includes(`--${name}`);
  const value = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string) => {
    const v = value(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number, got ${v}`);
    return n;
  };
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...(has('smoke') ? SMOKE_OPTIONS : {}) };
  const rates = value('rates') ?? value('rate'); // --rate N: one rate (the earlier benchmark's option)
  if (rates)
    o.rates = rates
      .split(',')
      .map(Number)
      .filter((r) => r > 0);
  o.seconds = num('seconds') ?? o.seconds;
  o.backlog = num('backlog') ?? o.backlog;
  o.scaleBacklog = num('scale-backlog') ?? num('backlog') ?? o.scaleBacklog;
  o.shards = num('shards') ?? o.shards;
  o.workers = Math.max(1, num('workers') ?? o.workers);
  o.scaleRate = num('scale-rate') ?? o.scaleRate;
  o.maxRecords = num('max-records') ?? o.maxRecords;
  o.ceilingSeconds = num('ceiling-seconds') ?? o.ceilingSeconds;
  if (has('no-scale-out')) o.scaleOut = false;
  if (value('local-steps') !== undefined) o.localPureSteps = value('local-steps') !== '0';
  if (value('codec') !== undefined) o.plainPayloads = value('codec') === 'off';
  const lingers = value('linger');
  if (lingers !== undefined) {
    o.lingers = lingers.split(',').map(Number);
    if (o.lingers.some((l) => !Number.isInteger(l) || l < 0 || l > 5_000))
      throw new Error(`--linger takes milliseconds from 0 to 5000, comma-separated, got ${lingers}`);
  }
  return o;
}

export interface ScaleOutReport {
  pipeline: string;
  shards: number;
  workers: number;
  /** Per worker identity over the scale-out windows. */
  perWorker: {
    identity: string;
    workflowTasks: number;
    activities: number;
    byType: Record<string, number>;
    recordsPulled: number;
    recordsPerSecond: number;
    cpuSeconds: number | null;
  }[];
  shardChecks: ShardCheck[];
  noShardReadTwice: boolean;
  checkpointsMonotonic: boolean;
}

export interface BenchReport {
  tag: string;
  startedAt: string;
  durationSeconds: number;
  settings: Omit<BenchOptions, 'log' | 'outDir'>;
  environment: Record<string, string | undefined>;
  ceilings: Ceiling[];
  capture: {
    records: number;
    perSecond: number;
    generatorRate: number;
    commitToKinesis: Percentiles | null;
    meanRecordBytes: number;
    /** Records per PutRecords request, estimated: records sharing an arrival millisecond. */
    recordsPerRequestApprox: number;
    raw: Ceiling | undefined;
  } | null;
  rows: Row[];
  scaleOut: ScaleOutReport | null;
  scaleOutError?: string;
  temporal: Record<string, ShardReaderCost>;
  targets: Target[];
  markdown: string;
  files: { json: string; png: string };
}

/** One measured phase, before it becomes a row. */
interface Phase {
  section: Section;
  name: string;
  offered: number | null;
  startMs: number;
  endMs: number;
  load: LoadResult;
  /** Backlog phases: the changes were committed before the consumer started. */
  backlog: boolean;
  stats: WindowStats;
  complete: boolean;
  usage: MeterResult;
  records: number;
  stepMs: Record<string, number>;
  shards: number;
  /** Pipeline phases: the Temporal window (its name) and the pipeline it belongs to. */
  temporal?: string;
  /** Rate phases: commit→Kinesis latency of the phase's records (capture's share). */
  kinesis?: Percentiles | null;
}

interface Probe {
  shards: number;
  pids: () => number[];
  records(): Promise<number>;
  stepMs(): Promise<Record<string, number>>;
}

interface Ctx {
  o: BenchOptions;
  log: (line: string) => void;
  load: LoadProcess;
  tag: string;
  phases: Phase[];
  windows: Map<string, { name: string; startMs: number; endMs: number }[]>;
}

export async function runBench(options: Partial<BenchOptions> = {}): Promise<BenchReport> {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...options };
  const started = Date.now();
  const log = (line: string) =>
    o.log(
      line && !line.startsWith(' ')
        ? `[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`
        : line,
    );
  // A Kinesis emulator this run has to start need not persist (as when the tests start it): the
  // benchmark's streams are deleted, and persisting rewrites whole streams at a core's cost.
  process.env.CDC_KINESIS_PERSIST ??= 'false';
  await useEnvironment({ localStack: 'start', log });
  const tag = `b${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const load = LoadProcess.start();
  const ctx: Ctx = { o, log, load, tag, phases: [], windows: new Map() };
  const ceilings: Ceiling[] = [];
  const temporalCosts: Record<string, ShardReaderCost> = {};
  let capture: NonNullable<BenchReport['capture']> | undefined;
  let scaleOut: ScaleOutReport | null = null;
  let scaleOutError: string | undefined;
  let firstBehindRate: number | undefined;
  try {
    await load.call('init', { tag, poolSize: o.generatorConcurrency + 4 });
    log(
      `bench ${tag}: rates ${o.rates.join(', ')}/s × ${o.seconds} s, backlog ${o.backlog}, maxRecords ${o.maxRecords}, ` +
        `transform/redact as ${o.localPureSteps ? 'local activities' : 'activities'}, codec ${o.plainPayloads ? 'OFF' : 'on'}` +
        (o.smoke ? `, smoke (pipeline with ${o.shards} shards, ${o.workers} workers)` : ''),
    );
    // ---- Pipeline X: ceilings, capture, direct consumer, pipeline ------------------------------
    const settings: Partial<BatchSettings> = { maxRecords: o.maxRecords, localPureSteps: o.localPureSteps };
    const x = await startTestPipeline(settings, {
      readers: false,
      plainPayloads: o.plainPayloads && !o.smoke,
      ...(o.smoke
        ? { shardCount: o.shards, extraWorkerProcesses: o.workers - 1, workerEnv: WORKER_ENV }
        : {}),
    });
    const direct: PipelineConfig = {
      ...x.config,
      consumer: 'bench-direct',
      tables: {
        state: `${x.config.tables.state}_direct`,
        entities: `${x.config.tables.entities}_direct`,
        inventory: `${x.config.tables.inventory}_direct`,
        dlq: `${x.config.tables.dlq}_direct`,
      },
    };
    try {
      await isolateRun(x, tag);
      await provisionDynamo(direct);
      const { kinesis, events, doc, sqs } = awsClients();
      const routing = eventRouting(x.config.eventBus).queues;
      const urls = {
        inventory: await queueUrl(routing.inventory),
        orders: await queueUrl(routing.wallboardOrders),
        users: await queueUrl(routing.wallboardUsers),
        alerts: await queueUrl(routing.alerts),
      };
      const queues = [
        { url: urls.inventory, receivers: 4 },
        { url: urls.orders, receivers: 2 },
        { url: urls.users, receivers: 2 },
        { url: urls.alerts, receivers: 1 },
      ];
      await load.call('target', { queues });
      if (o.smoke) await waitForWorkers(x.client, x.config.taskQueue, o.workers, 90_000);

      log('seeding and warming up …');
      await load.call('seed', {});
      const tail = await StreamTail.open(kinesis, x.config.stream, tag);
      const warm = await load.call('runFast', { count: o.warmup, concurrency: o.generatorConcurrency });
      const warmRecords = await tail.collect(
        (r) => r.commitMs >= warm.firstSentMs - 5 && r.commitMs <= warm.lastCommitMs + 5,
        warm.committed,
        60_000,
      );
      const large = await tail.collect((r) => r.data.length >= LARGE_RECORD_BYTES, 0, 0);
      const templates = rawTemplates(warmRecords, large);

      log('sink ceilings …');
      ceilings.push(
        await guardedPutCeiling(doc, direct.tables.entities, {
          seconds: o.ceilingSeconds,
          concurrency: o.applyConcurrency,
          tag,
        }),
      );
      ceilings.push(
        await putEventsCeiling(events, x.config.eventBus, {
          seconds: o.ceilingSeconds,
          concurrency: o.publishConcurrency,
          tag,
        }),
      );
      await waitQueuesDrained(sqs, Object.values(urls), 60_000);
      const raw = await putRecordsCeiling(kinesis, x.config.stream, templates, {
        seconds: o.ceilingSeconds,
        maxRecords: o.rawMaxRecords,
      });
      ceilings.push(raw.ceiling);
      ceilings.push(
        await getRecordsCeiling(kinesis, x.config.stream, raw.shards, {
          limit: o.maxRecords,
          seconds: o.ceilingSeconds,
        }),
      );
      for (const c of ceilings) log(`  ${c.name}: ${c.perSecond.toFixed(0)} ${c.unit}/s`);

      // Neither consumer reads the seed, the warm-up or the raw records.
      const xActs = createActivities(x.config);
      const dActs = createActivities(direct);
      for (const [shardId, range] of raw.shards) {
        tail.skipTo(shardId, range.last);
        await xActs.saveCheckpoint({ shardId, sequenceNumber: range.last });
        await dActs.saveCheckpoint({ shardId, sequenceNumber: range.last });
      }

      log(`capture alone: ${o.backlog} changes committed as fast as possible …`);
      const backlog = await load.call('runFast', { count: o.backlog, concurrency: o.generatorConcurrency });
      const captured = await tail.collect(
        (r) => r.commitMs >= backlog.firstSentMs - 5 && r.commitMs <= backlog.lastCommitMs + 5,
        backlog.committed,
        Math.max(60_000, o.backlog * 50),
      );
      capture = captureFigures(captured, backlog, raw.ceiling);
      log(
        `  capture ${capture.perSecond.toFixed(0)} records/s (generator committed ${capture.generatorRate.toFixed(0)}/s; raw PutRecords ${raw.ceiling.perSecond.toFixed(0)}/s); ` +
          `commit→Kinesis p50 ${Math.round(capture.commitToKinesis?.p50 ?? NaN)} ms, p99 ${Math.round(capture.commitToKinesis?.p99 ?? NaN)} ms; ` +
          `${capture.meanRecordBytes.toFixed(0)} bytes/record (raw loop ${raw.ceiling.meanBytes.toFixed(0)})`,
      );

      const directSettings = { maxRecords: o.maxRecords, maxBytes: DEFAULT_BATCH.maxBytes, waitMs: 2_000 };
      const extraPids = () => x.extraWorkerPids();
      const directProbe = (consumer: DirectConsumer): Probe => ({
        shards: x.config.shardCount,
        pids: extraPids,
        records: async () => consumer.snapshot().records,
        stepMs: async () => ({ ...consumer.snapshot().stepMs }),
      });
      const pipeProbe = pipelineProbe(x, extraPids);

      // Direct consumer on the backlog.
      log('direct consumer: backlog …');
      const d1 = new DirectConsumer(direct, directSettings);
      try {
        await backlogPhase(ctx, {
          section: 'direct',
          name: 'direct consumer @ backlog',
          probe: directProbe(d1),
          backlog,
          start: () => d1.start(),
        });
      } finally {
        await d1.stop();
      }

      // The pipeline on the same backlog.
      log('pipeline: backlog …');
      const xKey = `x:${x.config.taskQueue}`;
      ctx.windows.set(xKey, []);
      await backlogPhase(ctx, {
        section: 'pipeline',
        name: 'pipeline @ backlog',
        probe: pipeProbe,
        backlog,
        temporal: xKey,
        start: async () => {
          await startPipeline(x.client, x.config, {
            settings: { idleWaitMs: 2_000, ...settings },
            rescanSeconds: 2,
          });
        },
      });

      // The pipeline at stepped rates.
      await load.call('target', { queues, entitiesTable: x.config.tables.entities });
      // The in-process worker's activities read the linger from this configuration object at each pull.
      for (const linger of o.lingers ?? [x.config.pullLingerMs])
        for (const rate of o.rates) {
          x.config.pullLingerMs = linger;
          const lingerTag = o.lingers ? `, linger ${linger} ms` : '';
          log(`pipeline: ${rate} changes/s for ${o.seconds} s${lingerTag} …`);
          const ph = await ratePhase(ctx, {
            section: 'pipeline',
            name: `pipeline @ ${rate}/s${lingerTag}`,
            probe: pipeProbe,
            rate,
            temporal: xKey,
            tail,
          });
          if (behind(ph)) {
            firstBehindRate = rate;
            log(`  fell behind at ${rate}/s: stepping stops`);
            break;
          }
        }

      // Stop the shard readers; the direct consumer starts at the stream's end.
      await stopReaders(x);
      await tail.collect(() => false, 0, 0);
      for (const [shardId, seq] of tail.positions())
        await dActs.saveCheckpoint({ shardId, sequenceNumber: seq });
      await load.call('target', { queues, entitiesTable: direct.tables.entities });
      const d2 = new DirectConsumer(direct, directSettings);
      await d2.start();
      try {
        for (const rate of o.rates) {
          log(`direct consumer: ${rate} changes/s for ${o.seconds} s …`);
          const ph = await ratePhase(ctx, {
            section: 'direct',
            name: `direct consumer @ ${rate}/s`,
            probe: directProbe(d2),
            rate,
            tail,
          });
          if (behind(ph)) {
            log(`  fell behind at ${rate}/s: stepping stops`);
            break;
          }
        }
      } finally {
        await d2.stop();
      }
      log('reading the shard readers’ histories …');
      temporalCosts[xKey] = await shardReaderCost(x.client, {
        taskQueue: x.config.taskQueue,
        windows: ctx.windows.get(xKey)!,
        decode: true, // the pulls' results say whether they heartbeated
      });
      if (o.smoke) scaleOut = scaleOutReport(ctx, xKey, temporalCosts[xKey], x, o.shards, o.workers);
    } finally {
      await load.call('target', { queues: [] }).catch(() => undefined);
      const { dynamo } = awsClients();
      for (const TableName of Object.values(direct.tables))
        await dynamo.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
      await x.stop();
    }

    // ---- Scale-out: pipeline S, more shards, more worker processes -----------------------------
    if (o.scaleOut && !o.smoke) {
      try {
        scaleOut = await runScaleOut(ctx, settings, temporalCosts, firstBehindRate);
      } catch (err) {
        scaleOutError = err instanceof Error ? err.message : String(err);
        log(`scale-out failed: ${scaleOutError}`);
      }
    }
    await load.call('cleanup', {}).catch((err: unknown) => log(`cleanup failed: ${String(err)}`));
  } finally {
    await load.stop();
  }

  // ---- Report ----------------------------------------------------------------------------------
  // Capture limits every consumer too, when it was measured at its own ceiling (not the generator's).
  const sinks = [
    ...sinkLimits(ceilings),
    ...(capture && capture.perSecond < 0.9 * capture.generatorRate
      ? [{ name: 'capture (PostgreSQL → Kinesis)', changesPerSecond: capture.perSecond }]
      : []),
  ];
  const rows: Row[] = [
    ...ceilings.map((c) => sinkRow(c)),
    ...(capture ? [captureRow(capture)] : []),
    ...ctx.phases.map((p) => phaseRow(p, temporalCosts, sinks)),
  ];
  const targets = evaluateTargets({
    rows,
    ceilings,
    capture: capture ? { perSecond: capture.perSecond, generatorRate: capture.generatorRate } : null,
    raw: capture?.raw,
  });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  mkdirSync(o.outDir, { recursive: true });
  const files = { json: join(o.outDir, `bench-${stamp}.json`), png: join(o.outDir, `bench-${stamp}.png`) };
  const report: BenchReport = {
    tag,
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    settings: withoutFunctions(o),
    environment: {
      AWS_ENDPOINT_URL_KINESIS: process.env.AWS_ENDPOINT_URL_KINESIS,
      AWS_ENDPOINT_URL_DYNAMODB: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      AWS_ENDPOINT_URL_EVENTBRIDGE: process.env.AWS_ENDPOINT_URL_EVENTBRIDGE,
      AWS_ENDPOINT_URL_SQS: process.env.AWS_ENDPOINT_URL_SQS,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      cpus: String(cpus().length),
      node: process.version,
    },
    ceilings,
    capture: capture ?? null,
    rows,
    scaleOut,
    ...(scaleOutError ? { scaleOutError } : {}),
    temporal: temporalCosts,
    targets,
    markdown: markdownTable(rows),
    files,
  };
  writeFileSync(files.json, JSON.stringify(report, null, 2));
  await renderPng(chartSvg(`npm run bench — ${report.startedAt}`, chartSeries(rows)), files.png);
  o.log('');
  o.log(formatTable(rows));
  o.log('(* fell behind: delivered < 0.9 × offered, p99 > 5 s, or not drained)');
  if (scaleOutError) o.log(`\nscale-out FAILED: ${scaleOutError}`);
  if (scaleOut) {
    o.log('');
    o.log(
      `scale-out (${scaleOut.pipeline}): no shard read twice: ${scaleOut.noShardReadTwice ? 'yes' : 'NO'}; checkpoints only forward: ${scaleOut.checkpointsMonotonic ? 'yes' : 'NO'}` +
        // Pulls in chains write checkpoints from local activities, whose inputs are not history.
        ` (${scaleOut.shardChecks.reduce((n, x) => n + x.checkpoints, 0)} checkpoint writes seen in activity inputs)`,
    );
    for (const w of scaleOut.perWorker)
      o.log(
        `  worker ${w.identity}: ${w.workflowTasks} workflow tasks, ${w.activities} activities, ${w.recordsPulled} records pulled (${w.recordsPerSecond.toFixed(0)}/s), CPU ${w.cpuSeconds === null ? '?' : w.cpuSeconds.toFixed(1)} s`,
      );
    for (const sc of scaleOut.shardChecks)
      o.log(
        `  ${sc.shardId}: ${sc.runs} runs, ${sc.recordsPulled} records pulled, ${sc.duplicates} duplicates, ${sc.checkpoints} checkpoints (${sc.backwards} backwards)`,
      );
  }
  o.log('');
  o.log('targets (issue 13):');
  o.log(formatTargets(targets));
  o.log('');
  o.log(`JSON ${files.json}\nPNG  ${files.png}\n(${report.durationSeconds.toFixed(0)} s)`);
  return report;
}

/** The scale-out section: pipeline S with more shards and worker processes, a backlog and one rate. */
async function runScaleOut(
  ctx: Ctx,
  settings: Partial<BatchSettings>,
  temporalCosts: Record<string, ShardReaderCost>,
  firstBehindRate: number | undefined,
): Promise<ScaleOutReport> {
  const { o, load, log, tag } = ctx;
  const s = await startTestPipeline(settings, {
    readers: false,
    shardCount: o.shards,
    extraWorkerProcesses: o.workers - 1,
    workerEnv: WORKER_ENV,
  });
  const sKey = `s:${s.config.taskQueue}`;
  ctx.windows.set(sKey, []);
  try {
    await isolateRun(s, tag);
    const routing = eventRouting(s.config.eventBus).queues;
    const queues = [
      { url: await queueUrl(routing.inventory), receivers: 4 },
      { url: await queueUrl(routing.wallboardOrders), receivers: 2 },
      { url: await queueUrl(routing.wallboardUsers), receivers: 2 },
      { url: await queueUrl(routing.alerts), receivers: 1 },
    ];
    await load.call('target', { queues });
    log(`scale-out: ${o.shards} shards, ${o.workers} workers; waiting for the worker processes …`);
    await waitForWorkers(s.client, s.config.taskQueue, o.workers, 120_000);
    const tail = await StreamTail.open(awsClients().kinesis, s.config.stream, tag);
    const sBacklog = await load.call('runFast', {
      count: o.scaleBacklog,
      concurrency: o.generatorConcurrency,
    });
    await tail.collect(
      (r) => r.commitMs >= sBacklog.firstSentMs - 5 && r.commitMs <= sBacklog.lastCommitMs + 5,
      sBacklog.committed,
      Math.max(60_000, o.scaleBacklog * 50),
    );
    const probe = pipelineProbe(s, () => s.extraWorkerPids());
    const label = `pipeline ${o.shards} shards × ${o.workers} workers`;
    log('scale-out: backlog …');
    await backlogPhase(ctx, {
      section: 'scale-out',
      name: `${label} @ backlog`,
      probe,
      backlog: sBacklog,
      temporal: sKey,
      start: () =>
        startPipeline(s.client, s.config, {
          settings: { idleWaitMs: 2_000, ...settings },
          rescanSeconds: 2,
        }).then(() => undefined),
    });
    const rate = o.scaleRate ?? firstBehindRate ?? o.rates[o.rates.length - 1];
    await load.call('target', { queues, entitiesTable: s.config.tables.entities });
    log(`scale-out: ${rate} changes/s for ${o.seconds} s …`);
    await ratePhase(ctx, {
      section: 'scale-out',
      name: `${label} @ ${rate}/s`,
      probe,
      rate,
      temporal: sKey,
      tail,
    });
    log('reading the scale-out histories …');
    temporalCosts[sKey] = await shardReaderCost(s.client, {
      taskQueue: s.config.taskQueue,
      windows: ctx.windows.get(sKey)!,
      decode: true,
    });
    return scaleOutReport(ctx, sKey, temporalCosts[sKey], s, o.shards, o.workers);
  } finally {
    await load.call('target', { queues: [] }).catch(() => undefined);
    await s.stop();
  }
}

// ---- Phases ------------------------------------------------------------------------------------

async function backlogPhase(
  ctx: Ctx,
  p: {
    section: Section;
    name: string;
    probe: Probe;
    backlog: LoadResult;
    start: () => Promise<void>;
    temporal?: string;
  },
): Promise<Phase> {
  // Long enough for a consumer at 15 changes/s: one that is slower still is reported not drained.
  const timeoutMs = Math.max(60_000, (p.backlog.committed / 15) * 1000);
  return measure(ctx, p, null, async (startMs) => {
    await p.start();
    return {
      load: p.backlog,
      backlog: true,
      query: {
        commitFromMs: p.backlog.firstSentMs - 5,
        commitToMs: p.backlog.lastCommitMs + 5,
        recvFromMs: startMs,
      },
      deadlineMs: startMs + timeoutMs,
    };
  });
}

async function ratePhase(
  ctx: Ctx,
  p: { section: Section; name: string; probe: Probe; rate: number; temporal?: string; tail: StreamTail },
): Promise<Phase> {
  const phase = await measure(ctx, p, p.rate, async () => {
    const lr = await ctx.load.call('runRate', { rate: p.rate, seconds: ctx.o.seconds });
    return {
      load: lr,
      backlog: false,
      query: { commitFromMs: lr.firstSentMs - 5, commitToMs: lr.lastCommitMs + 5 },
      deadlineMs: lr.lastCommitMs + Math.max(ctx.o.drainSeconds, ctx.o.seconds) * 1000,
    };
  });
  // Capture's share of the latency: when the phase's records reached the stream.
  const { load } = phase;
  const onStream = await p.tail.collect(
    (r) => r.commitMs >= load.firstSentMs - 5 && r.commitMs <= load.lastCommitMs + 5,
    load.committed,
    3_000,
  );
  phase.kinesis = summarize(onStream.map((r) => r.arrivalMs - r.commitMs));
  if (phase.kinesis)
    ctx.log(
      `    commit→Kinesis p50 ${Math.round(phase.kinesis.p50)} ms, p99 ${Math.round(phase.kinesis.p99)} ms`,
    );
  return phase;
}

async function measure(
  ctx: Ctx,
  p: { section: Section; name: string; probe: Probe; temporal?: string },
  offered: number | null,
  act: (
    startMs: number,
  ) => Promise<{ load: LoadResult; backlog: boolean; query: WindowQuery; deadlineMs: number }>,
): Promise<Phase> {
  const records0 = await p.probe.records();
  const steps0 = await p.probe.stepMs();
  const meter = new UsageMeter(p.probe.pids()).start();
  const startMs = Date.now();
  const { load, backlog, query, deadlineMs } = await act(startMs);
  let stats = await ctx.load.call('stats', query);
  while (stats.sqsDistinct < load.sqsExpected && Date.now() < deadlineMs) {
    await sleep(300);
    stats = await ctx.load.call('stats', query);
  }
  const endMs = Date.now();
  const usage = meter.stop();
  const phase: Phase = {
    section: p.section,
    name: p.name,
    offered,
    startMs,
    endMs,
    load,
    backlog,
    stats,
    complete: stats.sqsDistinct >= load.sqsExpected,
    usage,
    records: (await p.probe.records()) - records0,
    stepMs: diffRecord(steps0, await p.probe.stepMs()),
    shards: p.probe.shards,
    ...(p.temporal ? { temporal: p.temporal } : {}),
  };
  if (p.temporal) ctx.windows.get(p.temporal)?.push({ name: p.name, startMs, endMs });
  ctx.phases.push(phase);
  const d = deliveredRate(phase);
  ctx.log(
    `  ${p.name}: delivered ${d?.toFixed(0) ?? '—'}/s (${stats.sqsDistinct}/${load.sqsExpected} events` +
      `${phase.complete ? '' : ', NOT drained'}), SQS p99 ${stats.sqs ? Math.round(stats.sqs.p99) : '—'} ms, ` +
      `DynamoDB p99 ${stats.dynamo ? Math.round(stats.dynamo.p99) : '—'} ms, ${phase.records} records, ` +
      `CPU ${usage.cpuSeconds.toFixed(1)} s`,
  );
  return phase;
}

/**
 * Delivered changes/s: the window's distinct SQS events, scaled to all its changes (products reach
 * no queue), over the span of their receipts: from the 5th to the 95th percentile receipt, divided
 * by 0.9 (the first and last few are stragglers of latency, not of throughput); at a rate, at least
 * the span of the commits.
 */
function deliveredRate(p: Phase): number | null {
  const { stats, load } = p;
  if (!stats.sqsDistinct || stats.recvP05Ms === null || stats.recvP95Ms === null) return null;
  const recvSpan = (stats.recvP95Ms - stats.recvP05Ms) / 1000 / 0.9;
  const commitSpan = (load.lastCommitMs - load.firstSentMs) / 1000;
  const span = Math.max(0.001, p.backlog ? recvSpan : Math.max(recvSpan, commitSpan));
  return (stats.sqsDistinct * (load.committed / Math.max(1, load.sqsExpected))) / span;
}

function behind(p: Phase): boolean {
  const d = deliveredRate(p) ?? 0;
  const offered = Math.min(p.offered ?? Infinity, p.load.commitRate);
  return !p.complete || d < 0.9 * offered || (p.stats.sqs?.p99 ?? 0) > 5000;
}

// ---- Rows --------------------------------------------------------------------------------------

function sinkRow(c: Ceiling): Row {
  const emulator = /Kinesis/.test(c.name)
    ? 'kinesis-local'
    : /DynamoDB/.test(c.name)
      ? 'DynamoDB Local'
      : 'EventBridge/SQS emulator';
  return {
    section: 'sink',
    name: `sink: ${c.name.replace(/ \(.*\)$/, '')}`,
    ...NO_FIGURES,
    delivered: c.perSecond,
    limiting: `${emulator} itself (${c.unit}/s, ${c.concurrency} in flight)`,
    details: { ...c },
  };
}

/** The columns a ceiling or capture row leaves empty (they measure one thing: a rate). */
const NO_FIGURES = {
  offered: null,
  dynamo: null,
  sqs: null,
  cpuPer1k: null,
  rssMb: null,
  historyPer1k: null,
  wftPer1k: null,
  actionsPer1k: null,
} as const;

function captureFigures(
  captured: TailRecord[],
  backlog: LoadResult,
  raw: Ceiling,
): NonNullable<BenchReport['capture']> {
  const arrivals = captured.map((r) => r.arrivalMs).sort((a, b) => a - b);
  const span = Math.max(0.001, (arrivals[arrivals.length - 1] - arrivals[0]) / 1000);
  return {
    records: captured.length,
    perSecond: captured.length / span,
    generatorRate: backlog.commitRate,
    commitToKinesis: summarize(captured.map((r) => r.arrivalMs - r.commitMs)),
    meanRecordBytes: captured.reduce((s, r) => s + r.data.length, 0) / Math.max(1, captured.length),
    recordsPerRequestApprox: captured.length / Math.max(1, new Set(arrivals).size),
    raw,
  };
}

function captureRow(c: NonNullable<BenchReport['capture']>): Row {
  const raw = c.raw?.perSecond ?? 0;
  const limiting =
    c.perSecond >= 0.9 * c.generatorRate
      ? `load generator (capture kept up with ${c.generatorRate.toFixed(0)} commits/s)`
      : raw && c.perSecond >= 0.8 * raw
        ? 'Kinesis PutRecords (kinesis-local)'
        : `capture (≈${c.recordsPerRequestApprox.toFixed(0)} records per PutRecords request: per-key order sends a hot key's changes one request each)`;
  return {
    section: 'capture',
    name: 'capture alone → Kinesis',
    ...NO_FIGURES,
    delivered: c.perSecond,
    limiting,
    details: { ...c, raw: undefined, rawPerSecond: raw },
  };
}

function phaseRow(
  p: Phase,
  costs: Record<string, ShardReaderCost>,
  sinks: ReturnType<typeof sinkLimits>,
): Row {
  const delivered = deliveredRate(p);
  const per1k = (x: number) => (p.records > 0 ? (x * 1000) / p.records : null);
  const bucket: CostBucket | undefined = p.temporal ? costs[p.temporal]?.windows[p.name] : undefined;
  const wallShard = Math.max(1, ((p.endMs - p.startMs) / 1000) * p.shards);
  const shares = stageShares(p, bucket, wallShard);
  const fellBehind = p.backlog ? undefined : behind(p);
  // Applies by value (before issue 20), by reference, and in chains (local activities).
  const applies =
    (bucket?.activitiesByType.applyEvents ?? 0) +
    (bucket?.activitiesByType.applyBatch ?? 0) +
    (bucket?.localActivitiesByType.applyBatch ?? 0);
  return {
    section: p.section,
    name: p.name,
    offered: p.offered,
    delivered,
    dynamo: p.backlog ? null : p.stats.dynamo,
    sqs: p.backlog ? null : p.stats.sqs,
    cpuPer1k: per1k(p.usage.cpuSeconds),
    rssMb: p.usage.peakRssMb,
    historyPer1k: bucket ? per1k(bucket.events) : null,
    historyBytesPerChange: bucket && p.records ? bucket.bytes / p.records : null,
    wftPer1k: bucket ? per1k(bucket.workflowTasks) : null,
    actionsPer1k: bucket ? per1k(bucket.actions) : null,
    limiting: captureLimited(p, fellBehind)
      ? `capture (commit→Kinesis p50 ${Math.round(p.kinesis!.p50)} ms of commit→SQS ${Math.round(p.stats.sqs!.p50)} ms)`
      : limitingOf({
          keptUp: fellBehind === false,
          delivered,
          // Consumers read, apply and publish; capture writes the stream (its own figure covers
          // PutRecords), and a backlog is on the stream before the consumer starts.
          sinks: sinks.filter(
            (x) => !/PutRecords/.test(x.name) && !(p.backlog && x.name.startsWith('capture')),
          ),
          shares,
        }),
    ...(fellBehind ? { fellBehind } : {}),
    details: {
      seconds: (p.endMs - p.startMs) / 1000,
      ...(p.kinesis ? { commitToKinesis: p.kinesis } : {}),
      committed: p.load.committed,
      commitRate: p.load.commitRate,
      generatorFailures: p.load.failed,
      byKind: p.load.byKind,
      sqsExpected: p.load.sqsExpected,
      sqsDelivered: p.stats.sqsDistinct,
      drained: p.complete,
      recordsProcessed: p.records,
      meanBatch: applies ? p.records / applies : undefined,
      stageShares: shares,
      stepSeconds: Object.fromEntries(Object.entries(p.stepMs).map(([k, v]) => [k, v / 1000])),
      usage: p.usage,
      ...(bucket
        ? {
            actionsByKind: bucket.actionsByKind,
            activitiesByType: bucket.activitiesByType,
            localActivitiesByType: bucket.localActivitiesByType,
            scheduleToStartMsMean: Object.fromEntries(
              Object.entries(bucket.scheduleToStartMs).map(([k, v]) => [
                k,
                v / Math.max(1, bucket.activitiesByType[k] ?? 1),
              ]),
            ),
          }
        : {}),
    },
  };
}

/** A rate phase that fell behind because its changes reached the stream late (half its latency or more). */
function captureLimited(p: Phase, fellBehind: boolean | undefined): boolean {
  return Boolean(fellBehind && p.kinesis && p.stats.sqs && p.kinesis.p50 >= 0.5 * p.stats.sqs.p50);
}

/** Share of the shards' wall time per stage (see the header: "limiting component"). */
function stageShares(
  p: Phase,
  bucket: CostBucket | undefined,
  wallShardSeconds: number,
): Record<string, number> {
  const ms: Record<string, number> = {};
  const addMs = (k: string, v: number) => (ms[k] = (ms[k] ?? 0) + Math.max(0, v));
  if (p.section === 'direct') for (const [k, v] of Object.entries(p.stepMs)) addMs(k, v);
  else {
    for (const [k, v] of Object.entries(p.stepMs)) addMs(k === 'dead_letter' ? 'deadLetter' : k, v);
    if (bucket) {
      addMs('pull', bucket.activityExecMs.pullRecords ?? 0);
      addMs('checkpoint', bucket.activityExecMs.saveCheckpoint ?? 0);
    }
  }
  const shares = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, v / 1000 / wallShardSeconds]));
  const rest = Math.max(0, 1 - Object.values(shares).reduce((s, v) => s + v, 0));
  if (p.section !== 'direct' && bucket) shares.temporal = rest;
  return shares;
}

function chartSeries(rows: readonly Row[]): ChartSeries[] {
  const points = (section: Section) =>
    rows
      .filter((r) => r.section === section && r.offered !== null)
      .map((r) => ({ rate: r.offered!, sqs: r.sqs, dynamo: r.dynamo }));
  const series: ChartSeries[] = [
    { label: 'pipeline', points: points('pipeline') },
    { label: 'direct consumer', points: points('direct'), dashed: true },
  ];
  const scale = points('scale-out');
  if (scale.length) series.push({ label: 'scale-out', points: scale, markers: true });
  return series;
}

function scaleOutReport(
  ctx: Ctx,
  key: string,
  cost: ShardReaderCost,
  p: TestPipeline,
  shards: number,
  workers: number,
): ScaleOutReport {
  const windows = ctx.windows.get(key) ?? [];
  const seconds = windows.reduce((s, w) => s + (w.endMs - w.startMs) / 1000, 0);
  const phases = ctx.phases.filter((ph) => ph.temporal === key);
  const byIdentity = new Map<string, ScaleOutReport['perWorker'][number]>();
  for (const w of windows) {
    for (const [identity, c] of Object.entries(cost.windows[w.name]?.byIdentity ?? {})) {
      const e = byIdentity.get(identity) ?? {
        identity,
        workflowTasks: 0,
        activities: 0,
        byType: {},
        recordsPulled: 0,
        recordsPerSecond: 0,
        cpuSeconds: null,
      };
      e.workflowTasks += c.workflowTasks;
      e.activities += c.activities;
      e.recordsPulled += c.recordsPulled;
      for (const [t, n] of Object.entries(c.byType)) e.byType[t] = (e.byType[t] ?? 0) + n;
      byIdentity.set(identity, e);
    }
  }
  for (const e of byIdentity.values()) {
    e.recordsPerSecond = e.recordsPulled / Math.max(0.001, seconds);
    const pid = Number(e.identity.split('@')[0]);
    const processKey = pid === process.pid ? 'self' : `pid:${pid}`;
    const cpu = phases.map((ph) => ph.usage.processes[processKey]?.cpuSeconds);
    e.cpuSeconds = cpu.every((v) => v !== undefined) ? cpu.reduce((s: number, v) => s + (v ?? 0), 0) : null;
  }
  return {
    pipeline: `${p.config.stream} (${shards} shards, ${workers} workers: this process + ${p.extraWorkerPids().length} worker process(es))`,
    shards,
    workers,
    perWorker: [...byIdentity.values()].sort((a, b) => a.identity.localeCompare(b.identity)),
    shardChecks: cost.shards,
    noShardReadTwice: cost.shards.every((s) => s.duplicates === 0),
    checkpointsMonotonic: cost.shards.every((s) => s.backwards === 0),
  };
}

// ---- Pipeline helpers --------------------------------------------------------------------------

function pipelineProbe(p: TestPipeline, pids: () => number[]): Probe {
  return {
    shards: p.config.shardCount,
    pids,
    records: async () => {
      let total = 0;
      for (const shardId of await shardIds(p.config.stream)) {
        const status = await p.client.workflow
          .getHandle(shardWorkflowId(p.config.stream, p.config.consumer, shardId))
          .query(statusQuery)
          .catch(() => undefined);
        total += status?.counters.records ?? 0;
      }
      return total;
    },
    stepMs: async () =>
      Object.fromEntries(Object.entries(await stepSeconds(p.config.consumer)).map(([k, v]) => [k, v * 1000])),
  };
}

async function shardIds(stream: string): Promise<string[]> {
  const out = await awsClients().kinesis.send(new ListShardsCommand({ StreamName: stream }));
  return (out.Shards ?? []).map((s) => s.ShardId!);
}

/**
 * Narrows the pipeline's publication to this run's rows (PostgreSQL 15 row filters on the key
 * columns, and the heartbeat table): every slot on the local stack sees the same tables, and
 * other jobs' changes (tests running alongside) would otherwise load the measured pipeline.
 */
async function isolateRun(p: TestPipeline, tag: string): Promise<void> {
  const schema = p.config.pgSchema;
  const tables = Object.entries(TAGGED_COLUMN).map(
    ([table, column]) => `${schema}.${table} WHERE (${column} LIKE '${tag}-%')`,
  );
  await p.pg.query(
    `ALTER PUBLICATION ${p.config.publication} SET TABLE ${[...tables, `${schema}.${HEARTBEAT_TABLE}`].join(', ')}`,
  );
}

/** Terminates the supervisor (first: it would restart them) and the shard readers; capture runs on. */
async function stopReaders(p: TestPipeline): Promise<void> {
  const { stream, consumer } = p.config;
  await p.client.workflow
    .getHandle(supervisorWorkflowId(stream, consumer))
    .terminate('benchmark: pipeline phases done')
    .catch(() => undefined);
  for (const shardId of await shardIds(stream)) {
    const reader = p.client.workflow.getHandle(shardWorkflowId(stream, consumer, shardId));
    // A query is answered between workflow tasks: a chain still running (workflows/shardReader/
    // pull.ts) completes and its local activities become history before the terminate.
    await reader.query(statusQuery).catch(() => undefined);
    await reader.terminate('benchmark: pipeline phases done').catch(() => undefined);
  }
}

/** Waits until `workers` distinct identities poll the task queue for activities. */
async function waitForWorkers(
  client: Client,
  taskQueue: string,
  workers: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    const identities = new Set((out.pollers ?? []).map((p) => p.identity));
    if (identities.size >= workers) return;
    if (Date.now() > deadline)
      throw new Error(
        `only ${identities.size} of ${workers} workers poll ${taskQueue} (see .stack/worker-*.log)`,
      );
    await sleep(500);
  }
}

// ---- Reading the stream ------------------------------------------------------------------------

interface TailRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  arrivalMs: number;
  /** Commit time of a tagged record (NaN for others). */
  commitMs: number;
}

/** Reads a stream's new records, shard by shard, keeping this run's (tagged) ones. */
class StreamTail {
  private readonly shards = new Map<string, { iterator?: string; after?: string }>();
  private readonly kept: TailRecord[] = [];

  private constructor(
    private readonly kinesis: KinesisClient,
    private readonly stream: string,
    private readonly tag: string,
  ) {}

  static async open(kinesis: KinesisClient, stream: string, tag: string): Promise<StreamTail> {
    const t = new StreamTail(kinesis, stream, tag);
    for (const id of await shardIds(stream)) t.shards.set(id, {});
    return t;
  }

  /** Continues after `sequenceNumber` on this shard (records before it are never read). */
  skipTo(shardId: string, sequenceNumber: string): void {
    this.shards.set(shardId, { after: sequenceNumber });
  }

  /** The last sequence number read on each shard. */
  positions(): [string, string][] {
    return [...this.shards].flatMap(([id, s]) => (s.after ? [[id, s.after] as [string, string]] : []));
  }

  /** Reads until `count` kept records match `match` (or the timeout); returns the matching ones. */
  async collect(match: (r: TailRecord) => boolean, count: number, timeoutMs: number): Promise<TailRecord[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.poll();
      const found = this.kept.filter(match);
      if (found.length >= count || Date.now() >= deadline) return found;
      // Arrival times come from the stream itself: reading seldom keeps the emulator for capture.
      await sleep(1000);
    }
  }

  private async poll(): Promise<void> {
    for (const [ShardId, s] of this.shards) {
      for (;;) {
        if (!s.iterator) {
          const out = await this.kinesis.send(
            new GetShardIteratorCommand({
              StreamName: this.stream,
              ShardId,
              ...(s.after
                ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: s.after }
                : { ShardIteratorType: 'TRIM_HORIZON' }),
            }),
          );
          s.iterator = out.ShardIterator;
        }
        let page;
        try {
          page = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: s.iterator, Limit: 10_000 }));
        } catch (err) {
          if (err instanceof ExpiredIteratorException) {
            s.iterator = undefined;
            continue;
          }
          throw err;
        }
        s.iterator = page.NextShardIterator;
        const records = page.Records ?? [];
        for (const r of records) {
          s.after = r.SequenceNumber;
          const data = r.Data ?? new Uint8Array();
          const text = Buffer.from(data).toString('utf8');
          if (!text.includes(this.tag)) continue;
          let commitMs = NaN;
          try {
            commitMs = isoToMs((JSON.parse(text) as { source: { commitTs: string } }).source.commitTs);
          } catch {
            // not a canonical change (a raw copy is one too; its commit time is the warm-up's)
          }
          this.kept.push({
            shardId: ShardId,
            sequenceNumber: r.SequenceNumber!,
            partitionKey: r.PartitionKey ?? '',
            data,
            arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
            commitMs,
          });
        }
        if (!records.length || !s.iterator || (page.MillisBehindLatest ?? 0) === 0) break;
      }
    }
  }
}

/** Worker processes serve no metrics endpoint: its default port may be another worker's. */
const WORKER_ENV = { CDC_METRICS_PORT: 'off' };

/** Records at least this large are the mix's large rows. */
const LARGE_RECORD_BYTES = 20_000;

/**
 * The raw loop's records: the warm-up's own records, with large rows (from the seed or the warm-up)
 * at the mix's share, so the raw loop writes the bytes capture writes.
 */
function rawTemplates(warm: readonly TailRecord[], large: readonly TailRecord[]): RecordTemplate[] {
  const small = warm.filter((r) => r.data.length < LARGE_RECORD_BYTES);
  const templates = small.map((r) => ({ data: r.data, partitionKey: r.partitionKey }));
  const want = Math.round((small.length * MIX.largeProduct) / (1 - MIX.largeProduct));
  for (let i = 0; i < want && large.length; i++) {
    const r = large[i % large.length];
    templates.splice(Math.floor((templates.length * (i + 1)) / (want + 1)), 0, {
      data: r.data,
      partitionKey: r.partitionKey,
    });
  }
  return templates;
}

function withoutFunctions(o: BenchOptions): BenchReport['settings'] {
  const { log: _log, outDir: _outDir, ...rest } = o;
  return rest;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const sinks = argv.includes('--sinks') ? argv[argv.indexOf('--sinks') + 1] : 'local';
  if (sinks === 'simulated') {
    // In-process fakes of the AWS services at AWS-like latencies: the pipeline's own ceiling (bench/simulated.ts).
    const simulated = await runSimulatedBench(parseSimulatedArgs(argv));
    if (simulated.rows.length === 0) process.exitCode = 1;
    return;
  }
  if (sinks !== 'local')
    throw new Error(`--sinks takes local (the stack's emulators) or simulated, got ${sinks}`);
  const report = await runBench(parseBenchArgs(argv));
  if (report.rows.length === 0) process.exitCode = 1;
}

if (require.main === module) {
  main()
    // The in-process worker's native connection would keep the process alive.
    .then(() => process.exit(process.exitCode ?? 0))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
