/**
 * DynamoDB item keys (`pk`) of the pipeline's tables, written once here and used by the
 * activities, the operator tools and the tests.
 */

/** `cdc_entities`: the current (redacted) row of one source row, e.g. `inventory#SKU-1#101`. */
export const entityKey = (table: string, entityId: string) => `${table}#${entityId}`;

/** `inventory_realtime`: stock of one SKU in one warehouse, e.g. `SKU-1#101`. */
export const inventoryKey = (sku: unknown, warehouseId: unknown) => `${String(sku)}#${String(warehouseId)}`;

/**
 * `cdc_dlq`: one record a consumer parked, by the consumer and the record's position on the
 * stream (several consumers may read one stream, each parks on its own), e.g.
 * `SHARD#inventory-pipeline#cdc-inventory#shardId-000000000000#4968…`.
 */
export const deadLetterKey = (consumer: string, stream: string, shardId: string, sequenceNumber: string) =>
  `SHARD#${consumer}#${stream}#${shardId}#${sequenceNumber}`;

/**
 * `cdc_dlq`: one change capture could not put on the stream, by slot and position in the WAL
 * (commit LSN, index within the transaction), e.g. `CAPTURE#cdc_inventory_slot#0/16C4460#3`.
 * The prefix keeps it apart from the shards' dead letters (names never hold '#').
 */
export const captureDeadLetterKey = (slot: string, commitLsn: string, index: number) =>
  `CAPTURE#${slot}#${commitLsn}#${index}`;

/** `cdc_state`: a consumer's checkpoint (and SHARD_END marker) of one shard. */
export const shardCheckpointKey = (consumer: string, stream: string, shardId: string) =>
  `SHARD#${consumer}#${stream}#${shardId}`;

/** The shard id of a checkpoint key. */
export const shardIdOfCheckpointKey = (pk: string) => pk.split('#').at(-1)!;

/** `cdc_state`: marks an alert as published, so it goes out once per alert id. */
export const alertMarkerKey = (alertId: string) => `ALERT#${alertId}`;

/**
 * The DLQ bucket: where the raw data of a large dead letter is kept (claim check), by the same
 * parts as its item key. The prefixes let one pipeline's objects be listed and removed.
 */
export const deadLetterObjectPrefix = {
  shards: (consumer: string, stream: string) => `dead-letters/shard/${consumer}/${stream}/`,
  capture: (slot: string) => `dead-letters/capture/${slot}/`,
};
export const deadLetterObjectKey = (
  consumer: string,
  stream: string,
  shardId: string,
  sequenceNumber: string,
) => `${deadLetterObjectPrefix.shards(consumer, stream)}${shardId}/${sequenceNumber}`;
/** The LSN's '/' becomes '-', so an object's key has one level per part. */
export const captureDeadLetterObjectKey = (slot: string, commitLsn: string, index: number) =>
  `${deadLetterObjectPrefix.capture(slot)}${commitLsn.replace('/', '-')}/${index}`;
