/**
 * What an operator does with the dead-letter table (`config.tables.dlq`): list, read, discard,
 * and the audit trail every action leaves on the item. Plain async functions over `ActivityDeps`,
 * called by the `cdc dlq` commands and by the redrive activities (activities/redrive.ts).
 *
 * The audit trail lives WITH the item, as the list attribute `audit`, appended atomically
 * (`list_append`) in the same conditional update that changes the status, so an item never
 * changes without saying who did it, when, why and what happened. Only a PARKED item can be
 * redriven or discarded; REDRIVEN and DISCARDED are final.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { PipelineConfig } from '../infra/config';
import { readDeadLetterRaw } from './deadLetters';
import type { ActivityDeps } from './deps';

export const DEAD_LETTER_STATUSES = ['PARKED', 'REDRIVEN', 'DISCARDED'] as const;
export type DeadLetterStatus = (typeof DEAD_LETTER_STATUSES)[number];

/**
 * Which dead letters (every field optional, all given ones must match):
 * - `status`: PARKED, REDRIVEN or DISCARDED;
 * - `table`: the source table, bare (`users`) or schema-qualified (`public.users`);
 * - `category`: poison, configuration, permanent or operator-skip;
 * - `since`: parked at or after this ISO-8601 time;
 * - `source`: `shard` (a shard reader parked it) or `capture`;
 * - `consumer`: the consumer the letter belongs to (`letterConsumer`): the one that parked it, for
 *   a capture letter the operational consumer (it runs capture).
 */
export const DeadLetterFilterSchema = z.strictObject({
  status: z.enum(DEAD_LETTER_STATUSES).optional(),
  table: z
    .string()
    .trim()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/,
      'a table name, e.g. users or public.users',
    )
    .optional(),
  category: z.enum(['poison', 'configuration', 'permanent', 'operator-skip']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  source: z.enum(['shard', 'capture']).optional(),
  consumer: z.string().trim().min(1).max(200).optional(),
});
export type DeadLetterFilter = z.output<typeof DeadLetterFilterSchema>;

/** One entry of an item's audit trail: who, when, why, and what happened. */
export interface AuditEntry {
  at: string;
  actor: string;
  action: 'redrive' | 'discard';
  reason: string;
  result: 'redriven' | 'stale' | 'failed' | 'discarded';
  /** What happened, without row values (counts, the new error). */
  detail?: string;
  /** The redrive request (workflow) that acted: makes a retried activity idempotent. */
  requestId?: string;
}

/** A dead letter as listed: where it came from, why and its status, never its raw data. */
export interface DeadLetterSummary {
  pk: string;
  source: 'shard' | 'capture';
  status: DeadLetterStatus;
  category: string;
  reason: string;
  /** The source table: bare for shard letters (from the partition key), `schema.table` for capture letters. */
  table?: string;
  parkedAt: string;
  /** How often the record was parked (a replay parks it again). */
  attempts: number;
  /** DynamoDB has the change, consumers never got it: a redrive publishes it. */
  appliedNotPublished?: true;
  /** Size of the raw record (kept encrypted). */
  rawBytes?: number;
  /** The consumer it belongs to (`letterConsumer`): only that one redrives it. */
  consumer?: string;
  /** When DynamoDB deletes the item (epoch seconds): the end of its redrive window. */
  ttl?: number;
  // Shard letters.
  stream?: string;
  shardId?: string;
  sequenceNumber?: string;
  partitionKey?: string;
  // Capture letters.
  slot?: string;
  lsn?: string;
  index?: number;
  op?: string;
  /** The error of the last failed redrive. */
  lastRedriveError?: string;
  /** The newest audit entry, if any. */
  lastAction?: AuditEntry;
}

/** One page of dead letters; pass `cursor` back for the next page (absent: no more). */
export interface DeadLetterPage {
  items: DeadLetterSummary[];
  cursor?: string;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
/** Items read per Scan request, and requests per call (a call returns early, with a cursor, after that). */
const SCAN_PAGE = 200;
const MAX_SCAN_REQUESTS = 25;

/** What a listing reads of an item: everything but the (encrypted) raw record. */
const SUMMARY_ATTRIBUTES = [
  'pk',
  'source',
  'status',
  'category',
  'reason',
  'table',
  'parkedAt',
  'attempts',
  'appliedNotPublished',
  'rawBytes',
  'ttl',
  'consumer',
  'stream',
  'shardId',
  'sequenceNumber',
  'partitionKey',
  'slot',
  'lsn',
  'index',
  'op',
  'lastRedriveError',
  'audit',
];

/**
 * Lists dead letters matching `filter` (validated: throws a ZodError naming the field), in the
 * table's order, `opts.limit` at a time (default 50, at most 1000), without their raw data.
 *
 * A Scan with pagination, filtered here: right for the local stack and a small DLQ. A large DLQ
 * wants a global secondary index on `status` (sort key `parkedAt`), queried instead of scanned.
 * A call reads at most 25 Scan pages and may return fewer items than `limit` with a cursor:
 * keep calling while a cursor comes back.
 */
export async function listDeadLetters(
  deps: Pick<ActivityDeps, 'aws' | 'config'>,
  filter: DeadLetterFilter = {},
  opts: { limit?: number; cursor?: string } = {},
): Promise<DeadLetterPage> {
  const f = DeadLetterFilterSchema.parse(filter);
  const limit = Math.min(MAX_LIMIT, Math.max(1, Math.floor(opts.limit ?? DEFAULT_LIMIT)));
  const names = Object.fromEntries(SUMMARY_ATTRIBUTES.map((a, i) => [`#p${i}`, a]));
  const items: DeadLetterSummary[] = [];
  let startKey = opts.cursor !== undefined ? decodeCursor(opts.cursor) : undefined;
  for (let request = 0; request < MAX_SCAN_REQUESTS && items.length < limit; request++) {
    // Never read more items than are still wanted: the page then ends exactly where its
    // LastEvaluatedKey says, which is the only cursor DynamoDB promises to resume from.
    const out = await deps.aws.doc.send(
      new ScanCommand({
        TableName: deps.config.tables.dlq,
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
        Limit: Math.min(SCAN_PAGE, limit - items.length),
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    for (const item of out.Items ?? [])
      if (matches(item, f, deps.config)) items.push(summaryOf(item, deps.config));
    startKey = out.LastEvaluatedKey as { pk: string } | undefined;
    if (!startKey) break;
  }
  return { items, ...(startKey ? { cursor: encodeCursor(startKey) } : {}) };
}

/** A dead letter for the operator: its summary, its raw record decrypted, and its whole audit trail. */
export interface DeadLetterDetail {
  item: DeadLetterSummary;
  /** The raw record as it was parked: UTF-8 text, or base64 for binary data. */
  raw?: { encoding: 'utf8' | 'base64'; text: string; bytes: number };
  /** Why the raw record could not be read (e.g. its key is no longer in the keyring). */
  rawError?: string;
  audit: AuditEntry[];
}

/**
 * One dead letter by its key (`SHARD#…` or `CAPTURE#…`), with its raw record decrypted for the
 * operator (it holds row data: show it, never log it); undefined when there is no such item.
 */
export async function getDeadLetter(deps: ActivityDeps, pk: string): Promise<DeadLetterDetail | undefined> {
  const item = await readItem(deps, pk);
  if (!item) return undefined;
  const detail: DeadLetterDetail = { item: summaryOf(item, deps.config), audit: auditOf(item) };
  try {
    const { bytes, encoding } = await readDeadLetterRaw(deps, item);
    detail.raw = { encoding, text: bytes.toString(encoding), bytes: bytes.length };
  } catch (err) {
    detail.rawError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }
  return detail;
}

/** What happened to one item of a discard (or why nothing did). */
export interface DiscardOutcome {
  pk: string;
  result: 'discarded' | 'not-parked' | 'not-found';
  /** The item's status when it was not PARKED. */
  status?: string;
}

/**
 * Marks PARKED dead letters DISCARDED (final: the record is given up) with an audit entry each.
 * An item that is not PARKED (already redriven or discarded) or does not exist is left alone and
 * reported as such. The raw record stays, encrypted, until the item is deleted.
 */
export async function discardDeadLetters(
  deps: Pick<ActivityDeps, 'aws' | 'config'>,
  pks: string[],
  who: { actor: string; reason: string },
): Promise<DiscardOutcome[]> {
  const { actor, reason } = ActorSchema.parse(who);
  const out: DiscardOutcome[] = [];
  for (const pk of [...new Set(pks)]) {
    const at = new Date().toISOString();
    const done = await updateParked(deps, pk, {
      set: { status: 'DISCARDED', discardedAt: at },
      audit: { at, actor, action: 'discard', reason, result: 'discarded' },
    });
    if (done) {
      out.push({ pk, result: 'discarded' });
      continue;
    }
    const item = await readItem(deps, pk);
    out.push(item ? { pk, result: 'not-parked', status: String(item.status) } : { pk, result: 'not-found' });
  }
  return out;
}

/** Who acts and why: both required, kept in the audit trail. */
export const ActorSchema = z.object({
  actor: z.string().trim().min(1, 'say who acts').max(200),
  reason: z.string().trim().min(1, 'say why (it is kept in the audit trail)').max(500),
});

/**
 * Updates a PARKED item: sets the attributes in `set` and, if given, appends `audit` to its
 * trail, in one conditional write. False when the item does not exist or is not PARKED (then
 * nothing is written). Throws on anything else (DynamoDB unavailable): the caller retries.
 */
export async function updateParked(
  deps: Pick<ActivityDeps, 'aws' | 'config'>,
  pk: string,
  change: { set: Record<string, unknown>; audit?: AuditEntry },
): Promise<boolean> {
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = { ':parked': 'PARKED' };
  const sets = Object.entries(change.set).map(([name, value], i) => {
    names[`#s${i}`] = name;
    values[`:s${i}`] = value;
    return `#s${i} = :s${i}`;
  });
  if (change.audit) {
    names['#audit'] = 'audit';
    values[':entry'] = [withoutUndefined(change.audit)];
    values[':empty'] = [];
    sets.push('#audit = list_append(if_not_exists(#audit, :empty), :entry)');
  }
  try {
    await deps.aws.doc.send(
      new UpdateCommand({
        TableName: deps.config.tables.dlq,
        Key: { pk },
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk) AND #status = :parked',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (
      err instanceof ConditionalCheckFailedException ||
      (err as Error)?.name === 'ConditionalCheckFailedException'
    )
      return false;
    throw err;
  }
}

/** The whole item (with its encrypted raw record), read consistently; undefined when absent. */
export async function readItem(
  deps: Pick<ActivityDeps, 'aws' | 'config'>,
  pk: string,
): Promise<Record<string, unknown> | undefined> {
  const out = await deps.aws.doc.send(
    new GetCommand({ TableName: deps.config.tables.dlq, Key: { pk }, ConsistentRead: true }),
  );
  return out.Item;
}

/** An item's audit trail, oldest first. */
export function auditOf(item: Record<string, unknown>): AuditEntry[] {
  return Array.isArray(item.audit) ? (item.audit as AuditEntry[]) : [];
}

/** The source table a dead letter is about: `schema.table` (capture) or the partition key's table (shard). */
export function tableOf(item: Record<string, unknown>): string | undefined {
  if (typeof item.table === 'string') return item.table;
  if (typeof item.partitionKey === 'string' && item.partitionKey.includes(':'))
    return item.partitionKey.slice(0, item.partitionKey.indexOf(':'));
  return undefined;
}

/**
 * The consumer a dead letter belongs to, the only one that may redrive it: the consumer that
 * parked it (`consumer`). Capture letters carry the consumer capture ran with (the operational
 * one); one parked before they did belongs to the operational consumer, which `config` is when its
 * sink is operational (the CLI's and the operational worker's configuration), else unknown.
 */
export function letterConsumer(
  item: Record<string, unknown>,
  config?: Pick<PipelineConfig, 'consumer' | 'sink'>,
): string | undefined {
  if (typeof item.consumer === 'string') return item.consumer;
  if (item.source === 'capture' && config?.sink === 'operational') return config.consumer;
  return undefined;
}

/** Whether an item matches a (validated) filter; `config` attributes capture letters parked without a consumer. */
export function matches(
  item: Record<string, unknown>,
  f: DeadLetterFilter,
  config?: Pick<PipelineConfig, 'consumer' | 'sink'>,
): boolean {
  if (f.status !== undefined && item.status !== f.status) return false;
  if (f.category !== undefined && item.category !== f.category) return false;
  if (f.source !== undefined && item.source !== f.source) return false;
  if (f.consumer !== undefined && letterConsumer(item, config) !== f.consumer) return false;
  if (f.since !== undefined && !(String(item.parkedAt ?? '') >= new Date(f.since).toISOString()))
    return false;
  if (f.table !== undefined && !sameTable(tableOf(item), f.table)) return false;
  return true;
}

/** `users` matches `users` and `public.users`; `public.users` matches those two, not `other.users`. */
function sameTable(table: string | undefined, wanted: string): boolean {
  if (table === undefined) return false;
  if (table === wanted) return true;
  const bare = (t: string) => t.slice(t.lastIndexOf('.') + 1);
  if (!wanted.includes('.')) return bare(table) === wanted;
  return !table.includes('.') && bare(wanted) === table;
}

function summaryOf(
  item: Record<string, unknown>,
  config?: Pick<PipelineConfig, 'consumer' | 'sink'>,
): DeadLetterSummary {
  const str = (k: string) => (typeof item[k] === 'string' ? { [k]: item[k] as string } : {});
  const num = (k: string) => (typeof item[k] === 'number' ? { [k]: item[k] as number } : {});
  const audit = auditOf(item);
  const table = tableOf(item);
  const consumer = letterConsumer(item, config);
  return {
    pk: String(item.pk),
    source: item.source === 'capture' ? 'capture' : 'shard',
    status: (DEAD_LETTER_STATUSES as readonly unknown[]).includes(item.status)
      ? (item.status as DeadLetterStatus)
      : 'PARKED',
    category: String(item.category ?? ''),
    reason: String(item.reason ?? ''),
    ...(table !== undefined ? { table } : {}),
    parkedAt: String(item.parkedAt ?? ''),
    attempts: Number(item.attempts ?? 0),
    ...(item.appliedNotPublished === true ? { appliedNotPublished: true as const } : {}),
    ...num('rawBytes'),
    ...num('ttl'),
    ...(consumer !== undefined ? { consumer } : {}),
    ...str('stream'),
    ...str('shardId'),
    ...str('sequenceNumber'),
    ...str('partitionKey'),
    ...str('slot'),
    ...str('lsn'),
    ...num('index'),
    ...str('op'),
    ...str('lastRedriveError'),
    ...(audit.length ? { lastAction: audit[audit.length - 1] } : {}),
  } as DeadLetterSummary;
}

const withoutUndefined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Cursors are opaque to callers: the DynamoDB key to resume after, base64url JSON. */
const encodeCursor = (key: Record<string, unknown>) => Buffer.from(JSON.stringify(key)).toString('base64url');

function decodeCursor(cursor: string): { pk: string } {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof key === 'object' && key !== null && typeof (key as { pk?: unknown }).pk === 'string')
      return { pk: (key as { pk: string }).pk };
  } catch {
    // reported below
  }
  throw new Error(`invalid cursor: ${cursor.slice(0, 40)} (pass back the cursor a listing returned)`);
}
