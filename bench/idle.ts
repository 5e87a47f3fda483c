/**
 * What an idle pipeline costs in Temporal (issue 20, item 3): capture, the supervisor and the
 * shard readers of a pipeline of its own on the local stack, with their default settings and no
 * load, counted per workflow from their histories (bench/lib/idleCost.ts).
 *
 *   npm run bench:idle -- [--minutes 5] [--warmup 60] [--shards 2]
 *   npm run bench:idle -- --recount .cache/bench/idle-<time>.json [--task-queue Q]
 *                                  (counts that run's histories again, e.g. after a counting fix)
 *
 * The pipeline's publication is narrowed to the heartbeat table, so other jobs' changes on the
 * shared stack do not reach it. After --warmup seconds (start-up: first scans, first pulls) it
 * counts events and actions over --minutes, and prints them per workflow and per hour. Results
 * also go to .cache/bench/idle-<time>.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HEARTBEAT_TABLE } from '../domain/capture/walChange';
import { startPipeline } from '../infra/pipelineClient';
import { startTestPipeline } from '../test/support/testPipeline';
import { temporalClient } from '../infra/temporal';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT } from '../infra/localStack/localStack';
import { costByWorkflowType, type WorkflowTypeCost } from './lib/idleCost';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

function text(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

interface Window {
  startMs: number;
  endMs: number;
}

async function main(): Promise<void> {
  const recount = text('recount');
  if (recount) {
    const saved = JSON.parse(readFileSync(recount, 'utf8')) as {
      minutes: number;
      shards: number;
      window: Window;
      taskQueue?: string;
    };
    const taskQueue = text('task-queue') ?? saved.taskQueue;
    if (!taskQueue) throw new Error('--recount needs --task-queue (not in the file)');
    await useEnvironment({});
    const client = await temporalClient();
    const cost = await costByWorkflowType(client, { taskQueue, window: saved.window });
    report({ ...saved, taskQueue, cost });
    return;
  }
  const minutes = arg('minutes', 5);
  const warmupSeconds = arg('warmup', 60);
  const shards = arg('shards', 2);
  await useEnvironment({ localStack: 'start' });
  // Capture first (the test pipeline's readers use test settings); the supervisor with the defaults.
  const p = await startTestPipeline({}, { readers: false, shardCount: shards });
  try {
    await p.pg.query(
      `ALTER PUBLICATION ${p.config.publication} SET TABLE ${p.config.pgSchema}.${HEARTBEAT_TABLE}`,
    );
    await startPipeline(p.client, p.config, {});
    console.error(`idle pipeline ${p.config.stream} (${shards} shards): warm-up ${warmupSeconds} s …`);
    await sleep(warmupSeconds * 1000);
    const window = { startMs: Date.now(), endMs: Date.now() + minutes * 60_000 };
    console.error(`counting over ${minutes} min …`);
    await sleep(minutes * 60_000 + 2_000);
    const cost = await costByWorkflowType(p.client, { taskQueue: p.config.taskQueue, window });
    report({ minutes, shards, window, taskQueue: p.config.taskQueue, cost });
  } finally {
    await p.stop();
  }
}

function report(run: {
  minutes: number;
  shards: number;
  window: Window;
  taskQueue: string;
  cost: Record<string, WorkflowTypeCost>;
}): void {
  const { minutes, shards, cost } = run;
  {
    const perHour = 60 / minutes;
    const rows = Object.entries(cost).map(([type, c]) => ({
      workflow: type,
      workflows: c.workflows,
      actionsPerHourEach: Math.round((c.actions * perHour) / c.workflows),
      eventsPerHourEach: Math.round((c.events * perHour) / c.workflows),
      actionsByKindPerHourEach: Object.fromEntries(
        Object.entries(c.actionsByKind).map(([k, n]) => [k, Math.round((n * perHour) / c.workflows)]),
      ),
    }));
    console.log(`\nIdle cost per workflow, per hour (measured over ${minutes} min, ${shards} shards):\n`);
    console.log(
      '| workflow | count | actions/hour each | history events/hour each | actions by kind (per hour each) |',
    );
    console.log('|---|---:|---:|---:|---|');
    for (const r of rows)
      console.log(
        `| ${r.workflow} | ${r.workflows} | ${r.actionsPerHourEach} | ${r.eventsPerHourEach} | ${Object.entries(
          r.actionsByKindPerHourEach,
        )
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')} |`,
      );
    const dir = join(ROOT, '.cache', 'bench');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `idle-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ ...run, rows }, null, 2));
    console.log(`\n${file}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
