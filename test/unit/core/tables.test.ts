import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  REDACTION_POLICY_VERSION,
  REDACTIONS,
  TABLES,
  TableConfigSchema,
  TRANSFORMATIONS,
  tableConfig,
} from '../../../domain/core/tables';
import { ConfigurationError } from '../../../domain/core/errors';

const BRIEF_TABLES = [
  'users',
  'orders',
  'products',
  'sessions',
  'transactions',
  'inventory',
  'customers',
  'shipments',
  'returns',
  'reviews',
  'audit_logs',
  'configurations',
  'reservations',
  'order_items',
];

/** Columns per table of infra/schema.sql (the system of record). */
function schemaColumns(): Map<string, Set<string>> {
  const sql = readFileSync(path.join(__dirname, '../../../infra/schema.sql'), 'utf8');
  const out = new Map<string, Set<string>>();
  for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*?)\n\);/g)) {
    const cols = new Set<string>();
    for (const line of m[2]!.split('\n')) {
      const first = /^\s*([a-z_][a-z0-9_]*)\s/.exec(line)?.[1];
      if (first && !['primary', 'constraint', 'unique', 'check', 'foreign'].includes(first)) cols.add(first);
    }
    out.set(m[1]!, cols);
  }
  return out;
}

describe('table configuration', () => {
  it('configures every table of the brief', () => {
    for (const t of BRIEF_TABLES) assert.ok(TABLES.has(t), `missing table ${t}`);
    for (const t of BRIEF_TABLES) assert.equal(tableConfig(t).table, t);
  });

  it('indexes each config by its own table name', () => {
    for (const [name, cfg] of TABLES) assert.equal(cfg.table, name);
  });

  it('keys inventory by sku + warehouse_id', () => {
    assert.deepEqual(tableConfig('inventory').primaryKey, ['sku', 'warehouse_id']);
    assert.equal(tableConfig('inventory').entity, 'inventory');
  });

  it('uses the expected primary keys and entity names', () => {
    const expected: Record<string, [string[], string]> = {
      users: [['user_id'], 'user'],
      orders: [['order_id'], 'order'],
      products: [['sku'], 'product'],
      sessions: [['session_id'], 'session'],
      transactions: [['transaction_id'], 'transaction'],
      customers: [['customer_id'], 'customer'],
      shipments: [['shipment_id'], 'shipment'],
      returns: [['return_id'], 'return'],
      reviews: [['review_id'], 'review'],
      audit_logs: [['log_id'], 'audit_log'],
      configurations: [['config_key'], 'configuration'],
      reservations: [['reservation_id'], 'reservation'],
      order_items: [['order_id', 'line_no'], 'order_item'],
    };
    for (const [table, [pk, entity]] of Object.entries(expected)) {
      assert.deepEqual(tableConfig(table).primaryKey, pk, table);
      assert.equal(tableConfig(table).entity, entity, table);
    }
  });

  it('only uses the transformation and redaction kinds of the contract', () => {
    for (const cfg of TABLES.values()) {
      for (const k of Object.values(cfg.transformations))
        assert.ok((TRANSFORMATIONS as readonly string[]).includes(k));
      for (const k of Object.values(cfg.redactions)) assert.ok((REDACTIONS as readonly string[]).includes(k));
      assert.ok(cfg.operations.length > 0);
    }
    assert.deepEqual([...TRANSFORMATIONS].sort(), ['DECIMAL', 'ISO_DATE', 'LOWERCASE', 'UPPERCASE']);
    assert.deepEqual([...REDACTIONS].sort(), ['FULL_MASK', 'HASH', 'PARTIAL_MASK', 'REMOVE', 'TOKENIZE']);
  });

  it('redacts the PII columns of users and customers', () => {
    assert.deepEqual(tableConfig('users').redactions, {
      email: 'HASH',
      phone: 'PARTIAL_MASK',
      ssn: 'REMOVE',
      full_name: 'TOKENIZE',
      date_of_birth: 'FULL_MASK',
    });
    assert.deepEqual(tableConfig('customers').redactions, {
      email: 'HASH',
      phone: 'PARTIAL_MASK',
      name: 'TOKENIZE',
      address: 'FULL_MASK',
      tax_id: 'REMOVE',
    });
    assert.equal(tableConfig('configurations').redactions.secret_value, 'REMOVE');
    assert.equal(tableConfig('transactions').redactions.card_number, 'PARTIAL_MASK');
  });

  it('has a policy version', () => {
    assert.equal(typeof REDACTION_POLICY_VERSION, 'string');
    assert.ok(REDACTION_POLICY_VERSION.length > 0);
  });

  it('audit_logs is append-only (c and r) without a full before image; others have all operations', () => {
    assert.deepEqual(tableConfig('audit_logs').operations, ['c', 'r']);
    assert.equal(tableConfig('audit_logs').fullBeforeImage, false);
    assert.deepEqual([...tableConfig('inventory').operations].sort(), ['c', 'd', 'r', 'u']);
    assert.equal(tableConfig('inventory').fullBeforeImage, true);
  });

  it('names only columns that exist in infra/schema.sql', () => {
    const schema = schemaColumns();
    assert.ok(
      schema.get('users')?.has('ssn') && schema.get('inventory')?.has('warehouse_id'),
      'schema.sql parsed',
    );
    for (const cfg of TABLES.values()) {
      const cols = schema.get(cfg.table);
      assert.ok(cols, `table ${cfg.table} missing from schema.sql`);
      const named = [...cfg.primaryKey, ...Object.keys(cfg.transformations), ...Object.keys(cfg.redactions)];
      for (const c of named) assert.ok(cols.has(c), `${cfg.table}.${c} is not a column in schema.sql`);
    }
  });

  it('throws a ConfigurationError naming the table for an unknown table', () => {
    assert.throws(
      () => tableConfig('no_such_table'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigurationError);
        assert.equal(e.name, 'ConfigurationError');
        assert.match(e.message, /'no_such_table' is not configured/);
        assert.match(e.message, /inventory/); // lists the known tables
        return true;
      },
    );
  });

  describe('TableConfigSchema', () => {
    const valid = { table: 't1', entity: 'thing', primaryKey: ['id'], operations: ['c'] };

    it('fills defaults', () => {
      const cfg = TableConfigSchema.parse(valid);
      assert.deepEqual(cfg.transformations, {});
      assert.deepEqual(cfg.redactions, {});
      assert.equal(cfg.fullBeforeImage, true);
    });

    it('refuses any transformation of a primary-key column: it would change identity', () => {
      const r = TableConfigSchema.safeParse({ ...valid, transformations: { id: 'UPPERCASE' } });
      assert.equal(r.success, false);
      assert.match(JSON.stringify(r.error?.issues), /primary-key column id cannot be transformed/);
    });

    it('refuses a redaction of a primary-key column other than REMOVE (from the images)', () => {
      for (const kind of ['HASH', 'PARTIAL_MASK', 'FULL_MASK', 'TOKENIZE']) {
        const r = TableConfigSchema.safeParse({ ...valid, redactions: { id: kind } });
        assert.equal(r.success, false, kind);
        assert.match(JSON.stringify(r.error?.issues), /primary-key column id can only be REMOVEd/);
      }
      assert.equal(TableConfigSchema.safeParse({ ...valid, redactions: { id: 'REMOVE' } }).success, true);
    });

    it('no configured table transforms or redacts its key', () => {
      for (const cfg of TABLES.values())
        for (const col of cfg.primaryKey) {
          assert.equal(cfg.transformations[col], undefined, `${cfg.table}.${col}`);
          assert.ok([undefined, 'REMOVE'].includes(cfg.redactions[col]), `${cfg.table}.${col}`);
        }
    });

    it('rejects unknown kinds, empty keys and operations, and bad identifiers', () => {
      for (const bad of [
        { ...valid, transformations: { x: 'TITLECASE' } },
        { ...valid, redactions: { x: 'ENCRYPT' } },
        { ...valid, primaryKey: [] },
        { ...valid, operations: [] },
        { ...valid, operations: ['x'] },
        { ...valid, table: 'Bad-Name' },
        { ...valid, primaryKey: ['Id'] },
      ]) {
        assert.equal(TableConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
      }
    });
  });
});
