/**
 * What the analytics sink stores of one redacted change (pure): the row of the append-only change
 * table `cdc_changes` and the facts the aggregates add up, read once here so that the aggregates
 * are a plain GROUP BY of the change table (domain/analytics/sql.ts, infra/analyticsSchema.sql).
 *
 * - Stock movement (table `inventory`, INSERT/UPDATE/DELETE): the change of `on_hand` and of
 *   `reserved` (an insert adds its quantities, a delete removes them), so the movements of a
 *   (sku, warehouse) add up to its stock. A quantity that is not a number (domain/inventory/
 *   inventoryRow.ts), or an update without a before image (old values unknown), moves 0.
 * - Reservation event (table `reservations`): `taken` for an insert of a HELD hold; `expired`,
 *   `confirmed`, `cancelled` for an update whose status changed to that value.
 * - Order (table `orders`, INSERT: `order.created`): its currency and `total_amount` as an exact
 *   decimal string (the DECIMAL transformation's output; summed as numeric, never as a float).
 * - Low-stock alert (table `inventory`): the change crosses into low stock, by the same rule as the
 *   published `alert.low_stock` (domain/publishing/alerts.ts).
 *
 * Snapshot rows (`r`) are stored but move nothing: they tell the state, not a change of it.
 */
import type { JsonValue, Row } from '../core/json';
import type { FieldChange, PipelineEvent } from '../core/pipelineEvent';
import { quantity } from '../inventory/inventoryRow';
import { inventoryAlerts } from '../publishing/alerts';
import type { Rejection } from '../shards/shardTypes';

export const INVENTORY_TABLE = 'inventory';
export const RESERVATIONS_TABLE = 'reservations';
export const ORDERS_TABLE = 'orders';

/** The aggregates' time buckets by commit time (UTC): 5-minute floor and hour. */
export const GRAINS = { '5m': 5, '1h': 60 } as const;
export type Grain = keyof typeof GRAINS;

/** The operation as the published event names it. */
export const OPERATION = { c: 'INSERT', u: 'UPDATE', d: 'DELETE', r: 'SNAPSHOT' } as const;
export type Operation = (typeof OPERATION)[keyof typeof OPERATION];

export const RESERVATION_EVENTS = ['taken', 'expired', 'confirmed', 'cancelled'] as const;
export type ReservationEvent = (typeof RESERVATION_EVENTS)[number];
/** Status an update moves a hold into → the event it counts as. */
const ENDED: Readonly<Record<string, ReservationEvent>> = {
  EXPIRED: 'expired',
  CONFIRMED: 'confirmed',
  CANCELLED: 'cancelled',
};

/** An order without a currency is summed under this one. */
export const UNKNOWN_CURRENCY = 'UNKNOWN';

/** One row of `cdc_changes`, with the buckets it counts in (column names as in SQL). */
export interface ChangeRecord {
  event_id: string;
  version: string;
  table_name: string;
  /** The event's entity reference: the key, or a keyed hash of it for a table with redaction rules. */
  entity_id: string;
  operation: Operation;
  event_type: string;
  /** ISO-8601, UTC. */
  commit_ts: string;
  bucket_5m: string;
  bucket_1h: string;
  /** Redacted field changes `{ column: { old, new } }`. */
  changes: Record<string, FieldChange>;
  /** Redacted row after the change (null for a delete). */
  after_image: Row | null;
  /** Inventory and reservations: the (sku, warehouse) the change is about. */
  sku: string | null;
  warehouse_id: string | null;
  /** Set (possibly 0) for a stock movement, null otherwise. */
  on_hand_delta: number | null;
  reserved_delta: number | null;
  reservation_event: ReservationEvent | null;
  /** Set for a new order. */
  order_currency: string | null;
  /** Exact decimal text, or null when the amount is not a number. */
  order_amount: string | null;
  low_stock_alert: boolean;
}

export interface ChangeBatch {
  /** One record per distinct event id, in batch order. */
  records: ChangeRecord[];
  /** The events those records came from (same order). */
  accepted: PipelineEvent[];
  /** Events whose id came earlier in the batch (a duplicate on the stream): stale. */
  duplicates: PipelineEvent[];
  /** Events the analytics database cannot store (dead-lettered, the batch goes on). */
  rejected: Rejection[];
}

/** The records of a batch of redacted events: duplicates within the batch counted, unstorable ones rejected. */
export function changeRecords(events: readonly PipelineEvent[]): ChangeBatch {
  const batch: ChangeBatch = { records: [], accepted: [], duplicates: [], rejected: [] };
  const seen = new Set<string>();
  for (const e of events) {
    if (seen.has(e.eventId)) {
      batch.duplicates.push(e);
      continue;
    }
    const problem = unstorable(e);
    if (problem) {
      batch.rejected.push({
        sequenceNumber: e.position.sequenceNumber,
        category: 'poison',
        reason: `analytics: ${problem}`,
      });
      continue;
    }
    seen.add(e.eventId);
    batch.records.push(changeRecord(e));
    batch.accepted.push(e);
  }
  return batch;
}

/** The `cdc_changes` row of one redacted change, with its facts. */
export function changeRecord(e: PipelineEvent): ChangeRecord {
  const stock = stockMovement(e);
  const hold = reservationEvent(e);
  const order = orderFacts(e);
  const place = placeOf(e);
  return {
    event_id: e.eventId,
    version: e.version,
    table_name: e.table,
    entity_id: e.entityRef ?? e.entityId,
    operation: OPERATION[e.op],
    event_type: e.eventType,
    commit_ts: new Date(Date.parse(e.commitTs)).toISOString(),
    bucket_5m: bucketStart(e.commitTs, GRAINS['5m']),
    bucket_1h: bucketStart(e.commitTs, GRAINS['1h']),
    changes: e.changes,
    after_image: e.after,
    sku: place?.sku ?? null,
    warehouse_id: place?.warehouseId ?? null,
    on_hand_delta: stock?.onHand ?? null,
    reserved_delta: stock?.reserved ?? null,
    reservation_event: place ? hold : null,
    order_currency: order?.currency ?? null,
    order_amount: order?.amount ?? null,
    // Aggregated per (sku, warehouse): a change without them counts nowhere.
    low_stock_alert: place !== undefined && lowStockAlert(e),
  };
}

/** Start of the `minutes`-long bucket (UTC, aligned to the epoch) holding the instant, as ISO-8601. */
export function bucketStart(iso: string, minutes: number): string {
  const size = minutes * 60_000;
  return new Date(Math.floor(Date.parse(iso) / size) * size).toISOString();
}

/** The (sku, warehouse) of an inventory row (its key) or a reservation (its row), as text. */
export function placeOf(e: PipelineEvent): { sku: string; warehouseId: string } | undefined {
  if (e.table === INVENTORY_TABLE) {
    const sku = keyText(e.key.sku);
    const warehouseId = keyText(e.key.warehouse_id);
    return sku !== undefined && warehouseId !== undefined ? { sku, warehouseId } : undefined;
  }
  if (e.table === RESERVATIONS_TABLE) {
    const row = e.op === 'd' ? e.before : e.after;
    const sku = keyText(row?.sku);
    const warehouseId = keyText(row?.warehouse_id);
    return sku !== undefined && warehouseId !== undefined ? { sku, warehouseId } : undefined;
  }
  return undefined;
}

/** How far an inventory change moved on_hand and reserved; undefined for any other change. */
export function stockMovement(e: PipelineEvent): { onHand: number; reserved: number } | undefined {
  if (e.table !== INVENTORY_TABLE || e.op === 'r' || !placeOf(e)) return undefined;
  // An update without a before image has `old: null` for every column: the old values are unknown.
  const knownOld = e.op !== 'u' || e.before !== null;
  const delta = (column: string): number => {
    const ch = e.changes[column];
    if (!ch || !knownOld) return 0;
    const oldQ = e.op === 'c' ? 0 : quantity(ch.old);
    const newQ = e.op === 'd' ? 0 : quantity(ch.new);
    return oldQ === undefined || newQ === undefined ? 0 : newQ - oldQ;
  };
  return { onHand: delta('on_hand'), reserved: delta('reserved') };
}

/** What a reservations change does to holds: taken (a HELD insert) or ended (status changed to it). */
export function reservationEvent(e: PipelineEvent): ReservationEvent | null {
  if (e.table !== RESERVATIONS_TABLE) return null;
  if (e.op === 'c') return e.after?.status === 'HELD' ? 'taken' : null;
  if (e.op !== 'u') return null;
  const status = e.changes.status;
  if (!status || typeof status.new !== 'string' || status.old === status.new) return null;
  return ENDED[status.new] ?? null;
}

/** A new order's currency and exact amount; undefined for any other change. */
export function orderFacts(e: PipelineEvent): { currency: string; amount: string | null } | undefined {
  if (e.table !== ORDERS_TABLE || e.op !== 'c' || !e.after) return undefined;
  const currency = e.after.currency;
  return {
    currency: typeof currency === 'string' && currency.trim() ? currency.trim() : UNKNOWN_CURRENCY,
    amount: decimalText(e.after.total_amount),
  };
}

/** Whether the change crosses into low stock (the published `alert.low_stock` rule). */
export function lowStockAlert(e: PipelineEvent): boolean {
  return e.table === INVENTORY_TABLE && inventoryAlerts(e).some((a) => a.kind === 'LOW_STOCK');
}

const DECIMAL_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$/;

/** A decimal string PostgreSQL's numeric reads exactly (or a finite number's text); else null. */
export function decimalText(v: JsonValue | undefined): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
  if (typeof v === 'string' && DECIMAL_TEXT.test(v.trim())) return v.trim();
  return null;
}

/** Key values as text (a warehouse id 7 and '7' are one warehouse); undefined when absent. */
function keyText(v: JsonValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** The first instant PostgreSQL's timestamptz takes from an ISO string here (year 0001). */
const YEAR_1 = Date.parse('0001-01-01T00:00:00.000Z');

/**
 * Why PostgreSQL could not store the event, if it could not: text and jsonb cannot hold the NUL
 * character, and commit times must be in years 0001–9999. Names no value.
 */
export function unstorable(e: PipelineEvent): string | undefined {
  const millis = Date.parse(e.commitTs);
  if (Number.isNaN(millis) || millis < YEAR_1 || !/^\d{4}-/.test(new Date(millis).toISOString()))
    return `commit time of ${e.table} change ${e.version} is outside years 0001-9999`;
  const where = nulIn({
    entity: e.entityRef ?? e.entityId,
    type: e.eventType,
    changes: e.changes,
    after: e.after,
  });
  return where
    ? `${e.table} change ${e.version} holds a NUL character (at ${where}), which PostgreSQL cannot store`
    : undefined;
}

/** The path of the first string or object key holding U+0000, if any. */
function nulIn(v: JsonValue | undefined, path = ''): string | undefined {
  // Only the top two levels are named (`after.<column>`): keys deeper down are data.
  if (typeof v === 'string') return v.includes('\u0000') ? path.split('.').slice(0, 2).join('.') : undefined;
  if (v === null || typeof v !== 'object') return undefined;
  const entries: [string, JsonValue][] = Array.isArray(v)
    ? v.map((child, i) => [String(i), child])
    : Object.entries(v);
  for (const [k, child] of entries) {
    const at = path ? `${path}.${k}` : k;
    if (k.includes('\u0000')) return path.split('.').slice(0, 2).join('.') || 'a key';
    const found = nulIn(child, at);
    if (found) return found;
  }
  return undefined;
}
