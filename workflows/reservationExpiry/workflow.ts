/**
 * One held reservation's expiry (`reservation-expiry:<reservationId>`): sleeps on a durable timer
 * until the hold's deadline, then releases it in PostgreSQL through one conditional activity.
 * Later changes of the reservation arrive as signals from the change stream: an ended hold
 * (confirmed, cancelled, expired by someone else, deleted) ends the workflow without a release; a
 * moved `expires_at` moves the timer. Changes are ordered by the pipeline's version, so a late
 * duplicate never undoes a newer one.
 *
 * The release itself is the guard: it changes the row only while it is HELD and due, so a timer
 * that fires with the extension still in flight finds the hold not yet due and sleeps again.
 */
import { condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';
import type { HoldChange } from '../../domain/reservations/hold';
import type { HoldState } from '../names';
import {
  reservationChangedSignal,
  reservationStatusQuery,
  type ReservationExpiryInput,
  type ReservationExpiryStatus,
} from './definitions';
import { showHold } from './visibility';

/** The release retries until PostgreSQL answers: a hold must never outlive an outage. */
const { expireHold } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
});

/** Signals per run before continuing as new: a hold extended every minute for a week stays small. */
export const MAX_SIGNALS_PER_RUN = 100;
const MAX_NOTES = 8;

export async function reservationExpiryWorkflow(
  input: ReservationExpiryInput,
): Promise<ReservationExpiryStatus> {
  const status: ReservationExpiryStatus = {
    reservationId: input.reservationId,
    state: 'HELD',
    signalsSeen: input.signalsSeen ?? 0,
    notes: [],
  };
  let hold: HoldChange | undefined;
  let changed = false;
  let runSignals = 0;
  const note = (line: string) => {
    status.notes.push(`${new Date().toISOString()} ${line}`);
    if (status.notes.length > MAX_NOTES) status.notes.shift();
  };
  const apply = (c: HoldChange) => {
    if (c.reservationId !== input.reservationId) return note(`ignored a change of ${c.reservationId}`);
    if (hold && c.version === hold.version) return; // the same change again (the start signal)
    if (hold && c.version < hold.version) return note(`ignored change ${c.version} (older)`);
    if (hold && c.expiresAt !== hold.expiresAt && c.status === 'HELD')
      note(`deadline moved ${hold.expiresAt} → ${c.expiresAt}`);
    else if (hold && c.status !== hold.status) note(`hold ${c.status.toLowerCase()}`);
    hold = c;
    changed = true;
    Object.assign(status, {
      sku: c.sku,
      warehouseId: c.warehouseId,
      quantity: c.quantity,
      expiresAt: c.expiresAt,
      version: c.version,
    });
  };
  if (input.hold) apply(input.hold);
  setHandler(reservationChangedSignal, (c) => {
    status.signalsSeen++;
    runSignals++;
    apply(c);
  });
  setHandler(reservationStatusQuery, () => ({ ...status, notes: [...status.notes] }));

  const finish = (state: HoldState): ReservationExpiryStatus => {
    status.state = state;
    showHold(status);
    return status;
  };

  // Started by hand without a hold: wait for the change stream to say what it holds.
  await condition(() => hold !== undefined);
  for (;;) {
    const h = hold!;
    if (h.status !== 'HELD') return finish(h.status === 'DELETED' ? 'GONE' : h.status);
    if (runSignals >= MAX_SIGNALS_PER_RUN || workflowInfo().continueAsNewSuggested)
      await continueAsNew<typeof reservationExpiryWorkflow>({
        reservationId: input.reservationId,
        hold: h,
        signalsSeen: status.signalsSeen,
      });
    status.state = 'HELD';
    showHold(status);
    changed = false;
    const wait = Date.parse(h.expiresAt) - Date.now();
    if (wait > 0) {
      const interrupted = await condition(() => changed || runSignals >= MAX_SIGNALS_PER_RUN, wait, {
        summary: `hold expires at ${h.expiresAt}`,
      });
      if (interrupted) continue;
    }
    status.state = 'RELEASING';
    showHold(status);
    const released = await expireHold(input.reservationId);
    switch (released.outcome) {
      case 'released': {
        const r = released.reservation;
        status.releasedAt = r.updatedAt;
        status.lateMs = Date.parse(r.updatedAt) - Date.parse(r.expiresAt);
        note(`released ${r.quantity} units (${status.lateMs} ms after the deadline)`);
        return finish('EXPIRED');
      }
      case 'not-due':
        // PostgreSQL has a later deadline than the stream has told yet: sleep until it.
        note(`not due yet in PostgreSQL: deadline ${released.reservation.expiresAt}`);
        hold = { ...h, expiresAt: released.reservation.expiresAt };
        status.expiresAt = hold.expiresAt;
        continue;
      case 'not-held':
        note(`already ${released.reservation.status.toLowerCase()}: nothing to release`);
        return finish(released.reservation.status);
      case 'missing':
        note('the reservation no longer exists');
        return finish('GONE');
    }
  }
}
