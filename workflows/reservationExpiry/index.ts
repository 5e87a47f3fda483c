/**
 * The reservation-expiry workflow, one per held reservation (`reservation-expiry:<id>`):
 * - workflow.ts: durable timer until the deadline, signals for later changes, the release;
 * - definitions.ts: input, signal and status query, for clients (cdc reserve, the shard reader's activity);
 * - visibility.ts: search attributes and current details.
 * The release is activities/reservations/ around infra/reservationStore.ts.
 */
export * from './definitions';
export { MAX_SIGNALS_PER_RUN, reservationExpiryWorkflow } from './workflow';
export { NOT_DUE_MAX_BACKOFF_MS, NOT_DUE_MIN_BACKOFF_MS } from '../../domain/reservations/expiry';
