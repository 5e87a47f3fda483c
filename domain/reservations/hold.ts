/**
 * A reservation as the expiry workflow sees it: the hold's fields taken from a change of the
 * `reservations` table (pure; runs in the shard reader's workflow code and in activities).
 */
import type { PipelineEvent } from '../core/pipelineEvent';

/** The table whose rows are holds on inventory (infra/schema.sql). */
export const RESERVATIONS_TABLE = 'reservations';

export const RESERVATION_STATUSES = ['HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/**
 * One change of a reservation, as a signal to its expiry workflow: only what the hold needs (no
 * order id, no other row values). `DELETED`: the row is gone. `version` orders changes of the row
 * (the pipeline's version, `<LSN>.<index>`): a workflow ignores one not newer than what it has.
 */
export interface HoldChange {
  reservationId: string;
  status: ReservationStatus | 'DELETED';
  sku: string;
  warehouseId: number;
  quantity: number;
  /** ISO-8601 with milliseconds. */
  expiresAt: string;
  version: string;
  /**
   * `DELETED` only: the row's status when it was deleted, from the delete's before image
   * (REPLICA IDENTITY FULL, the default for every table); absent when the image has the key only.
   * A row deleted while `HELD` still had units reserved: its expiry workflow returns them.
   */
  statusBeforeDelete?: ReservationStatus;
}

const isStatus = (v: unknown): v is ReservationStatus =>
  typeof v === 'string' && (RESERVATION_STATUSES as readonly string[]).includes(v);

/**
 * The hold changes of a batch of (redacted) events, the last per reservation in version order.
 * Rows that do not carry a usable hold (no expires_at, an unknown status) are left out: the row is
 * not a hold this product can expire, and the change still reaches DynamoDB and EventBridge.
 */
export function holdChanges(events: readonly PipelineEvent[]): HoldChange[] {
  const last = new Map<string, HoldChange>();
  for (const e of events) {
    if (e.table !== RESERVATIONS_TABLE) continue;
    const change = holdChangeOf(e);
    if (!change) continue;
    const prev = last.get(change.reservationId);
    if (!prev || prev.version < change.version) last.set(change.reservationId, change);
  }
  return [...last.values()];
}

export function holdChangeOf(e: PipelineEvent): HoldChange | undefined {
  const reservationId = e.key.reservation_id;
  if (typeof reservationId !== 'string' || !reservationId) return undefined;
  const row = e.op === 'd' ? e.before : e.after;
  const base = { reservationId, version: e.version };
  if (e.op === 'd') {
    return {
      ...base,
      status: 'DELETED',
      sku: typeof row?.sku === 'string' ? row.sku : '',
      warehouseId: typeof row?.warehouse_id === 'number' ? row.warehouse_id : 0,
      quantity: typeof row?.quantity === 'number' ? row.quantity : 0,
      expiresAt: typeof row?.expires_at === 'string' ? (isoMillis(row.expires_at) ?? '') : '',
      ...(isStatus(row?.status) ? { statusBeforeDelete: row.status } : {}),
    };
  }
  if (!row || !isStatus(row.status)) return undefined;
  const expiresAt = typeof row.expires_at === 'string' ? isoMillis(row.expires_at) : undefined;
  if (
    !expiresAt ||
    typeof row.sku !== 'string' ||
    typeof row.warehouse_id !== 'number' ||
    typeof row.quantity !== 'number'
  )
    return undefined;
  return {
    ...base,
    status: row.status,
    sku: row.sku,
    warehouseId: row.warehouse_id,
    quantity: row.quantity,
    expiresAt,
  };
}

function isoMillis(s: string): string | undefined {
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}
