import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Temporal names fixed by the architecture (docs/architecture.md). */
export const TASK_QUEUE = 'cdc-pipeline';
export const supervisorWorkflowId = (stream: string, consumer: string) =>
  `cdc-supervisor:${stream}:${consumer}`;
export const shardWorkflowId = (stream: string, consumer: string, shardId: string) =>
  `cdc-shard:${stream}:${consumer}:${shardId}`;
export const captureWorkflowId = (slot: string) => `cdc-capture:${slot}`;
/** One DLQ redrive request (workflows/redrive/). */
export const redriveWorkflowId = (requestId: string) => `cdc-redrive:${requestId}`;
/** One backfill request (workflows/backfill/). */
export const backfillWorkflowId = (id: string) => `cdc-backfill:${id}`;
/** One held reservation's expiry (workflows/reservationExpiry/), started from the change stream. */
export const reservationExpiryWorkflowId = (reservationId: string) => `reservation-expiry:${reservationId}`;
export const RESERVATION_EXPIRY_WORKFLOW_TYPE = 'reservationExpiryWorkflow';

export const SA = {
  stream: defineSearchAttributeKey('CdcStream', SearchAttributeType.KEYWORD),
  consumer: defineSearchAttributeKey('CdcConsumer', SearchAttributeType.KEYWORD),
  shard: defineSearchAttributeKey('CdcShard', SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey('CdcState', SearchAttributeType.KEYWORD),
  checkpoint: defineSearchAttributeKey('CdcCheckpoint', SearchAttributeType.KEYWORD),
  lagMs: defineSearchAttributeKey('CdcLagMs', SearchAttributeType.INT),
  table: defineSearchAttributeKey('CdcTable', SearchAttributeType.KEYWORD),
  /** Reservation expiry: the hold's deadline (list holds about to expire) and its SKU. */
  expiresAt: defineSearchAttributeKey('CdcExpiresAt', SearchAttributeType.DATETIME),
  sku: defineSearchAttributeKey('CdcSku', SearchAttributeType.KEYWORD),
};

export type ShardState = 'RUNNING' | 'CAUGHT_UP' | 'PAUSED' | 'STUCK' | 'ENDED';
/** CdcState of a reservation-expiry workflow: the hold's state as the workflow last saw it. */
export type HoldState = 'HELD' | 'RELEASING' | 'EXPIRED' | 'CONFIRMED' | 'CANCELLED' | 'GONE';
