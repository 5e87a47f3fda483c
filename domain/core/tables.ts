import { z } from 'zod';
import { ConfigurationError } from './errors';

/**
 * One typed, validated configuration for every monitored table: primary key, operations,
 * event type names, transformations and redaction rules with a policy version.
 */
export const TRANSFORMATIONS = ['ISO_DATE', 'DECIMAL', 'UPPERCASE', 'LOWERCASE'] as const;
export const REDACTIONS = ['REMOVE', 'HASH', 'PARTIAL_MASK', 'FULL_MASK', 'TOKENIZE'] as const;
export type Transformation = (typeof TRANSFORMATIONS)[number];
export type Redaction = (typeof REDACTIONS)[number];

const Identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier');

export const TableConfigSchema = z
  .object({
    table: Identifier,
    /** Entity name used in event types: `<entity>.created|updated|deleted`. */
    entity: z.string().regex(/^[a-z][a-z_]*$/),
    primaryKey: z.array(Identifier).min(1),
    operations: z.array(z.enum(['c', 'u', 'd', 'r'])).min(1),
    transformations: z.record(Identifier, z.enum(TRANSFORMATIONS)).default({}),
    redactions: z.record(Identifier, z.enum(REDACTIONS)).default({}),
    /** Tables whose before image is needed (REPLICA IDENTITY FULL): changes with old values, edge-triggered alerts. */
    fullBeforeImage: z.boolean().default(true),
  })
  .superRefine((t, ctx) => {
    // A row's identity is its raw key: a transformation on a key column would merge distinct
    // rows (UPPERCASE turns 'sku-1' and 'SKU-1' into one item). A key column may be removed from
    // the published images; to hide a key, hash it into a separate column instead.
    for (const col of t.primaryKey) {
      if (t.transformations[col] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['transformations', col],
          message: `primary-key column ${col} cannot be transformed (${t.transformations[col]}): it would change the row's identity`,
        });
      const redaction = t.redactions[col];
      if (redaction !== undefined && redaction !== 'REMOVE')
        ctx.addIssue({
          code: 'custom',
          path: ['redactions', col],
          message: `primary-key column ${col} can only be REMOVEd from images, not ${redaction}: the key identifies the row`,
        });
    }
  });

export type TableConfig = z.infer<typeof TableConfigSchema>;

export const REDACTION_POLICY_VERSION = 'pii-policy-v1';

const ALL_OPS = ['c', 'u', 'd', 'r'] as const;
const t = (c: z.input<typeof TableConfigSchema>) => c;

const RAW_TABLES = [
  // Inventory domain
  t({
    table: 'inventory',
    entity: 'inventory',
    primaryKey: ['sku', 'warehouse_id'],
    operations: [...ALL_OPS],
    transformations: { updated_at: 'ISO_DATE' },
  }),
  t({
    table: 'reservations',
    entity: 'reservation',
    primaryKey: ['reservation_id'],
    operations: [...ALL_OPS],
    transformations: {
      sku: 'UPPERCASE',
      expires_at: 'ISO_DATE',
      created_at: 'ISO_DATE',
      updated_at: 'ISO_DATE',
    },
  }),
  t({
    table: 'products',
    entity: 'product',
    primaryKey: ['sku'],
    operations: [...ALL_OPS],
    transformations: { price: 'DECIMAL', created_at: 'ISO_DATE', updated_at: 'ISO_DATE' },
  }),
  t({
    table: 'order_items',
    entity: 'order_item',
    primaryKey: ['order_id', 'line_no'],
    operations: [...ALL_OPS],
    transformations: { sku: 'UPPERCASE', unit_price: 'DECIMAL' },
  }),
  // The monitored tables of the design documents
  t({
    table: 'users',
    entity: 'user',
    primaryKey: ['user_id'],
    operations: [...ALL_OPS],
    transformations: { email: 'LOWERCASE', created_at: 'ISO_DATE', updated_at: 'ISO_DATE' },
    redactions: {
      email: 'HASH',
      phone: 'PARTIAL_MASK',
      ssn: 'REMOVE',
      full_name: 'TOKENIZE',
      date_of_birth: 'FULL_MASK',
    },
  }),
  t({
    table: 'orders',
    entity: 'order',
    primaryKey: ['order_id'],
    operations: [...ALL_OPS],
    transformations: {
      status: 'UPPERCASE',
      total_amount: 'DECIMAL',
      currency: 'UPPERCASE',
      created_at: 'ISO_DATE',
      updated_at: 'ISO_DATE',
    },
    redactions: { shipping_address: 'FULL_MASK' },
  }),
  t({
    table: 'sessions',
    entity: 'session',
    primaryKey: ['session_id'],
    operations: [...ALL_OPS],
    transformations: { expires_at: 'ISO_DATE', created_at: 'ISO_DATE' },
    redactions: { ip_address: 'HASH', user_agent: 'REMOVE' },
  }),
  t({
    table: 'transactions',
    entity: 'transaction',
    primaryKey: ['transaction_id'],
    operations: [...ALL_OPS],
    transformations: {
      amount: 'DECIMAL',
      currency: 'UPPERCASE',
      status: 'UPPERCASE',
      created_at: 'ISO_DATE',
    },
    redactions: { card_number: 'PARTIAL_MASK' },
  }),
  t({
    table: 'customers',
    entity: 'customer',
    primaryKey: ['customer_id'],
    operations: [...ALL_OPS],
    transformations: { email: 'LOWERCASE', created_at: 'ISO_DATE' },
    redactions: {
      email: 'HASH',
      phone: 'PARTIAL_MASK',
      name: 'TOKENIZE',
      address: 'FULL_MASK',
      tax_id: 'REMOVE',
    },
  }),
  t({
    table: 'shipments',
    entity: 'shipment',
    primaryKey: ['shipment_id'],
    operations: [...ALL_OPS],
    transformations: { carrier: 'UPPERCASE', status: 'UPPERCASE', shipped_at: 'ISO_DATE' },
    redactions: { address: 'FULL_MASK' },
  }),
  t({
    table: 'returns',
    entity: 'return',
    primaryKey: ['return_id'],
    operations: [...ALL_OPS],
    transformations: { status: 'UPPERCASE', refund_amount: 'DECIMAL', created_at: 'ISO_DATE' },
  }),
  t({
    table: 'reviews',
    entity: 'review',
    primaryKey: ['review_id'],
    operations: [...ALL_OPS],
    transformations: { product_sku: 'UPPERCASE', created_at: 'ISO_DATE' },
    redactions: { reviewer_email: 'HASH' },
  }),
  t({
    table: 'audit_logs',
    entity: 'audit_log',
    primaryKey: ['log_id'],
    operations: ['c', 'r'],
    transformations: { created_at: 'ISO_DATE' },
    redactions: { ip_address: 'HASH' },
    fullBeforeImage: false,
  }),
  t({
    table: 'configurations',
    entity: 'configuration',
    primaryKey: ['config_key'],
    operations: [...ALL_OPS],
    transformations: { updated_at: 'ISO_DATE' },
    redactions: { secret_value: 'REMOVE' },
  }),
];

function buildRegistry(raw: unknown[]): ReadonlyMap<string, TableConfig> {
  const tables = z.array(TableConfigSchema).parse(raw);
  const map = new Map<string, TableConfig>();
  for (const cfg of tables) {
    if (map.has(cfg.table)) throw new ConfigurationError(`table ${cfg.table} is configured twice`);
    map.set(cfg.table, cfg);
  }
  return map;
}

export const TABLES: ReadonlyMap<string, TableConfig> = buildRegistry(RAW_TABLES);

export function tableConfig(table: string): TableConfig {
  const cfg = TABLES.get(table);
  if (!cfg)
    throw new ConfigurationError(
      `table '${table}' is not configured for CDC (known: ${[...TABLES.keys()].join(', ')})`,
    );
  return cfg;
}
