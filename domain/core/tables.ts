import { z } from 'zod';
import type { ChangeOp } from './changeEvent';
import { ConfigurationError } from './errors';

/**
 * The monitored tables, as the table file (config/tables.yaml, or CDC_TABLES_FILE) describes
 * them: key columns, operations to publish, event type names, transformations, redaction rules
 * and policy version. Pure: `parseTableFile` validates an already-read document and
 * infra/tablesFile.ts reads the file and installs the result (`useTables`).
 */
export const TRANSFORMATIONS = ['ISO_DATE', 'DECIMAL', 'UPPERCASE', 'LOWERCASE'] as const;
export const REDACTIONS = ['REMOVE', 'HASH', 'PARTIAL_MASK', 'FULL_MASK', 'TOKENIZE'] as const;
export type Transformation = (typeof TRANSFORMATIONS)[number];
export type Redaction = (typeof REDACTIONS)[number];
export const OPERATIONS = ['INSERT', 'UPDATE', 'DELETE'] as const;
export type Operation = (typeof OPERATIONS)[number];
const OP_OF: Record<Operation | 'SNAPSHOT', ChangeOp> = {
  INSERT: 'c',
  UPDATE: 'u',
  DELETE: 'd',
  SNAPSHOT: 'r',
};
const SUFFIX: Record<ChangeOp, string> = { c: 'created', u: 'updated', d: 'deleted', r: 'snapshot' };

const Identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier');
const EventTypeName = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'must look like "entity.action", e.g. user.created');

const TransformationRuleSchema = z.union([
  z.enum(TRANSFORMATIONS).transform((type): TransformationRule => ({ type })),
  z.strictObject({
    type: z.enum(TRANSFORMATIONS),
    /** DECIMAL only: digits after the point (default 2), rounded half away from zero. */
    scale: z.number().int().min(0).max(18).optional(),
  }),
]);
export type TransformationRule = { type: Transformation; scale?: number | undefined };

const RedactionRuleSchema = z.union([
  z.enum(REDACTIONS).transform((action): RedactionRule => ({ action })),
  z.strictObject({
    action: z.enum(REDACTIONS),
    /** PARTIAL_MASK and FULL_MASK: the character that replaces hidden ones (default `*`). */
    maskChar: z.string().length(1).optional(),
    /** PARTIAL_MASK: characters left visible (default: 1 of an e-mail's local part, else the last 4). */
    visibleChars: z.number().int().min(0).max(64).optional(),
    /** PARTIAL_MASK: which end stays visible for values that are not e-mail addresses (default end). */
    visibleAt: z.enum(['start', 'end']).optional(),
  }),
]);
export type RedactionRule = {
  action: Redaction;
  maskChar?: string | undefined;
  visibleChars?: number | undefined;
  visibleAt?: 'start' | 'end' | undefined;
};

/** The column types `columnTypes` takes: those whose Debezium encoding needs decoding. */
export const COLUMN_TYPE =
  /^(?:(?:numeric|decimal)(?:\(\d{1,4}(?:, ?-?\d{1,4})?\))?|(?:timestamp|timestamptz|time)(?:\([0-6]\))?|date|json|jsonb)$/;
const COLUMN_TYPE_MESSAGE =
  'must be numeric[(p[,s])], decimal[(p[,s])], date, timestamp[(p)], timestamptz[(p)], time[(p)], json or jsonb';

const TableEntrySchema = z.strictObject({
  /** Entity name used in event types (`<entity>.created`) and entityType. */
  entity: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be a lower-case name'),
  key: z.array(Identifier).min(1, 'needs at least one key column'),
  /** Operations whose changes are published; the others still keep the current-state store true. */
  operations: z.array(z.enum(OPERATIONS)).min(1),
  eventTypes: z.partialRecord(z.enum([...OPERATIONS, 'SNAPSHOT']), EventTypeName).default({}),
  transformations: z.record(Identifier, TransformationRuleSchema).default({}),
  redactions: z.record(Identifier, RedactionRuleSchema).default({}),
  policyVersion: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('pii-policy-v2'),
  /** REPLICA IDENTITY FULL: old values in update/delete changes (edge-triggered alerts, changes.old). */
  replicaIdentityFull: z.boolean().default(true),
  /** Inventory tables: low-stock threshold for rows that carry none (overrides the file's). */
  lowStockThreshold: z.number().int().min(0).optional(),
  /**
   * PostgreSQL types of columns, for records that carry none: Debezium with `schemas.enable=false`
   * (domain/formats/connectSchema.ts decodes its default encodings by them). pgoutput needs none.
   */
  columnTypes: z.record(Identifier, z.string().regex(COLUMN_TYPE, COLUMN_TYPE_MESSAGE)).optional(),
  /**
   * An UPDATE that moves `column` into one of these values is published under that event type
   * instead of the UPDATE's (reservations: HELD → EXPIRED is `reservation.expired`).
   */
  statusEvents: z
    .strictObject({
      column: Identifier,
      types: z.record(z.string().min(1), EventTypeName),
    })
    .optional(),
});

const SkuThresholds = z.record(z.string().min(1), z.number().int().min(0));

export const TableFileSchema = z.strictObject({
  version: z.literal(1),
  unruledPii: z.enum(['warn', 'drop']).default('warn'),
  lowStock: z
    .strictObject({ threshold: z.number().int().min(0).default(10), perSku: SkuThresholds.default({}) })
    .default({ threshold: 10, perSku: {} }),
  tables: z.record(Identifier, TableEntrySchema).refine((t) => Object.keys(t).length > 0, 'lists no table'),
});

export interface TableConfig {
  table: string;
  entity: string;
  primaryKey: string[];
  /** Operations whose changes are published (snapshot rows, `r`, always are). */
  operations: ChangeOp[];
  eventTypes: Record<ChangeOp, string>;
  transformations: Record<string, TransformationRule>;
  redactions: Record<string, RedactionRule>;
  policyVersion: string;
  fullBeforeImage: boolean;
  lowStockThreshold?: number;
  /** PostgreSQL column types, for records that carry none (Debezium without schemas). */
  columnTypes?: Readonly<Record<string, string>>;
  /** Event types of UPDATEs that move `column` into a value (reservation.expired). */
  statusEvents?: { column: string; types: Readonly<Record<string, string>> };
}

export interface TableRegistry {
  /** Where the configuration came from (a file path), for messages. */
  source: string;
  tables: ReadonlyMap<string, TableConfig>;
  unruledPii: 'warn' | 'drop';
  lowStock: { threshold: number; perSku: Readonly<Record<string, number>> };
}

/** Problems of one table entry that the schema alone cannot see; each with its field path. */
function entryProblems(t: z.infer<typeof TableEntrySchema>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const dup = t.key.find((c, i) => t.key.indexOf(c) !== i);
  if (dup) problems.push({ path: 'key', message: `column ${dup} is listed twice` });
  // A row's identity is its raw key: a transformation would merge distinct rows ('sku-1' and
  // 'SKU-1' under UPPERCASE), a redaction other than REMOVE would make the key unusable.
  for (const col of t.key) {
    const tr = t.transformations[col];
    if (tr)
      problems.push({
        path: `transformations.${col}`,
        message: `key column ${col} cannot be transformed (${tr.type}): it would change the row's identity`,
      });
    const rd = t.redactions[col];
    if (rd && rd.action !== 'REMOVE')
      problems.push({
        path: `redactions.${col}`,
        message: `key column ${col} can only be REMOVEd from images, not ${rd.action}: the key identifies the row`,
      });
  }
  for (const [col, tr] of Object.entries(t.transformations))
    if (tr.scale !== undefined && tr.type !== 'DECIMAL')
      problems.push({ path: `transformations.${col}.scale`, message: 'scale applies to DECIMAL only' });
  for (const [col, rd] of Object.entries(t.redactions)) {
    if ((rd.visibleChars !== undefined || rd.visibleAt !== undefined) && rd.action !== 'PARTIAL_MASK')
      problems.push({
        path: `redactions.${col}`,
        message: 'visibleChars/visibleAt apply to PARTIAL_MASK only',
      });
  }
  return problems;
}

function entryConfig(name: string, t: z.infer<typeof TableEntrySchema>): TableConfig {
  const published = new Set<ChangeOp>([...t.operations.map((o) => OP_OF[o]), 'r']);
  const eventType = (op: Operation | 'SNAPSHOT') => t.eventTypes[op] ?? `${t.entity}.${SUFFIX[OP_OF[op]]}`;
  return {
    table: name,
    entity: t.entity,
    primaryKey: t.key,
    operations: (['c', 'u', 'd', 'r'] as const).filter((o) => published.has(o)),
    eventTypes: {
      c: eventType('INSERT'),
      u: eventType('UPDATE'),
      d: eventType('DELETE'),
      r: eventType('SNAPSHOT'),
    },
    transformations: t.transformations,
    redactions: t.redactions,
    policyVersion: t.policyVersion,
    fullBeforeImage: t.replicaIdentityFull,
    ...(t.lowStockThreshold !== undefined ? { lowStockThreshold: t.lowStockThreshold } : {}),
    ...(t.statusEvents ? { statusEvents: t.statusEvents } : {}),
    ...(t.columnTypes ? { columnTypes: t.columnTypes } : {}),
  };
}

/**
 * The event type of a change: the operation's, except for an UPDATE that moves the table's status
 * column into a value with an event type of its own. Without a before image (no REPLICA IDENTITY
 * FULL) every UPDATE of a row in that status carries it.
 */
export function eventTypeOf(
  cfg: TableConfig,
  op: ChangeOp,
  before: Readonly<Record<string, unknown>> | null,
  after: Readonly<Record<string, unknown>> | null,
): string {
  const status = cfg.statusEvents;
  if (op !== 'u' || !status || !after) return cfg.eventTypes[op];
  const value = after[status.column];
  if (typeof value !== 'string' || !Object.hasOwn(status.types, value)) return cfg.eventTypes[op];
  if (before && before[status.column] === value) return cfg.eventTypes[op];
  return status.types[value]!;
}

/** Every event type an operation of the table may be published under. */
export function eventTypesOf(cfg: TableConfig, op: ChangeOp): string[] {
  return op === 'u' && cfg.statusEvents
    ? [cfg.eventTypes.u, ...Object.values(cfg.statusEvents.types)]
    : [cfg.eventTypes[op]];
}

/** `tables.users.key` → `table users, field key`: what a user finds in the file. */
function describePath(path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  if (parts[0] === 'tables' && parts.length >= 2) {
    const field = parts.slice(2).join('.');
    return `table ${parts[1]}${field ? `, field ${field}` : ''}`;
  }
  return parts.length ? `field ${parts.join('.')}` : 'the file';
}

/**
 * Validates a parsed table file (YAML or JSON) into a registry; throws a ConfigurationError that
 * names the file, the table and the field of every problem.
 */
export function parseTableFile(doc: unknown, source: string): TableRegistry {
  const parsed = TableFileSchema.safeParse(doc);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${describePath(i.path)}: ${i.message}`);
  } else {
    for (const [name, t] of Object.entries(parsed.data.tables))
      for (const p of entryProblems(t)) problems.push(`table ${name}, field ${p.path}: ${p.message}`);
  }
  if (!parsed.success || problems.length)
    throw new ConfigurationError(`invalid table file ${source}: ${problems.join('; ')}`);
  const f = parsed.data;
  return {
    source,
    tables: new Map(Object.entries(f.tables).map(([name, t]) => [name, entryConfig(name, t)])),
    unruledPii: f.unruledPii,
    lowStock: f.lowStock,
  };
}

let active: TableRegistry | undefined;

/** Installs the table configuration every domain function reads (infra/tablesFile.ts does it at start-up). */
export function useTables(registry: TableRegistry): void {
  active = registry;
}

export function tableRegistry(): TableRegistry {
  if (!active)
    throw new ConfigurationError(
      'the table configuration is not loaded (infra/tablesFile.ts loadTables() runs at start-up)',
    );
  return active;
}

/** Every configured table by name. */
export function configuredTables(): ReadonlyMap<string, TableConfig> {
  return tableRegistry().tables;
}

export function tableConfig(table: string): TableConfig {
  const registry = tableRegistry();
  const cfg = registry.tables.get(table);
  if (!cfg)
    throw new ConfigurationError(
      `table '${table}' is not configured for CDC in ${registry.source} (known: ${[...registry.tables.keys()].join(', ')})`,
    );
  return cfg;
}

/** Low-stock threshold for a row of `table` that carries none: the table's, the SKU's, else the file's. */
export function defaultLowStockThreshold(table: string, sku: unknown): number {
  const registry = tableRegistry();
  if (typeof sku === 'string' && registry.lowStock.perSku[sku] !== undefined)
    return registry.lowStock.perSku[sku];
  return registry.tables.get(table)?.lowStockThreshold ?? registry.lowStock.threshold;
}

const PII_WORDS = new Set([
  'email',
  'phone',
  'ssn',
  'password',
  'card',
  'tax',
  'secret',
  'token',
  'address',
  'birth',
  'ip',
]);

/** Whether a column's name suggests PII (a word of it, split on `_`, is email, phone, ssn, …). */
export function suggestsPii(column: string): boolean {
  return column
    .toLowerCase()
    .split(/[_\s]+/)
    .some((w) => PII_WORDS.has(w) || /^(e?mail|phone|ssn|password|passwd)/.test(w));
}

/** Columns of a row whose name suggests PII and that the table has no redaction rule for. */
export function unruledPiiColumns(cfg: TableConfig, columns: Iterable<string>): string[] {
  return [...columns].filter((c) => suggestsPii(c) && !cfg.redactions[c] && !cfg.primaryKey.includes(c));
}
