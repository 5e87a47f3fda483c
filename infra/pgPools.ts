import type { Pool } from 'pg';
import type { PipelineConfig } from './config';
import { pgPool } from './pgConnection';

/** Connections of one worker's analytics sink: shard readers of the worker apply at once, one statement each. */
const ANALYTICS_POOL_SIZE = 4;
/** A statement waiting longer (a lock, an overloaded server) fails and is retried, well within the activity's timeout. */
const ANALYTICS_STATEMENT_TIMEOUT_MS = 30_000;
/** Connections the hold releases use (a thousand holds due in the same second share them). */
const SOURCE_POOL_SIZE = 8;

/**
 * The PostgreSQL connection pools of one process's activities (server and credentials from PG*,
 * TLS and credentials as infra/pgConnection.ts reads them),
 * created on first use and handed to the activities with the AWS clients (activities/deps.ts).
 */
export interface PgPools {
  /** The source database: reservation releases (infra/reservationStore.ts). */
  readonly source: Pool;
  /** The analytics database (`CDC_ANALYTICS_DATABASE`): the analytics sink. */
  readonly analytics: Pool;
}

export function pgPools(config: Pick<PipelineConfig, 'analyticsDatabase'>): PgPools {
  let source: Pool | undefined;
  let analytics: Pool | undefined;
  return {
    get source() {
      return (source ??= quiet(
        pgPool({ max: SOURCE_POOL_SIZE, idleTimeoutMillis: 5_000, allowExitOnIdle: true }),
      ));
    },
    get analytics() {
      return (analytics ??= quiet(
        pgPool({
          database: config.analyticsDatabase,
          max: ANALYTICS_POOL_SIZE,
          idleTimeoutMillis: 10_000,
          connectionTimeoutMillis: 10_000,
          statement_timeout: ANALYTICS_STATEMENT_TIMEOUT_MS,
          application_name: 'cdc-analytics-sink',
          allowExitOnIdle: true,
        }),
      ));
    },
  };
}

/**
 * Idle connections do not keep a stopping process alive (`allowExitOnIdle`). The server closing an
 * idle connection (a restart, pg_terminate_backend) is reported on the pool; the pool drops that
 * client and the next query opens a new one. Unheard, the report would end the process.
 */
function quiet(pool: Pool): Pool {
  pool.on('error', () => undefined);
  return pool;
}
