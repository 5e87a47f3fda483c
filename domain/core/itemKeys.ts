/**
 * DynamoDB item keys (`pk`) of the pipeline's tables, written once here and used by the
 * activities, the operator tools and the tests.
 */

/** `cdc_entities`: the current (redacted) row of one source row, e.g. `inventory#SKU-1#101`. */
export const entityKey = (table: string, entityId: string) => `${table}#${entityId}`;

/** `inventory_realtime`: stock of one SKU in one warehouse, e.g. `SKU-1#101`. */
export const inventoryKey = (sku: unknown, warehouseId: unknown) => `${String(sku)}#${String(warehouseId)}`;

/** `cdc_dlq`: one parked record, by its position on the stream. */
export const deadLetterKey = (stream: string, shardId: string, sequenceNumber: string) =>
  `${stream}#${shardId}#${sequenceNumber}`;

/** `cdc_state`: a consumer's checkpoint (and SHARD_END marker) of one shard. */
export const shardCheckpointKey = (consumer: string, stream: string, shardId: string) =>
  `SHARD#${consumer}#${stream}#${shardId}`;

/** The shard id of a checkpoint key. */
export const shardIdOfCheckpointKey = (pk: string) => pk.split('#').at(-1)!;

/** `cdc_state`: marks an alert as published, so it goes out once per alert id. */
export const alertMarkerKey = (alertId: string) => `ALERT#${alertId}`;
