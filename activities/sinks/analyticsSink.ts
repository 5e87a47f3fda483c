import { Pool } from 'pg';
import { changeRecords } from '../../domain/analytics/changeRecords';
import { applyStatement } from '../../domain/analytics/sql';
import { ConfigurationError } from '../../domain/core/errors';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { PipelineConfig } from '../../infra/config';
import { metrics } from '../../infra/metrics';
import type { ApplyResult, ChangeSink } from './changeSink';

/** Connections of one worker's analytics sink: shard readers of the worker apply at once, one statement each. */
const POOL_SIZE = 4;
/** A statement waiting longer (a lock, an overloaded server) fails and is retried, well within the activity's timeout. */
const STATEMENT_TIMEOUT_MS = 30_000;

/**
 * The analytics sink (`CDC_SINK=analytics`): every redacted change into the append-only change
 * table `cdc_changes` of the analytics database, idempotent by event id, and the 5-minute and
 * hourly aggregates kept current in the same statement for the rows it inserted only (domain/
 * analytics/sql.ts), so replays and duplicates never count twice. One statement per batch.
 * `applied` counts changes inserted, `stale` changes already there (replays, duplicates). A change
 * PostgreSQL cannot store (a NUL character) is rejected; any failure of the database (down,
 * refusing connections, a missing table) fails the batch, and the shard holds (STUCK) until it is
 * back. One connection pool per sink (per worker), opened on first use.
 */
export function createAnalyticsSink(deps: { config: PipelineConfig }, pool?: Pool): ChangeSink {
  let db = pool;
  const { consumer } = deps.config;
  return {
    name: 'analytics',
    apply: (events) =>
      metrics.timed(consumer, 'apply', () =>
        applyBatch((db ??= analyticsPool(deps.config)), consumer, events),
      ),
  };
}

/** A pool on the analytics database (server and credentials from PG*). */
export function analyticsPool(config: PipelineConfig): Pool {
  const pool = new Pool({
    database: config.analyticsDatabase,
    max: POOL_SIZE,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 10_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    application_name: 'cdc-analytics-sink',
    // Idle connections do not keep a stopping worker process alive.
    allowExitOnIdle: true,
  });
  // The server closing an idle connection (a restart, pg_terminate_backend) is reported here; the
  // pool drops that client and the next batch opens a new one. Unheard, it would end the process.
  pool.on('error', () => undefined);
  return pool;
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
  return { applied: written.length, stale: stale.length, coalesced: 0, rejected: batch.rejected };
}
