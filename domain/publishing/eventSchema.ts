import { z } from 'zod';
import { ALERT_ID_PATTERN } from './alerts';
import { EVENT_ID_PATTERN } from '../processing/eventId';
import { JsonValueSchema, LSN_PATTERN } from '../core/changeEvent';
import { lsnSortable } from '../core/lsn';
import { configuredTables, eventTypesOf } from '../core/tables';
import { parseVersion, VERSION_PATTERN } from '../processing/version';

/**
 * The contract of what leaves the pipeline on EventBridge: the Detail of a published change
 * (exactly as `toEventEntry` builds it) and the Detail of an alert (as `alertEntry` builds it).
 * Objects are strict: an unknown key is an error, so a field cannot leak out unnoticed.
 */
const LSN = LSN_PATTERN;
const OPERATION_OF = { INSERT: 'c', UPDATE: 'u', DELETE: 'd', SNAPSHOT: 'r' } as const;

export const FieldChangeSchema = z.strictObject({ old: JsonValueSchema, new: JsonValueSchema });

export const PublishedEventDetailSchema = z
  .strictObject({
    eventId: z.string().regex(EVENT_ID_PATTERN),
    eventType: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/),
    entityId: z.string().min(1),
    entityType: z.string().regex(/^[a-z][a-z_]*$/),
    operation: z.enum(['INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT']),
    timestamp: z.iso.datetime(),
    changes: z.record(z.string().min(1), FieldChangeSchema),
    metadata: z.strictObject({
      sourceTable: z.string().regex(/^[a-z_][a-z0-9_]*$/),
      sequenceNumber: z.string().regex(/^[0-9]+$/),
      sourcePosition: z.string().regex(LSN, 'must be an LSN like "0/16C4460"'),
      processedAt: z.iso.datetime(),
      version: z.string().regex(VERSION_PATTERN),
      redactionPolicy: z.string().min(1),
    }),
  })
  .superRefine((d, ctx) => {
    const issue = (message: string, path: PropertyKey[]) => ctx.addIssue({ code: 'custom', message, path });
    // Fields derived from one another must agree: the event type is the table file's name for the operation.
    const cfg = configuredTables().get(d.metadata.sourceTable);
    const op = OPERATION_OF[d.operation];
    if (cfg && op && !eventTypesOf(cfg, op).includes(d.eventType)) {
      issue(`eventType must be ${eventTypesOf(cfg, op).join(' or ')}`, ['eventType']);
    }
    // Refinements may run after a (continuable) format issue: only compare well-formed fields.
    const millis = Number(d.eventId.split('_')[1]);
    if (EVENT_ID_PATTERN.test(d.eventId) && millis !== Date.parse(d.timestamp)) {
      issue('eventId must carry the commit timestamp in milliseconds', ['eventId']);
    }
    // After the source epoch's prefix, if any (`e000001.`): the version's LSN part.
    const versionLsn = parseVersion(d.metadata.version)?.lsn ?? d.metadata.version.slice(0, 16);
    if (LSN.test(d.metadata.sourcePosition) && lsnSortable(d.metadata.sourcePosition) !== versionLsn) {
      issue('version must start with the source position (LSN)', ['metadata', 'version']);
    }
    for (const [col, ch] of Object.entries(d.changes)) {
      if ((d.operation === 'INSERT' || d.operation === 'SNAPSHOT') && ch.old !== null) {
        issue(`${d.operation} cannot have an old value`, ['changes', col, 'old']);
      }
      if (d.operation === 'DELETE' && ch.new !== null) {
        issue('DELETE cannot have a new value', ['changes', col, 'new']);
      }
    }
  });

export type PublishedEventDetail = z.infer<typeof PublishedEventDetailSchema>;

const KeyValue = z.union([z.string(), z.number()]);
const AlertBase = {
  alertId: z.string().regex(ALERT_ID_PATTERN),
  entityId: z.string().min(1),
  occurredAt: z.iso.datetime(),
};
const InventoryAlertBase = {
  ...AlertBase,
  sourceEventId: z.string().regex(EVENT_ID_PATTERN),
  version: z.string().regex(VERSION_PATTERN),
};

/** The Detail of an alert entry, per kind; details hold only inventory numbers and keys. */
export const AlertDetailSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...InventoryAlertBase,
    kind: z.literal('LOW_STOCK'),
    details: z.strictObject({
      sku: KeyValue,
      warehouseId: KeyValue,
      available: z.number(),
      threshold: z.number(),
      previousAvailable: z.number().nullable(),
      onHand: z.number(),
      reserved: z.number(),
      reason: z.string(),
    }),
  }),
  z.strictObject({
    ...InventoryAlertBase,
    kind: z.literal('STOCK_ANOMALY'),
    details: z.strictObject({
      sku: KeyValue,
      warehouseId: KeyValue,
      previousOnHand: z.number(),
      onHand: z.number(),
      drop: z.number().positive(),
      dropRatio: z.number().positive(),
      reason: z.string(),
    }),
  }),
  z.strictObject({
    ...AlertBase,
    kind: z.literal('DEAD_LETTER'),
    details: z.strictObject({
      stream: z.string().min(1),
      shardId: z.string().min(1),
      sequenceNumber: z.string().min(1),
      category: z.string().min(1),
      reason: z.string(),
    }),
  }),
  z.strictObject({
    ...AlertBase,
    kind: z.literal('REPLICATION_LAG'),
    details: z.strictObject({
      slot: z.string().min(1),
      lagBytes: z.number().nonnegative(),
      walRetainedBytes: z.number().nonnegative(),
      thresholdBytes: z.number().positive(),
      reason: z.string(),
    }),
  }),
  ...(['SHARD_LAG', 'RETENTION_GAP'] as const).map((kind) =>
    z.strictObject({
      ...AlertBase,
      kind: z.literal(kind),
      details: z.strictObject({
        stream: z.string().min(1),
        consumer: z.string().min(1),
        shardId: z.string().min(1),
        checkpoint: z.string().nullable(),
        lagMs: z.number().nonnegative(),
        retentionMs: z.number().positive(),
        reason: z.string(),
      }),
    }),
  ),
]);

export type AlertDetail = z.infer<typeof AlertDetailSchema>;

export type ValidationResult = { ok: true } | { ok: false; issues: string[] };

function validate(schema: z.ZodType, detail: unknown): ValidationResult {
  let value = detail;
  if (typeof detail === 'string') {
    try {
      value = JSON.parse(detail);
    } catch {
      return { ok: false, issues: ['Detail is not valid JSON'] };
    }
  }
  const r = schema.safeParse(value);
  if (r.success) return { ok: true };
  return {
    ok: false,
    issues: r.error.issues.map(
      (i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`,
    ),
  };
}

/** Validates a published change Detail (the object, or the JSON string of an entry's Detail). */
export function validatePublishedDetail(detail: unknown): ValidationResult {
  return validate(PublishedEventDetailSchema, detail);
}

/** Validates an alert Detail (the object, or the JSON string of an entry's Detail). */
export function validateAlertDetail(detail: unknown): ValidationResult {
  return validate(AlertDetailSchema, detail);
}
