import type { Pool } from 'pg';
import { changeRecords } from '../../domain/analytics/changeRecords';
import { applyStatement } from '../../domain/analytics/sql';
import { ConfigurationError } from '../../domain/core/errors';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { PipelineConfig } from '../../infra/config';
import { metrics } from '../../infra/metrics';
import type { PgPools } from '../../infra/pgPools';
import type { ApplyResult, ChangeSink } from './changeSink';

/**
 * The analytics sink (`CDC_SINK=analytics`): every redacted change into the append-only change
 * table `cdc_changes` of the analytics database, idempotent by event id, and the 5-minute and
 * hourly aggregates kept current in the same statement for the rows it inserted only (domain/
 * analytics/sql.ts), so replays and duplicates never count twice. One statement per batch.
 * `applied` counts changes inserted, `stale` changes already there (replays, duplicates). A change
 * PostgreSQL cannot store (a NUL character) is rejected; any failure of the database (down,
 * refusing connections, a missing table) fails the batch, and the shard holds (STUCK) until it is
 * back. Its connections are the worker's analytics pool (infra/pgPools.ts), taken on first use.
 */
export function createAnalyticsSink(deps: {
  config: PipelineConfig;
  pools: Pick<PgPools, 'analytics'>;
}): ChangeSink {
  const { consumer } = deps.config;
  return {
    name: 'analytics',
    apply: (events) =>
      metrics.timed(consumer, 'apply', () => applyBatch(deps.pools.analytics, consumer, events)),
  };
}

async function applyBatch(pool: Pool, consumer: string, events: PipelineEvent[]): Promise<ApplyResult> {
  const unredacted = events.find((e) => !e.redactionPolicy);
  if (unredacted) throw new ConfigurationError(`event ${unredacted.eventId} was not redacted`);
  const batch = changeRecords(events);
  let inserted = new Set<string>();
  if (batch.records.length) {
    const { text, values } = applyStatement(batch.records);
    const out = await pool.query<{ event_id: string }>(text, values);
    inserted = new Set(out.rows.map((r) => r.event_id));
  }
  const written = batch.accepted.filter((e) => inserted.has(e.eventId));
  const stale = [...batch.duplicates, ...batch.accepted.filter((e) => !inserted.has(e.eventId))];
  metrics.applied(consumer, written, stale, 0);
  // The refused changes, in batch order as their rejections are: each rejection names its change.
  const kept = new Set([...batch.accepted, ...batch.duplicates]);
  const refused = events.filter((e) => !kept.has(e));
  const rejected = batch.rejected.map((r, i) => (refused[i] ? { ...r, eventId: refused[i].eventId } : r));
  return { applied: written.length, stale: stale.length, coalesced: 0, rejected };
}
