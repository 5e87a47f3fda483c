import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { Client as PgClient } from 'pg';
import { entityKey } from '../../domain/core/itemKeys';
import { awsClients } from '../../infra/aws';
import { SA } from '../../workflows/names';
import { startAnalyticsConsumer, type TestConsumer } from '../support/consumers';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/** Changes a second, committed one by one. */
const RATE = 20;
/** Changes applied before the outage: the latency to compare with. */
const BASELINE_CHANGES = 60;
/** Changes committed after an analytics reader showed STUCK that the operational consumer must apply before the database comes back. */
const OUTAGE_CHANGES = 100;

type Phase = 'baseline' | 'outage';
interface Committed {
  sku: string;
  committedAt: number;
  phase: Phase;
  appliedAt?: number;
}

/** p50 and p99 (nearest rank) of a list of milliseconds. */
function percentiles(ms: number[]): { p50: number; p99: number; n: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), n: sorted.length };
}

/**
 * Two consumers of one stream: the operational one (DynamoDB, EventBridge) and the analytics one
 * (its PostgreSQL database), each with its own worker, task queue, supervisor and shard readers.
 * Under a steady load, the analytics database is made unavailable: the analytics shard readers show
 * STUCK, and while they do the operational consumer applies every change committed (all of them,
 * before the database is back), its commit → DynamoDB latency compared with the one before the
 * outage in the same run; after the database is back the analytics readers catch up with every
 * change exactly once. The outage lasts as long as that takes (no fixed minute); timings are from
 * a shared 2-core machine: noisy.
 */
describe('consumer isolation: the analytics database down under load', function () {
  this.timeout(420_000);
  let p: TestPipeline;
  let analytics: TestConsumer;
  const run = `iso${Date.now().toString(36)}`;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline();
    analytics = await startAnalyticsConsumer(p);
    const op = probes(p);
    await waitFor('both consumers’ shard readers to run', async () => {
      const [a, b] = await Promise.all([op.allShardStatuses(), analytics.shardStatuses()]);
      return a.length === p.config.shardCount && b.length === p.config.shardCount ? true : undefined;
    });
  });
  after(async () => {
    await analytics?.bringDatabaseBack().catch(() => undefined);
    await analytics?.stop();
    await p?.stop();
  });

  it('keeps the operational consumer’s latency, shows the analytics one STUCK, then catches up exactly once', async () => {
    const committed: Committed[] = [];
    let phase: Phase = 'baseline';
    let loading = true;

    // The load: one new inventory row per change, at RATE a second, on a connection of its own.
    const loader = new PgClient();
    await loader.connect();
    const load = (async () => {
      const start = Date.now();
      for (let i = 0; loading; i++) {
        const wait = start + (i * 1000) / RATE - Date.now();
        if (wait > 0) await sleep(wait);
        const sku = `${run}-${i}`;
        await loader.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 500)', [sku]);
        committed.push({ sku, committedAt: Date.now(), phase });
      }
    })();

    // When each change reaches DynamoDB (cdc_entities), polled every 100 ms for the ones not seen yet.
    let tracking = true;
    const table = p.config.tables.entities;
    const tracker = (async () => {
      while (tracking) {
        const pending = committed.filter((c) => c.appliedAt === undefined);
        for (let i = 0; i < pending.length; i += 100) {
          const chunk = pending.slice(i, i + 100);
          const out = await awsClients()
            .doc.send(
              new BatchGetCommand({
                RequestItems: {
                  [table]: {
                    Keys: chunk.map((c) => ({ pk: entityKey('inventory', `${c.sku}#1`) })),
                    ConsistentRead: true,
                    ProjectionExpression: 'pk',
                  },
                },
              }),
            )
            .catch(() => undefined); // a slow or failed read is simply done again at the next poll
          if (!out) continue;
          const now = Date.now();
          const found = new Set((out.Responses?.[table] ?? []).map((item) => String(item.pk)));
          for (const c of chunk) if (found.has(entityKey('inventory', `${c.sku}#1`))) c.appliedAt = now;
        }
        await sleep(100);
      }
    })();

    const operationalStuck = `CdcStream = '${p.config.stream}' AND CdcConsumer = '${p.config.consumer}' AND CdcState = 'STUCK'`;
    const analyticsStuck = `CdcStream = '${p.config.stream}' AND CdcConsumer = '${analytics.config.consumer}' AND CdcState = 'STUCK'`;
    let operationalStuckSeen = 0;
    const watchOperational = async () => {
      operationalStuckSeen += (await p.client.workflow.count(operationalStuck)).count;
    };

    const appliedOf = (ph: Phase, after = 0) =>
      committed.filter((c) => c.phase === ph && c.committedAt >= after && c.appliedAt !== undefined).length;

    try {
      await waitFor(
        `${BASELINE_CHANGES} changes applied before the outage`,
        async () => (appliedOf('baseline') >= BASELINE_CHANGES ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 250, lastSeen: () => `${appliedOf('baseline')} applied` },
      );
      await watchOperational();

      // The outage.
      phase = 'outage';
      const downAt = Date.now();
      await analytics.takeDatabaseDown();
      const stuck = await waitFor(
        'an analytics shard reader to show STUCK in apply',
        async () => (await analytics.shardStatuses()).find((s) => s.state === 'STUCK'),
        { timeoutMs: 45_000, intervalMs: 250 },
      );
      const stuckAfterMs = Date.now() - downAt;
      assert.equal(stuck.lastError?.step, 'apply', stuck.lastError?.message);
      assert.equal(stuck.lastError?.category, 'transient', stuck.lastError?.message);
      const listed = await waitFor(
        'the Web UI’s STUCK view to list the analytics shard',
        async () => {
          const n = (await p.client.workflow.count(analyticsStuck)).count;
          return n > 0 ? n : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      const described = await analytics.shardHandle(stuck.shardId).describe();
      assert.equal(described.typedSearchAttributes.get(SA.state), 'STUCK');
      assert.equal(described.typedSearchAttributes.get(SA.consumer), analytics.config.consumer);
      console.log(
        `      analytics: ${stuck.shardId} STUCK ${(stuckAfterMs / 1000).toFixed(1)} s after the database went down ` +
          `(step ${stuck.lastError?.step}, ${stuck.lastError?.category}: ${stuck.lastError?.message.slice(0, 100)}); ` +
          `${listed} analytics shard(s) listed by CdcState = 'STUCK'`,
      );
      // The operational consumer goes on while the analytics one is STUCK: changes committed after
      // it showed STUCK reach DynamoDB.
      const stuckSeenAt = Date.now();
      await waitFor(
        `${OUTAGE_CHANGES} changes committed after the analytics reader went STUCK applied by the operational consumer`,
        async () => {
          await watchOperational();
          return appliedOf('outage', stuckSeenAt) >= OUTAGE_CHANGES ? true : undefined;
        },
        {
          timeoutMs: 120_000,
          intervalMs: 1_000,
          lastSeen: () => `${appliedOf('outage', stuckSeenAt)} applied`,
        },
      );

      // The load ends; every change is in DynamoDB while the analytics database is still down.
      loading = false;
      await load;
      const total = committed.length;
      const op = probes(p);
      let opSeen = '';
      await waitFor(
        'every change in DynamoDB, the analytics database still down',
        async () => {
          const pending = committed.filter((c) => c.appliedAt === undefined).length;
          const statuses = await op.allShardStatuses();
          opSeen = `${pending} of ${total} not seen; ${statuses.map((s) => `${s.shardId} ${s.state} lag ${s.lagMs} ms applied ${s.counters.applied}`).join(', ')}`;
          return pending === 0 ? true : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 1_000, lastSeen: () => opSeen },
      );
      await watchOperational();
      const duringOutage = await analytics.shardStatuses();
      assert.ok(
        duringOutage.some((s) => s.state === 'STUCK'),
        `the analytics consumer still STUCK when the operational one had everything: ${duringOutage.map((s) => s.state).join(', ')}`,
      );

      // Back.
      await analytics.bringDatabaseBack();
      const backAt = Date.now();
      let rowsSeen = 0;
      await waitFor(
        'the analytics consumer to catch up',
        async () => {
          const [r] = await analytics.query<{ n: string }>(
            'SELECT count(*) AS n FROM cdc_changes WHERE entity_id LIKE $1',
            [`${run}-%`],
          );
          rowsSeen = Number(r!.n);
          return rowsSeen >= total ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250, lastSeen: () => `${rowsSeen} of ${total} rows` },
      );
      const caughtUpMs = Date.now() - backAt;

      // Exactly once: one row per change, counted once in the aggregates.
      const [counts] = await analytics.query<{ n: string; ids: string; entities: string }>(
        `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT entity_id) AS entities
         FROM cdc_changes WHERE entity_id LIKE $1`,
        [`${run}-%`],
      );
      const [agg] = await analytics.query<{ five: string; hour: string }>(
        `SELECT sum(change_count) FILTER (WHERE grain = '5m') AS five, sum(change_count) FILTER (WHERE grain = '1h') AS hour
         FROM agg_stock_movements WHERE sku LIKE $1`,
        [`${run}-%`],
      );
      const recovered = await waitFor('the analytics shard readers out of STUCK', async () => {
        const s = await analytics.shardStatuses();
        return s.every((x) => x.state !== 'STUCK') ? s : undefined;
      });

      // The analytics consumer's own latency before the outage (commit → row, the database's clock;
      // changes still in flight when it went down are left out), and how fast it drained the backlog.
      const entities = (ph: Phase) => committed.filter((c) => c.phase === ph).map((c) => `${c.sku}#1`);
      const [own] = await analytics.query<{ p50: number; p99: number }>(
        `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - commit_ts) * 1000) AS p50,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - commit_ts) * 1000) AS p99
         FROM cdc_changes WHERE entity_id = ANY($1) AND received_at < to_timestamp($2::float8 / 1000)`,
        [entities('baseline'), downAt],
      );
      const [drain] = await analytics.query<{ n: string; seconds: number }>(
        `SELECT count(*) AS n, extract(epoch FROM max(received_at) - min(received_at)) AS seconds
         FROM cdc_changes WHERE entity_id = ANY($1)`,
        [entities('outage')],
      );

      const baseline = percentiles(
        committed.filter((c) => c.phase === 'baseline').map((c) => c.appliedAt! - c.committedAt),
      );
      const outage = percentiles(
        committed.filter((c) => c.phase === 'outage').map((c) => c.appliedAt! - c.committedAt),
      );
      console.log(
        `      load: ${total} changes at ${RATE}/s (${baseline.n} before, ${outage.n} during the ${((backAt - downAt) / 1000).toFixed(0)} s outage)\n` +
          `      operational commit → DynamoDB: without the outage p50 ${baseline.p50} ms, p99 ${baseline.p99} ms; ` +
          `during it p50 ${outage.p50} ms, p99 ${outage.p99} ms (100 ms polling; shared 2-core machine)\n` +
          `      analytics commit → row without the outage: p50 ${Math.round(own!.p50)} ms, p99 ${Math.round(own!.p99)} ms; ` +
          `the outage's ${drain!.n} changes inserted within ${Number(drain!.seconds).toFixed(1)} s once it could write\n` +
          `      analytics during the outage: ${duringOutage.map((s) => `${s.shardId} ${s.state} (${s.lastError?.attempts ?? 0} failed attempts)`).join(', ')}\n` +
          `      analytics caught up ${(caughtUpMs / 1000).toFixed(1)} s after the database came back: ` +
          `${counts!.n} rows, ${counts!.ids} distinct event ids, ${counts!.entities} distinct keys for ${total} committed changes; ` +
          `aggregated changes 5m ${agg!.five}, 1h ${agg!.hour}\n` +
          `      analytics after: ${recovered.map((s) => `${s.shardId} ${s.state}, notes: ${s.notes.slice(-1).join('')}`).join('; ')}`,
      );

      assert.deepEqual(
        [Number(counts!.n), Number(counts!.ids), Number(counts!.entities)],
        [total, total, total],
        'every change exactly once in the change table',
      );
      assert.deepEqual([Number(agg!.five), Number(agg!.hour)], [total, total], 'and once in the aggregates');
      assert.equal(operationalStuckSeen, 0, 'the operational consumer never showed STUCK');
      assert.ok(baseline.n > 0 && outage.n > 0);
      // Isolation: the operational consumer is not slowed by the outage (generous bound: noisy machine).
      assert.ok(
        outage.p50 <= 2 * baseline.p50 + 1_000,
        `p50 during the outage ${outage.p50} ms vs ${baseline.p50} ms without`,
      );
      assert.ok(
        outage.p99 <= 2 * baseline.p99 + 2_000,
        `p99 during the outage ${outage.p99} ms vs ${baseline.p99} ms without`,
      );
    } finally {
      loading = false;
      await load.catch(() => undefined);
      tracking = false;
      await tracker.catch(() => undefined);
      await loader.end();
    }
  });
});
