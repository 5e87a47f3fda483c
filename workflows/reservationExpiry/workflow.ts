/**
 * One held reservation's expiry (`reservation-expiry:<reservationId>`): sleeps on a durable timer
 * until the hold's deadline, then releases it in PostgreSQL through one conditional activity.
 * Later changes of the reservation arrive as signals from the change stream: an ended hold
 * (confirmed, cancelled, expired by someone else, deleted) ends the workflow without a release; a
 * moved `expires_at` moves the timer. Changes are ordered by the pipeline's version, so a late
 * duplicate never undoes a newer one.
 *
 * The release itself is the guard: it changes the row only while it is HELD and due, so a timer
 * that fires with the extension still in flight finds the hold not yet due and sleeps again: until
 * PostgreSQL's deadline, and at least 1 s, 2 s, 4 s … (capped) when PostgreSQL's clock is behind
 * the workflow's. A change that arrives meanwhile decides (a CONFIRMED ends it without a release).
 * A row deleted while HELD gets its units back once (releaseDeletedHold, with the hold's SKU,
 * warehouse and quantity from the workflow's state when the delete carries only the key).
 */
import {
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';
import { deletedHoldRelease, notDueRetryAt } from '../../domain/reservations/expiry';
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
const { expireHold, releaseDeletedHold } = proxyActivities<Activities>({
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
/**
 * Patches (recorded histories replay unchanged, test/unit/replay.test.ts): a `not-due` answer
 * waits with a backoff and lets a change that arrived meanwhile decide; a hold deleted while HELD
 * gets its units back.
 */
const NOT_DUE_BACKOFF_PATCH = 'reservation-expiry-not-due-backoff';
const DELETED_RELEASE_PATCH = 'reservation-expiry-deleted-release';
/** After `missing` (the row is gone), how long to wait for the change stream's delete. */
const MISSING_WAIT_MS = 24 * 3600_000;

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
  /** The last HELD change: the units a row deleted without a full before image had reserved. */
  let lastHeld: HoldChange | undefined;
  let changed = false;
  /** No release attempt before this (workflow clock): the not-due backoff; 0 = the deadline decides. */
  let retryAt = 0;
  let notDueAnswers = 0;
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
    if (hold && c.expiresAt !== hold.expiresAt) {
      retryAt = 0; // a new deadline: a new try, from scratch
      notDueAnswers = 0;
    }
    hold = c;
    if (c.status === 'HELD') lastHeld = c;
    changed = true;
    // A delete whose before image has the key only keeps showing the hold it ended.
    if (c.sku !== '')
      Object.assign(status, {
        sku: c.sku,
        warehouseId: c.warehouseId,
        quantity: c.quantity,
        expiresAt: c.expiresAt,
      });
    status.version = c.version;
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
    if (h.status === 'DELETED' && patched(DELETED_RELEASE_PATCH)) {
      const owed = deletedHoldRelease(lastHeld, h);
      if (!owed) {
        note(
          h.statusBeforeDelete
            ? `deleted after it left HELD (${h.statusBeforeDelete.toLowerCase()}): nothing to give back`
            : 'deleted: no held units known to give back',
        );
        return finish('GONE');
      }
      status.state = 'RELEASING';
      showHold(status);
      const back = await releaseDeletedHold(owed);
      note(
        back.outcome === 'released'
          ? `deleted while held: ${owed.quantity} units back${back.inventoryRow ? '' : ' (no inventory row)'}`
          : back.outcome === 'already-released'
            ? `deleted while held: units already given back at ${back.releasedAt}`
            : 'deleted, but a reservation with this id exists again: nothing given back',
      );
      if (back.outcome !== 'exists') status.releasedAt ??= back.releasedAt;
      return finish('GONE');
    }
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
    const backingOff = retryAt > Date.parse(h.expiresAt);
    const wait = (backingOff ? retryAt : Date.parse(h.expiresAt)) - Date.now();
    if (wait > 0) {
      const interrupted = await condition(() => changed || runSignals >= MAX_SIGNALS_PER_RUN, wait, {
        summary: backingOff
          ? `not due in PostgreSQL yet: try again at ${new Date(retryAt).toISOString()}`
          : `hold expires at ${h.expiresAt}`,
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
        if (patched(NOT_DUE_BACKOFF_PATCH)) {
          // A change that arrived while the release ran is newer than `h`: it decides.
          if (changed) continue;
          // PostgreSQL has a later deadline than the stream has told yet (sleep until it), or its
          // clock is behind the workflow's (back off: 1 s, 2 s, 4 s … capped; never a busy loop).
          const at = notDueRetryAt(Date.parse(released.reservation.expiresAt), Date.now(), ++notDueAnswers);
          retryAt = at;
          note(
            `not due yet in PostgreSQL (deadline ${released.reservation.expiresAt}): ` +
              `try ${notDueAnswers + 1} at ${new Date(at).toISOString()}`,
          );
          status.expiresAt = released.reservation.expiresAt;
          continue;
        }
        // PostgreSQL has a later deadline than the stream has told yet: sleep until it.
        note(`not due yet in PostgreSQL: deadline ${released.reservation.expiresAt}`);
        hold = { ...h, expiresAt: released.reservation.expiresAt };
        status.expiresAt = hold.expiresAt;
        continue;
      case 'not-held':
        note(`already ${released.reservation.status.toLowerCase()}: nothing to release`);
        return finish(released.reservation.status);
      case 'missing':
        if (patched(DELETED_RELEASE_PATCH)) {
          // Deleted: the stream's delete says whether it was still HELD (then its units come back).
          if (!changed) {
            note('the reservation no longer exists: waiting for the change stream to say what was deleted');
            if (!(await condition(() => changed, MISSING_WAIT_MS))) {
              note('the change stream never told the delete: no units given back');
              return finish('GONE');
            }
          }
          continue;
        }
        note('the reservation no longer exists');
        return finish('GONE');
    }
  }
}
