/**
 * What thousands of pending holds cost: one reservation-expiry workflow each, on the local stack.
 *
 *   npm run bench:holds -- [--holds 1000] [--min-ttl 60] [--max-ttl 90]
 *
 * 1. Takes --holds holds (quantity 1, TTL uniform in [--min-ttl, --max-ttl] s) through the
 *    library (infra/reservationStore.ts); the pipeline starts one expiry workflow per hold.
 * 2. Once every workflow waits on its timer: the Temporal server's and the worker's CPU seconds
 *    and resident memory spent to get there, the server database's growth, and their CPU over
 *    10 idle seconds with the holds pending.
 * 3. Waits for every hold to expire: release lateness p50/p99/max (PostgreSQL's clock, the
 *    release's updated_at minus expires_at), CPU spent, and the history of 20 expiry workflows
 *    (events and bytes).
 * The worker runs in this process (its CPU includes the load generator's small share, and the
 * shard readers' work on the 2 × holds reservation changes). Results also go to
 * .cache/bench/holds-<time>.json.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import { awaitHolds, processUsage, takeHolds } from '../test/support/holdLoad';
import { startTestPipeline } from '../test/support/testPipeline';
import { RESERVATION_EXPIRY_WORKFLOW_TYPE } from '../workflows/names';
import { useEnvironment } from '../infra/localStack/environment';
import { ROOT, servicePid } from '../infra/localStack/localStack';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const worker = () => {
  const cpu = process.cpuUsage();
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rssMb: process.memoryUsage().rss / 2 ** 20 };
};
const dbBytes = () =>
  ['temporal.db', 'temporal.db-wal'].reduce((sum, f) => {
    try {
      return sum + statSync(join(ROOT, '.stack', 'temporal', f)).size;
    } catch {
      return sum;
    }
  }, 0);

async function main(): Promise<void> {
  const holds = arg('holds', 1000);
  const minTtl = arg('min-ttl', 60);
  const maxTtl = arg('max-ttl', 90);
  await useEnvironment({ localStack: 'start' });
  const p = await startTestPipeline({}, { reservationExpiry: true });
  const pool = new Pool({ max: 10 });
  const serverPid = servicePid('temporal');
  if (!serverPid) throw new Error('the local Temporal server is not running');
  const server = () => processUsage(serverPid);
  try {
    const tag = `bench-${Date.now().toString(36)}`;
    const s0 = server();
    const w0 = worker();
    const db0 = dbBytes();
    const t0 = Date.now();
    const load = await takeHolds(pool, { holds, minTtlSeconds: minTtl, maxTtlSeconds: maxTtl, tag });
    const query = `WorkflowType = '${RESERVATION_EXPIRY_WORKFLOW_TYPE}' AND CdcSku = '${load.sku}' AND ExecutionStatus = 'Running'`;
    for (;;) {
      const { count } = await p.client.workflow.count(query);
      if (count >= holds) break;
      if (Date.now() > load.lastDeadline - minTtl * 500)
        throw new Error(`only ${count} of ${holds} workflows started in time`);
      await sleep(500);
    }
    const startedMs = Date.now() - t0;
    const s1 = server();
    const w1 = worker();
    const db1 = dbBytes();
    await sleep(10_000);
    const s2 = server();
    const w2 = worker();
    const outcome = await awaitHolds(pool, load, load.lastDeadline - Date.now() + 300_000);
    const s3 = server();
    const w3 = worker();
    const histories: { events: number; bytes: number }[] = [];
    for await (const wf of p.client.workflow.list({
      query: `WorkflowType = '${RESERVATION_EXPIRY_WORKFLOW_TYPE}' AND CdcSku = '${load.sku}'`,
    })) {
      const h = await p.client.workflow.getHandle(wf.workflowId).fetchHistory();
      histories.push({ events: h.events?.length ?? 0, bytes: JSON.stringify(h).length });
      if (histories.length >= 20) break;
    }
    const per1000 = (x: number) => Math.round((x * 1000 * 1000) / holds) / 1000;
    const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
    const result = {
      holds,
      ttlSeconds: [minTtl, maxTtl],
      workflowsStartedInMs: startedMs,
      per1000PendingHolds: {
        serverCpuSecondsToStart: per1000(s1.cpuSeconds - s0.cpuSeconds),
        workerCpuSecondsToStart: per1000(w1.cpuSeconds - w0.cpuSeconds),
        serverRssMb: per1000(s1.rssMb - s0.rssMb),
        workerRssMb: per1000(w1.rssMb - w0.rssMb),
        serverDbMb: per1000((db1 - db0) / 2 ** 20),
        serverCpuSecondsPer10sIdle: per1000(s2.cpuSeconds - s1.cpuSeconds),
        workerCpuSecondsPer10sIdle: per1000(w2.cpuSeconds - w1.cpuSeconds),
        serverCpuSecondsToExpire: per1000(s3.cpuSeconds - s2.cpuSeconds),
        workerCpuSecondsToExpire: per1000(w3.cpuSeconds - w2.cpuSeconds),
      },
      outcome,
      historyPerWorkflow: {
        eventsAvg: avg(histories.map((h) => h.events)),
        eventsMax: Math.max(...histories.map((h) => h.events)),
        bytesAvg: avg(histories.map((h) => h.bytes)),
      },
    };
    console.log(JSON.stringify(result, null, 2));
    const dir = join(ROOT, '.cache', 'bench');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, `holds-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(result, null, 2),
    );
  } finally {
    await pool.end();
    await p.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
