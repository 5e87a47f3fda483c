import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { reserve } from '../../infra/reservationStore';

/**
 * Many holds with random deadlines in a window, and how late each was released: the load of the
 * 1,000-holds test and of `npm run bench:holds`. Lateness is PostgreSQL's own clock on both
 * ends: the release's `updated_at` minus `expires_at`.
 */
export interface HoldLoad {
  sku: string;
  reservationIds: string[];
  /** When the last hold was taken (ms since epoch). */
  takenAt: number;
  lastDeadline: number;
}

export async function takeHolds(
  pool: Pool,
  opts: { holds: number; minTtlSeconds: number; maxTtlSeconds: number; tag: string },
): Promise<HoldLoad> {
  const sku = `holds-${opts.tag}`;
  await pool.query('INSERT INTO inventory (sku, warehouse_id, on_hand, reserved) VALUES ($1, 1, $2, 0)', [
    sku,
    opts.holds,
  ]);
  const reservationIds: string[] = [];
  let lastDeadline = 0;
  const ttls = Array.from(
    { length: opts.holds },
    () => opts.minTtlSeconds + Math.random() * (opts.maxTtlSeconds - opts.minTtlSeconds),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ttls.length) {
        const ttlSeconds = Math.round(ttls[next++]! * 1000) / 1000;
        const r = await reserve(pool, { sku, warehouseId: 1, quantity: 1, ttlSeconds });
        if (!r.ok) throw new Error(`hold refused: ${JSON.stringify(r)}`);
        reservationIds.push(r.reservation.reservationId);
        lastDeadline = Math.max(lastDeadline, Date.parse(r.reservation.expiresAt));
      }
    }),
  );
  return { sku, reservationIds, takenAt: Date.now(), lastDeadline };
}

export interface HoldOutcome {
  byStatus: Record<string, number>;
  /** Release lateness after the deadline, ms (EXPIRED holds only). */
  lateness: { p50: number; p99: number; max: number; min: number };
  reserved: number;
}

/** Waits until no hold of the load is HELD (or the timeout), then reads the outcome. */
export async function awaitHolds(pool: Pool, load: HoldLoad, timeoutMs: number): Promise<HoldOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = await pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM reservations WHERE sku = $1 AND status = 'HELD'",
      [load.sku],
    );
    if (Number(held.rows[0]!.n) === 0 || Date.now() > deadline) break;
    await sleep(1000);
  }
  const rows = await pool.query<{ status: string; late_ms: string }>(
    `SELECT status, EXTRACT(EPOCH FROM (updated_at - expires_at)) * 1000 AS late_ms
       FROM reservations WHERE sku = $1`,
    [load.sku],
  );
  const byStatus: Record<string, number> = {};
  const late: number[] = [];
  for (const r of rows.rows) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    if (r.status === 'EXPIRED') late.push(Number(r.late_ms));
  }
  late.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round(late[Math.min(late.length - 1, Math.floor((p / 100) * late.length))] ?? NaN);
  const inv = await pool.query<{ reserved: number }>(
    'SELECT reserved FROM inventory WHERE sku = $1 AND warehouse_id = 1',
    [load.sku],
  );
  return {
    byStatus,
    lateness: {
      p50: at(50),
      p99: at(99),
      max: Math.round(late.at(-1) ?? NaN),
      min: Math.round(late[0] ?? NaN),
    },
    reserved: inv.rows[0]!.reserved,
  };
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
export function processUsage(pid: number): { cpuSeconds: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14 and 15)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuSeconds: ticks / 100, rssMb: Number(rss?.[1] ?? 0) / 1024 };
}
