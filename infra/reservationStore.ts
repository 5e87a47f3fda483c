/**
 * Reservations in PostgreSQL (infra/schema.sql: `inventory`, `reservations`; docs/reservations.md).
 *
 * Every state change is ONE statement whose condition is in its WHERE clause: the hold and the
 * inventory row change together or not at all. Under READ COMMITTED a second writer of the same
 * row waits for the first one's row lock and then re-evaluates the WHERE clause against the
 * committed row, so two reservations can never both take the last unit, and a release and a
 * confirmation of the same hold can never both happen. No lock outlives its statement (nothing is
 * held across a network call). When a statement changes nothing, a plain SELECT afterwards says
 * why (stock, state, deadline). Times are PostgreSQL's (`clock_timestamp()`), never this process's.
 */
import type { ClientBase, QueryResultRow } from 'pg';
import type { DeletedHold } from '../domain/reservations/expiry';
import type { ReservationStatus } from '../domain/reservations/hold';
import { newReservationId } from '../domain/reservations/requests';

export type { DeletedHold } from '../domain/reservations/expiry';

/** A pg `Client`, `PoolClient` or `Pool`: all this module needs is `query`. */
export type Queryable = Pick<ClientBase, 'query'>;

export interface Reservation {
  reservationId: string;
  sku: string;
  warehouseId: number;
  orderId: string | null;
  quantity: number;
  status: ReservationStatus;
  /** ISO-8601 with milliseconds (UTC). */
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; /** on_hand − reserved after the hold */ available: number }
  | { ok: false; reason: 'insufficient-stock'; available: number; requested: number }
  | { ok: false; reason: 'unknown-sku' }
  | { ok: false; reason: 'duplicate-id'; reservation: Reservation };

export interface ReserveRequest {
  /** Generated (`res-<time>-<random>`) when absent. */
  reservationId?: string;
  sku: string;
  warehouseId: number;
  quantity: number;
  ttlSeconds: number;
  orderId?: string | null;
}

export type ReleaseOutcome =
  /** Now EXPIRED / CANCELLED; its quantity went back (inventory.reserved decreased). */
  | { outcome: 'released'; reservation: Reservation }
  /** expire only: still HELD, its deadline is in the future (e.g. it was extended). */
  | { outcome: 'not-due'; reservation: Reservation }
  /** Already CONFIRMED / CANCELLED / EXPIRED: nothing changed. */
  | { outcome: 'not-held'; reservation: Reservation }
  | { outcome: 'missing' };

export type DeletedHoldRelease =
  /** This call gave the units back (`inventoryRow: false`: no inventory row to give them to). */
  | { outcome: 'released'; releasedAt: string; inventoryRow: boolean }
  /** An earlier call did (released_holds has the reservation id): nothing changed. */
  | { outcome: 'already-released'; releasedAt: string }
  /** The reservation row exists: it was not deleted, nothing changed (its own release applies). */
  | { outcome: 'exists' };

export type ConfirmOutcome =
  | { outcome: 'confirmed'; reservation: Reservation }
  | { outcome: 'expired' | 'not-held'; reservation: Reservation }
  | { outcome: 'missing' };

export type ExtendOutcome =
  | { outcome: 'extended'; reservation: Reservation }
  | { outcome: 'expired' | 'not-held'; reservation: Reservation }
  | { outcome: 'missing' };

export interface ReservationFilter {
  status?: ReservationStatus;
  sku?: string;
  warehouseId?: number;
  /** Only holds whose deadline is at most this many seconds away (or already past). */
  expiringWithinSeconds?: number;
  limit: number;
}

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';
/**
 * How often a conditional statement is re-run when the follow-up SELECT finds that it would now
 * succeed (the row changed between the two statements: stock released, a deadline just passed).
 */
const ATTEMPTS = 3;

interface ReservationRow extends QueryResultRow {
  reservation_id: string;
  sku: string;
  warehouse_id: number;
  order_id: string | null;
  quantity: number;
  status: ReservationStatus;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
}

/** A row as of the follow-up SELECT, with whether its deadline has passed in PostgreSQL's clock. */
interface ExplainedRow extends ReservationRow {
  due: boolean;
}

const COLUMNS =
  'reservation_id, sku, warehouse_id, order_id, quantity, status, expires_at, created_at, updated_at';

/**
 * Deadlines are kept to the millisecond: the ISO-8601 strings everyone else sees (the change
 * stream, the expiry workflow's timer) then name exactly the stored instant, so a timer that fires
 * at the deadline finds the hold due rather than a few microseconds early.
 */
const deadline = (interval: string) => `date_trunc('milliseconds', clock_timestamp() + ${interval})`;

export function toReservation(row: ReservationRow): Reservation {
  return {
    reservationId: row.reservation_id,
    sku: row.sku,
    warehouseId: Number(row.warehouse_id),
    orderId: row.order_id,
    quantity: Number(row.quantity),
    status: row.status,
    expiresAt: iso(row.expires_at),
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

const iso = (v: Date | string) => (v instanceof Date ? v : new Date(v)).toISOString();

// ---------------------------------------------------------------------------------------------
// reserve

/**
 * Takes `quantity` units of (sku, warehouse) for `ttlSeconds`: in one statement, `reserved`
 * grows only if `on_hand - reserved` still covers the quantity (re-checked after any row lock
 * wait), and the HELD reservation is inserted only if that update happened.
 */
const RESERVE_SQL = `
WITH inv AS (
  UPDATE inventory
     SET reserved = reserved + $4::int, updated_at = clock_timestamp()
   WHERE sku = $2 AND warehouse_id = $3 AND on_hand - reserved >= $4::int
  RETURNING on_hand - reserved AS available
), ins AS (
  INSERT INTO reservations (reservation_id, sku, warehouse_id, order_id, quantity, status,
                            expires_at, created_at, updated_at)
  SELECT $1, $2, $3, $5, $4::int, 'HELD',
         ${deadline('make_interval(secs => $6::float8)')}, clock_timestamp(), clock_timestamp()
    FROM inv
  RETURNING ${COLUMNS}
)
SELECT ins.*, inv.available FROM ins, inv`;

export async function reserve(pg: Queryable, req: ReserveRequest): Promise<ReserveResult> {
  assertPositiveInt(req.quantity, 'quantity');
  assertPositive(req.ttlSeconds, 'ttlSeconds');
  const reservationId = req.reservationId ?? newReservationId();
  const values = [reservationId, req.sku, req.warehouseId, req.quantity, req.orderId ?? null, req.ttlSeconds];
  for (let attempt = 1; ; attempt++) {
    const taken = await insertHold(pg, values);
    if (taken === 'duplicate') {
      const existing = await getReservation(pg, reservationId);
      if (existing) return { ok: false, reason: 'duplicate-id', reservation: existing };
    } else if (taken) {
      return { ok: true, reservation: toReservation(taken), available: Number(taken.available) };
    } else {
      const why = await explainRefusal(pg, reservationId, req);
      if (why) return why;
    }
    // The rows changed between the statement and the SELECT (stock freed, the duplicate deleted).
    if (attempt >= ATTEMPTS)
      throw new Error(`reserve ${reservationId}: stock of ${req.sku} kept changing; try again`);
  }
}

/** The new hold's row; undefined when the stock did not cover it; 'duplicate' for a taken id. */
async function insertHold(
  pg: Queryable,
  values: unknown[],
): Promise<(ReservationRow & { available: number }) | 'duplicate' | undefined> {
  try {
    const r = await pg.query<ReservationRow & { available: number }>(RESERVE_SQL, values);
    return r.rows[0];
  } catch (err) {
    // The whole statement rolled back, inventory update included.
    if ((err as { code?: string }).code === UNIQUE_VIOLATION) return 'duplicate';
    throw err;
  }
}

/**
 * Why a reserve statement took nothing: the id is taken (so a retried request reports its
 * reservation, whatever the stock), the SKU has no row in that warehouse, or too little is
 * available. Undefined when the stock would now cover it (worth one more attempt).
 */
async function explainRefusal(
  pg: Queryable,
  reservationId: string,
  req: ReserveRequest,
): Promise<ReserveResult | undefined> {
  const existing = await getReservation(pg, reservationId);
  if (existing) return { ok: false, reason: 'duplicate-id', reservation: existing };
  const r = await pg.query<{ available: number }>(
    'SELECT on_hand - reserved AS available FROM inventory WHERE sku = $1 AND warehouse_id = $2',
    [req.sku, req.warehouseId],
  );
  if (!r.rows.length) return { ok: false, reason: 'unknown-sku' };
  const available = Number(r.rows[0].available);
  if (available >= req.quantity) return undefined;
  return { ok: false, reason: 'insufficient-stock', available, requested: req.quantity };
}

// ---------------------------------------------------------------------------------------------
// releases: expire, cancel

/**
 * HELD → `status` (only while HELD, and with `condition`), and the quantity back to the
 * inventory row, in one statement. `GREATEST(…, 0)`: a row whose `reserved` was lowered by hand
 * must not make the release fail (the CHECK would refuse a negative value).
 */
const releaseSql = (status: 'EXPIRED' | 'CANCELLED', condition: string) => `
WITH r AS (
  UPDATE reservations
     SET status = '${status}', updated_at = clock_timestamp()
   WHERE reservation_id = $1 AND status = 'HELD' ${condition}
  RETURNING ${COLUMNS}
), inv AS (
  UPDATE inventory i
     SET reserved = GREATEST(i.reserved - r.quantity, 0), updated_at = clock_timestamp()
    FROM r
   WHERE i.sku = r.sku AND i.warehouse_id = r.warehouse_id
  RETURNING i.sku
)
SELECT r.* FROM r`;

const EXPIRE_SQL = releaseSql('EXPIRED', 'AND expires_at <= clock_timestamp()');
const CANCEL_SQL = releaseSql('CANCELLED', '');

/** HELD and due (expires_at <= now) → EXPIRED, its units back. Idempotent: again → `not-held`. */
export async function expireReservation(pg: Queryable, reservationId: string): Promise<ReleaseOutcome> {
  return runConditional<ReleaseOutcome>(pg, EXPIRE_SQL, [reservationId], reservationId, {
    done: (reservation) => ({ outcome: 'released', reservation }),
    explain: (row, reservation) => {
      if (row.status !== 'HELD') return { outcome: 'not-held', reservation };
      return row.due ? undefined : { outcome: 'not-due', reservation };
    },
    missing: { outcome: 'missing' },
  });
}

/** HELD → CANCELLED at any time, its units back. Idempotent: again → `not-held`. */
export async function cancelReservation(pg: Queryable, reservationId: string): Promise<ReleaseOutcome> {
  return runConditional<ReleaseOutcome>(pg, CANCEL_SQL, [reservationId], reservationId, {
    done: (reservation) => ({ outcome: 'released', reservation }),
    explain: (row, reservation) => (row.status !== 'HELD' ? { outcome: 'not-held', reservation } : undefined),
    missing: { outcome: 'missing' },
  });
}

// ---------------------------------------------------------------------------------------------
// the release of a hold whose row was deleted

/**
 * A reservation deleted while HELD (`DELETE FROM reservations …` by hand or by an application,
 * not a cancel) left its units in `inventory.reserved`. Its row is gone, so nothing on it can say
 * "released"; `released_holds` (infra/schema.sql) is the durable record instead: the units go
 * back in the same statement that inserts the reservation id there, and only if that insert
 * happened (`ON CONFLICT DO NOTHING`). A second run (an activity retried, the delete heard twice, a
 * replay) conflicts and changes nothing; two at once serialize on the primary key, and the second
 * then finds the first's row. Nothing happens while a row with that id exists.
 */
const RELEASE_DELETED_SQL = `
WITH rec AS (
  INSERT INTO released_holds (reservation_id, sku, warehouse_id, quantity, released_at)
  SELECT $1, $2, $3::int, $4::int, clock_timestamp()
   WHERE NOT EXISTS (SELECT 1 FROM reservations WHERE reservation_id = $1)
  ON CONFLICT (reservation_id) DO NOTHING
  RETURNING reservation_id, sku, warehouse_id, quantity, released_at
), inv AS (
  UPDATE inventory i
     SET reserved = GREATEST(i.reserved - rec.quantity, 0), updated_at = clock_timestamp()
    FROM rec
   WHERE i.sku = rec.sku AND i.warehouse_id = rec.warehouse_id
  RETURNING i.sku
)
SELECT rec.released_at, (SELECT count(*) FROM inv)::int AS inventory_rows FROM rec`;

/** Gives a deleted HELD reservation's units back, once per reservation id (see above). */
export async function releaseDeletedHold(pg: Queryable, hold: DeletedHold): Promise<DeletedHoldRelease> {
  assertPositiveInt(hold.quantity, 'quantity');
  const values = [hold.reservationId, hold.sku, hold.warehouseId, hold.quantity];
  for (let attempt = 1; ; attempt++) {
    const done = (await pg.query<{ released_at: Date; inventory_rows: number }>(RELEASE_DELETED_SQL, values))
      .rows[0];
    if (done)
      return {
        outcome: 'released',
        releasedAt: iso(done.released_at),
        inventoryRow: done.inventory_rows > 0,
      };
    const earlier = (
      await pg.query<{ released_at: Date }>(
        'SELECT released_at FROM released_holds WHERE reservation_id = $1',
        [hold.reservationId],
      )
    ).rows[0];
    if (earlier) return { outcome: 'already-released', releasedAt: iso(earlier.released_at) };
    if (await getReservation(pg, hold.reservationId)) return { outcome: 'exists' };
    // The row was deleted between the statement and these reads: it is owed now.
    if (attempt >= ATTEMPTS)
      throw new Error(`reservation ${hold.reservationId}: state kept changing; try again`);
  }
}

// ---------------------------------------------------------------------------------------------
// confirm, extend

/**
 * HELD and not yet due → CONFIRMED: the units leave the warehouse, so `on_hand` and `reserved`
 * both drop by the quantity (available is unchanged). Clamped at 0 like a release, so a row
 * adjusted by hand cannot make a paid order fail; with untouched rows the clamp never acts
 * (reserved ≥ quantity and on_hand ≥ reserved).
 */
const CONFIRM_SQL = `
WITH r AS (
  UPDATE reservations
     SET status = 'CONFIRMED', updated_at = clock_timestamp()
   WHERE reservation_id = $1 AND status = 'HELD' AND expires_at > clock_timestamp()
  RETURNING ${COLUMNS}
), inv AS (
  UPDATE inventory i
     SET on_hand = GREATEST(i.on_hand - r.quantity, 0),
         reserved = GREATEST(i.reserved - r.quantity, 0),
         updated_at = clock_timestamp()
    FROM r
   WHERE i.sku = r.sku AND i.warehouse_id = r.warehouse_id
  RETURNING i.sku
)
SELECT r.* FROM r`;

export async function confirmReservation(pg: Queryable, reservationId: string): Promise<ConfirmOutcome> {
  return runConditional<ConfirmOutcome>(pg, CONFIRM_SQL, [reservationId], reservationId, {
    done: (reservation) => ({ outcome: 'confirmed', reservation }),
    explain: heldElsewhere,
    missing: { outcome: 'missing' },
  });
}

/** Moves the deadline of a HELD, not yet due hold; the inventory row is not touched. */
const extendSql = (newDeadline: string) => `
UPDATE reservations
   SET expires_at = ${newDeadline}, updated_at = clock_timestamp()
 WHERE reservation_id = $1 AND status = 'HELD' AND expires_at > clock_timestamp()
RETURNING ${COLUMNS}`;

const EXTEND_BY_TTL_SQL = extendSql(deadline('make_interval(secs => $2::float8)'));
const EXTEND_TO_TIME_SQL = extendSql(`date_trunc('milliseconds', $2::timestamptz)`);

/**
 * `{ ttlSeconds }`: the new deadline is now + ttl (PostgreSQL's clock); `{ expiresAt }`: that
 * time (validated by the caller: domain/reservations/requests.ts refuses a past one).
 */
export async function extendReservation(
  pg: Queryable,
  reservationId: string,
  to: { ttlSeconds: number } | { expiresAt: string },
): Promise<ExtendOutcome> {
  let sql: string;
  let value: number | string;
  if ('ttlSeconds' in to) {
    assertPositive(to.ttlSeconds, 'ttlSeconds');
    [sql, value] = [EXTEND_BY_TTL_SQL, to.ttlSeconds];
  } else {
    if (Number.isNaN(Date.parse(to.expiresAt)))
      throw new RangeError(`expiresAt: not a time: ${to.expiresAt}`);
    [sql, value] = [EXTEND_TO_TIME_SQL, to.expiresAt];
  }
  return runConditional<ExtendOutcome>(pg, sql, [reservationId, value], reservationId, {
    done: (reservation) => ({ outcome: 'extended', reservation }),
    explain: heldElsewhere,
    missing: { outcome: 'missing' },
  });
}

/**
 * Why a confirm or an extend changed nothing: the hold ended (EXPIRED, or HELD past its deadline
 * and not yet released: `expired`), or it is CONFIRMED / CANCELLED (`not-held`).
 */
function heldElsewhere(
  row: ExplainedRow,
  reservation: Reservation,
): { outcome: 'expired' | 'not-held'; reservation: Reservation } | undefined {
  if (row.status === 'EXPIRED' || (row.status === 'HELD' && row.due))
    return { outcome: 'expired', reservation };
  if (row.status !== 'HELD') return { outcome: 'not-held', reservation };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// reads

export async function getReservation(pg: Queryable, reservationId: string): Promise<Reservation | undefined> {
  const row = await explainedRow(pg, reservationId);
  return row && toReservation(row);
}

/** Reservations matching the filter, the nearest deadline first. */
export async function listReservations(pg: Queryable, filter: ReservationFilter): Promise<Reservation[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  if (filter.status !== undefined) where.push(`status = ${param(filter.status)}`);
  if (filter.sku !== undefined) where.push(`sku = ${param(filter.sku)}`);
  if (filter.warehouseId !== undefined) where.push(`warehouse_id = ${param(filter.warehouseId)}::int`);
  if (filter.expiringWithinSeconds !== undefined)
    where.push(
      `expires_at <= clock_timestamp() + make_interval(secs => ${param(filter.expiringWithinSeconds)}::float8)`,
    );
  assertPositiveInt(filter.limit, 'limit');
  const sql =
    `SELECT ${COLUMNS} FROM reservations` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY expires_at, reservation_id LIMIT ${param(filter.limit)}::int`;
  return (await pg.query<ReservationRow>(sql, values)).rows.map(toReservation);
}

async function explainedRow(pg: Queryable, reservationId: string): Promise<ExplainedRow | undefined> {
  const r = await pg.query<ExplainedRow>(
    `SELECT ${COLUMNS}, expires_at <= clock_timestamp() AS due FROM reservations WHERE reservation_id = $1`,
    [reservationId],
  );
  return r.rows[0];
}

// ---------------------------------------------------------------------------------------------
// the shape every conditional change shares

interface Conditional<T> {
  /** The statement changed the row (it returns the new row). */
  done(reservation: Reservation): T;
  /** Why it did not, from the row as it is now; undefined: it would succeed now, run it again. */
  explain(row: ExplainedRow, reservation: Reservation): T | undefined;
  missing: T;
}

/**
 * Runs a conditional statement; when it changed nothing, reads the row to say why. A row that
 * changed in between in a way that would let the statement succeed (a rolled-back writer, a
 * deadline passing) gets another attempt; after the last one the row's state is reported.
 */
async function runConditional<T>(
  pg: Queryable,
  sql: string,
  values: unknown[],
  reservationId: string,
  c: Conditional<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const changed = (await pg.query<ReservationRow>(sql, values)).rows[0];
    if (changed) return c.done(toReservation(changed));
    const row = await explainedRow(pg, reservationId);
    if (!row) return c.missing;
    const why = c.explain(row, toReservation(row));
    if (why !== undefined) return why;
    if (attempt >= ATTEMPTS)
      throw new Error(`reservation ${reservationId}: state kept changing (${row.status}); try again`);
  }
}

function assertPositive(n: number, what: string): void {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${what} must be a positive number, got ${n}`);
}

function assertPositiveInt(n: number, what: string): void {
  if (!Number.isInteger(n) || n <= 0)
    throw new RangeError(`${what} must be a positive whole number, got ${n}`);
}
