/**
 * The reservation-expiry workflow's decisions that need no I/O (pure; the workflow imports them,
 * test/unit/reservations/expiry.test.ts tests them): when to try a release again after PostgreSQL
 * found the hold not yet due, and what a deleted hold gives back.
 */
import type { HoldChange } from './hold';

/** The first wait after a `not-due` answer; each further one doubles, up to the cap. */
export const NOT_DUE_MIN_BACKOFF_MS = 1_000;
export const NOT_DUE_MAX_BACKOFF_MS = 60_000;

/**
 * When to try the release again after `attempt` consecutive `not-due` answers (1 for the first):
 * PostgreSQL's deadline (it has a later one: an extension whose change is still on its way), or
 * now + 1 s, 2 s, 4 s … capped at a minute (PostgreSQL's clock is behind the workflow's),
 * whichever is later. Never now: a clock that stays behind must not make a busy loop.
 */
export function notDueRetryAt(postgresDeadlineMs: number, nowMs: number, attempt: number): number {
  const doublings = Math.min(Math.max(0, Math.floor(attempt) - 1), 30);
  const backoff = Math.min(NOT_DUE_MAX_BACKOFF_MS, NOT_DUE_MIN_BACKOFF_MS * 2 ** doublings);
  const deadline = Number.isFinite(postgresDeadlineMs) ? postgresDeadlineMs : 0;
  return Math.max(deadline, nowMs + backoff);
}

/** The units a reservation deleted while HELD had reserved: what its release gives back. */
export interface DeletedHold {
  reservationId: string;
  sku: string;
  warehouseId: number;
  quantity: number;
}

/**
 * What to give back for a deleted reservation, or undefined when nothing is owed: the delete's
 * before image says the row had already left HELD (a confirm or cancel took or returned the units
 * itself), or nobody knows which units it held. The units are the before image's when it carries
 * them, else those of the last HELD change the workflow kept (`held`): a delete whose image has
 * the key only still returns the right units.
 */
export function deletedHoldRelease(
  held: HoldChange | undefined,
  deleted: HoldChange,
): DeletedHold | undefined {
  if (deleted.status !== 'DELETED') return undefined;
  if (deleted.statusBeforeDelete !== undefined && deleted.statusBeforeDelete !== 'HELD') return undefined;
  const carries = (c: HoldChange | undefined): c is HoldChange =>
    !!c && c.sku !== '' && Number.isInteger(c.quantity) && c.quantity > 0;
  const from = carries(deleted) ? deleted : held?.status === 'HELD' && carries(held) ? held : undefined;
  if (!from || from.reservationId !== deleted.reservationId) return undefined;
  return {
    reservationId: deleted.reservationId,
    sku: from.sku,
    warehouseId: from.warehouseId,
    quantity: from.quantity,
  };
}
