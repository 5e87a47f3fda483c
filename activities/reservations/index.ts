/**
 * Reservation expiry's I/O: the shard reader hands each batch's hold changes to their expiry
 * workflows (signal-with-start, so a hold taken by any application gets one), and the expiry
 * workflow releases a due hold in PostgreSQL (infra/reservationStore.ts, one conditional statement).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { z } from 'zod';
import type { HoldChange } from '../../domain/reservations/hold';
import { metrics } from '../../infra/metrics';
import type { DeletedHold } from '../../domain/reservations/expiry';
import {
  expireReservation,
  releaseDeletedHold,
  type DeletedHoldRelease,
  type ReleaseOutcome,
} from '../../infra/reservationStore';
import {
  reservationChangedSignal,
  type ReservationExpiryInput,
} from '../../workflows/reservationExpiry/definitions';
import { RESERVATION_EXPIRY_WORKFLOW_TYPE, reservationExpiryWorkflowId, SA } from '../../workflows/names';
import { mapLimit } from '../concurrency';
import type { ActivityDeps, PooledDeps } from '../deps';
import { toFailure } from '../failures';

export interface HoldSignals {
  /** Changes delivered to an expiry workflow (started for a new hold, or signalled). */
  delivered: number;
  /** Changes with no running workflow to tell: already ended, or a hold this pipeline never saw HELD. */
  ignored: number;
}

/** Signals in flight at once: a batch of 500 holds must not open 500 requests. */
const SIGNAL_CONCURRENCY = 16;

/** Releases go through the worker's pool on the source database (`deps.pools.source`, infra/pgPools.ts). */
export function createReservationActivities(deps: PooledDeps) {
  const pg = () => deps.pools.source;
  return {
    /**
     * Tells each hold's expiry workflow about the change: a HELD one (or the delete of a row that
     * was HELD) starts it if it is not running (signal-with-start, idempotent); any other only
     * signals a running one. Ids are never reused
     * (REJECT_DUPLICATE): a replayed HELD change of a hold that already ended starts nothing.
     */
    async signalHoldChanges(changes: HoldChange[]): Promise<HoldSignals> {
      try {
        return await tellHolds(deps, changes);
      } catch (err) {
        throw toFailure(err);
      }
    },

    /**
     * Releases a due hold (HELD → EXPIRED, quantity back to the inventory row) in one statement.
     * Running it twice is harmless: the second finds the hold not HELD and changes nothing.
     */
    async expireHold(reservationId: string): Promise<ReleaseOutcome> {
      try {
        const released = await expireReservation(pg(), reservationId);
        const r = released.outcome === 'released' ? released.reservation : undefined;
        metrics.holdReleased(
          released.outcome,
          r ? (Date.parse(r.updatedAt) - Date.parse(r.expiresAt)) / 1000 : undefined,
        );
        return released;
      } catch (err) {
        throw toFailure(err);
      }
    },

    /**
     * Gives back the units of a reservation deleted while HELD, once per reservation id (the
     * reservation id goes into released_holds in the same statement): a retry, or the delete heard
     * twice, answers `already-released` and changes nothing.
     */
    async releaseDeletedHold(hold: DeletedHold): Promise<DeletedHoldRelease> {
      try {
        const parsed = DeletedHoldSchema.safeParse(hold);
        // Retrying cannot fix the workflow's input; the message names fields, not values.
        if (!parsed.success)
          throw ApplicationFailure.nonRetryable(
            `releaseDeletedHold: invalid ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
            'InvalidDeletedHold',
          );
        const released = await releaseDeletedHold(pg(), parsed.data);
        metrics.holdReleased(released.outcome === 'released' ? 'deleted' : `deleted-${released.outcome}`);
        return released;
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

/** What a workflow hands the release of a deleted hold (validated: it reaches SQL). */
const DeletedHoldSchema = z.object({
  reservationId: z.string().min(1).max(1024),
  sku: z.string().min(1),
  warehouseId: z.number().int().min(0).max(2_147_483_647),
  quantity: z.number().int().positive(),
});

/**
 * Hands hold changes to their expiry workflows from inside an activity (the shard reader's step,
 * a backfill's chunk), through the worker's client; nothing when `CDC_RESERVATION_EXPIRY=off`.
 */
export async function tellHolds(deps: ActivityDeps, changes: HoldChange[]): Promise<HoldSignals> {
  if (!deps.config.reservationExpiry || !changes.length) return { delivered: 0, ignored: changes.length };
  const client = Context.current().client;
  const out: HoldSignals = { delivered: 0, ignored: 0 };
  await mapLimit(changes, SIGNAL_CONCURRENCY, async (change) => {
    out[await signalHold(client, deps.config.taskQueue, change)]++;
  });
  metrics.holdsSignalled(out.delivered, out.ignored);
  return out;
}

/** Delivers one hold change to its expiry workflow (exported for the integration test of a replayed change). */
export async function signalHold(
  client: Client,
  taskQueue: string,
  change: HoldChange,
): Promise<keyof HoldSignals> {
  const workflowId = reservationExpiryWorkflowId(change.reservationId);
  // A delete of a row that was still HELD starts the workflow too (its units are owed back): a
  // hold taken and deleted in one batch never had one. One that ran already is not started again.
  const starts =
    change.status === 'HELD' || (change.status === 'DELETED' && change.statusBeforeDelete === 'HELD');
  if (!starts) {
    try {
      await client.workflow.getHandle(workflowId).signal(reservationChangedSignal, change);
      return 'delivered';
    } catch (err) {
      // No expiry workflow, or it already ended (it released, or saw the hold end): nothing to do.
      if (err instanceof WorkflowNotFoundError) return 'ignored';
      throw err;
    }
  }
  const input: ReservationExpiryInput = { reservationId: change.reservationId, hold: change };
  try {
    await client.workflow.signalWithStart(RESERVATION_EXPIRY_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [input],
      signal: reservationChangedSignal,
      signalArgs: [change],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: SA.state, value: change.status === 'HELD' ? 'HELD' : 'RELEASING' },
        ...(Number.isFinite(Date.parse(change.expiresAt))
          ? [{ key: SA.expiresAt, value: new Date(change.expiresAt) }]
          : []),
        { key: SA.sku, value: change.sku },
        { key: SA.table, value: 'reservations' },
      ],
      staticSummary:
        `hold ${change.quantity} × ${change.sku} @ ${change.warehouseId} ` +
        (change.status === 'HELD' ? `until ${change.expiresAt}` : 'deleted while held'),
    });
    return 'delivered';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'ignored';
    throw err;
  }
}
