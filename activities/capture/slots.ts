// Short SQL on ordinary connections: the slot's position and health, and the capture heartbeat.
import type { Client } from 'pg';
import type { SlotHealth } from '../../domain/capture/captureTypes';
import { HEARTBEAT_TABLE } from '../../domain/capture/walChange';
import { SlotInvalidatedError, SlotMissingError } from '../../domain/core/errors';
import type { PgClientFactory } from '../deps';

/** Runs `fn` on a new connection, closed afterwards. */
async function withClient<T>(pg: PgClientFactory, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = pg();
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The slot's confirmed position, where capture resumes. Throws for a slot that does not exist
 * or was invalidated: no retry helps; recover by re-provisioning and a backfill.
 */
export function slotStartLsn(pg: PgClientFactory, slot: string): Promise<string> {
  return withClient(pg, async (c) => {
    const r = await c.query<{ confirmed_flush_lsn: string | null; wal_status: string | null }>(
      'SELECT confirmed_flush_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (r.rowCount === 0) {
      throw new SlotMissingError(
        `replication slot '${slot}' does not exist; run provisioning to create it, then a backfill to catch up`,
      );
    }
    if (r.rows[0].wal_status === 'lost') {
      throw new SlotInvalidatedError(
        `replication slot '${slot}' was invalidated (WAL removed); drop and re-create it, then run a backfill`,
      );
    }
    return r.rows[0].confirmed_flush_lsn ?? '0/0';
  });
}

/** Lag and retained WAL of the slot, read from pg_replication_slots. */
export function slotHealth(pg: PgClientFactory, slot: string): Promise<SlotHealth> {
  return withClient(pg, async (c) => {
    const r = await c.query<{
      active: boolean;
      wal_status: string | null;
      confirmed: string | null;
      current: string;
      lag: string | null;
      retained: string | null;
    }>(
      `SELECT active, wal_status, confirmed_flush_lsn::text AS confirmed, pg_current_wal_lsn()::text AS current,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    if (r.rowCount === 0) {
      throw new SlotMissingError(`replication slot '${slot}' does not exist`);
    }
    const row = r.rows[0];
    return {
      slot,
      active: row.active,
      walStatus: row.wal_status,
      confirmedFlushLsn: row.confirmed,
      currentLsn: row.current,
      lagBytes: Number(row.lag ?? 0),
      walRetainedBytes: Number(row.retained ?? 0),
      checkedAt: new Date().toISOString(),
    };
  });
}

/** A change in the heartbeat table, so the slot advances even when the monitored tables are quiet. */
export function writeCaptureHeartbeat(pg: PgClientFactory, schema: string, slot: string): Promise<void> {
  return withClient(pg, async (c) => {
    await c.query(
      `INSERT INTO ${schema}.${HEARTBEAT_TABLE} (slot, beat_at) VALUES ($1, now())
         ON CONFLICT (slot) DO UPDATE SET beat_at = excluded.beat_at`,
      [slot],
    );
  });
}
