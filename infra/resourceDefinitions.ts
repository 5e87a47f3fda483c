/**
 * The AWS resources' shapes as data, for the two places that create them: `cdc provision aws`
 * (infra/provisioning.ts, through the SDK) and the CDK app (deploy/, as CloudFormation). Names come
 * from the configuration (infra/config.ts); the rules and their queues from `eventRouting`
 * (infra/provisioning.ts).
 */

/** Every pipeline table is keyed by one string partition key (domain/core/itemKeys.ts builds its values). */
export const TABLE_PARTITION_KEY = { name: 'pk', type: 'S' } as const;

/**
 * The TTL attribute (epoch seconds) of every pipeline table: tombstones in the entity tables,
 * alert markers in the state table, dead letters at the end of their redrive window.
 */
export const TTL_ATTRIBUTE = 'ttl';

/** The bus's archive: every event the pipeline publishes, kept 30 days for replays. */
export function eventArchive(bus: string) {
  return {
    name: `${bus}-all`,
    pattern: { source: [{ prefix: 'cdc-pipeline.' }] },
    retentionDays: 30,
  };
}
