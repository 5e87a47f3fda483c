// The source epoch's I/O: the source's identity from PostgreSQL, the recorded epoch in the state table.
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  decideEpoch,
  describeEpoch,
  readerEpoch,
  SourceEpochMismatchError,
  SourceEpochRecordSchema,
  sourceEpochKey,
  SourceIdentitySchema,
  type SourceEpochRecord,
  type SourceIdentity,
} from '../../domain/capture/sourceEpoch';
import type { ActivityDeps } from '../deps';

/**
 * The system identifier and the current timeline (the timeline of the WAL file being written,
 * what IDENTIFY_SYSTEM reports too). Plain SQL, so it runs on an ordinary connection (backfill)
 * and on a logical replication connection before START_REPLICATION (capture: the identity of the
 * very server the changes come from). Needs no privilege beyond the defaults; fails on a standby.
 */
export const SOURCE_IDENTITY_SQL = `SELECT system_identifier::text AS system_id,
  ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS timeline
  FROM pg_control_system()`;

interface Queryable {
  query<R extends Record<string, unknown>>(sql: string): Promise<{ rows: R[] }>;
}

export async function readSourceIdentity(pg: Queryable): Promise<SourceIdentity> {
  const r = await pg.query<{ system_id: string; timeline: number }>(SOURCE_IDENTITY_SQL);
  const row = r.rows[0];
  return SourceIdentitySchema.parse({ systemId: row?.system_id, timeline: Number(row?.timeline) });
}

/** Where the epoch is kept: the state table of the pipeline, one item per capture slot. */
export interface EpochStore {
  doc: Pick<DynamoDBDocumentClient, 'send'>;
  table: string;
  slot: string;
}

/** The recorded source identity and epoch; undefined before any was recorded. */
export async function readSourceEpoch(store: EpochStore): Promise<SourceEpochRecord | undefined> {
  const out = await store.doc.send(
    new GetCommand({ TableName: store.table, Key: { pk: sourceEpochKey(store.slot) }, ConsistentRead: true }),
  );
  if (!out.Item) return undefined;
  const { pk: _pk, ...item } = out.Item;
  const parsed = SourceEpochRecordSchema.safeParse(item);
  if (!parsed.success)
    throw new Error(
      `state item ${sourceEpochKey(store.slot)} is not a source epoch record: ${parsed.error.message}`,
    );
  return parsed.data as SourceEpochRecord;
}

export interface ResolvedEpoch {
  record: SourceEpochRecord;
  /** This call wrote the record (a new epoch, or the first one). */
  changed: boolean;
}

const WRITE_ATTEMPTS = 5;

/**
 * Capture's and the operator's: the epoch for a source that shows `identity`: the recorded one
 * when the identity is the same, else recorded + 1, written with a condition on what was read (no
 * item, or the recorded epoch), so two writers that see a new source at once agree: the one whose
 * write lost reads the winner's record, finds the same identity and uses its epoch. `force` (the
 * operator's bump) always writes recorded + 1. A source that is the record's `previous` (the
 * cluster of the epoch before) is refused, `SourceEpochMismatchError`, unless `force`. A new
 * epoch is logged in one line. Readers other than capture use `recordedEpochOf`: they never write.
 */
export async function resolveSourceEpoch(
  store: EpochStore,
  identity: SourceIdentity,
  opts: { force?: boolean; log?: (line: string) => void; now?: () => Date } = {},
): Promise<ResolvedEpoch> {
  const now = opts.now ?? (() => new Date());
  for (let attempt = 1; ; attempt++) {
    const recorded = await readSourceEpoch(store);
    const decision = decideEpoch(recorded, identity, now().toISOString(), opts.force, store.slot);
    if (decision.kind === 'same') return { record: decision.record, changed: false };
    if (decision.kind === 'refuse') throw new SourceEpochMismatchError(decision.message);
    try {
      await store.doc.send(
        new PutCommand({
          TableName: store.table,
          Item: { pk: sourceEpochKey(store.slot), ...decision.record },
          // Nothing recorded, or still what was read (-1 matches no epoch: only "nothing" will do).
          ConditionExpression: 'attribute_not_exists(pk) OR epoch = :e',
          ExpressionAttributeValues: { ':e': decision.expectEpoch ?? -1 },
        }),
      );
    } catch (err) {
      // Someone else wrote first: read what they wrote (a bump asked for is made on top of it).
      if (err instanceof ConditionalCheckFailedException && attempt < WRITE_ATTEMPTS) continue;
      throw err;
    }
    opts.log?.(describeEpoch(store.slot, decision.record));
    return { record: decision.record, changed: true };
  }
}

/**
 * The epoch of the source `pg` is connected to, for readers of the source other than capture
 * (a backfill chunk, a redrive's one-key read), whose rows must order like the changes capture
 * streams from the same source: the recorded epoch when `pg` reached the recorded source, 0 with
 * nothing recorded; else `SourceEpochMismatchError` (retried: capture records the new source's
 * epoch). Never writes: only capture and the operator's bump move the epoch.
 */
export async function recordedEpochOf(
  deps: Pick<ActivityDeps, 'aws' | 'config'>,
  pg: Queryable,
  reader: string,
): Promise<number> {
  const store = { doc: deps.aws.doc, table: deps.config.tables.state, slot: deps.config.slot };
  const identity = await readSourceIdentity(pg);
  return readerEpoch(await readSourceEpoch(store), identity, store.slot, reader);
}
