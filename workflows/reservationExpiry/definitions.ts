/** The reservation-expiry workflow's contract: input, signal, query (workflows/reservationExpiry/). */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { HoldChange } from '../../domain/reservations/hold';
import type { HoldState } from '../names';

export interface ReservationExpiryInput {
  reservationId: string;
  /** The change that started the workflow (also delivered as the start signal). */
  hold?: HoldChange;
  /** Carried over by continue-as-new. */
  signalsSeen?: number;
}

/** A later change of the reservation (confirmed, cancelled, expires_at moved), from the change stream. */
export const reservationChangedSignal = defineSignal<[HoldChange]>('reservationChanged');

export interface ReservationExpiryStatus {
  reservationId: string;
  state: HoldState;
  sku?: string;
  warehouseId?: number;
  quantity?: number;
  /** The deadline the workflow's timer waits for (ISO-8601). */
  expiresAt?: string;
  /** Version of the last change applied (`<LSN>.<index>`). */
  version?: string;
  /** Changes received as signals (including ones ignored as older). */
  signalsSeen: number;
  /** When the release ran (ISO-8601) and how late after the deadline, in ms. */
  releasedAt?: string;
  lateMs?: number;
  /** Last lines of what the workflow did (bounded). */
  notes: string[];
}

export const reservationStatusQuery = defineQuery<ReservationExpiryStatus>('status');
