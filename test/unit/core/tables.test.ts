import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  configuredTables,
  defaultLowStockThreshold,
  parseTableFile,
  suggestsPii,
  tableConfig,
  tableRegistry,
  unruledPiiColumns,
} from '../../../domain/core/tables';
import { ConfigurationError } from '../../../domain/core/errors';
import { DEFAULT_TABLES_FILE, loadTables } from '../../../infra/tablesFile';

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

const shipped = () => parseYaml(readFileSync(DEFAULT_TABLES_FILE, 'utf8')) as Record<string, unknown>;

/** A copy of the shipped file with one table's entry changed. */
function withTable(name: string, entry: unknown): unknown {
  const doc = shipped();
  (doc.tables as Record<string, unknown>)[name] = entry;
  return doc;
}

function refused(doc: unknown, pattern: RegExp): void {
  assert.throws(
    () => parseTableFile(doc, '/etc/cdc/tables.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigurationError, String(e));
      assert.match(e.message, /invalid table file \/etc\/cdc\/tables\.yaml/);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('table file: the design documents contract (config/tables.yaml)', () => {
  it('monitors the twelve tables of 003 with their keys and operations', () => {
    const expected: Record<string, [string[], string[]]> = {
      users: [['id'], ['c', 'u', 'd']],
      orders: [['order_id'], ['c', 'u']],
      products: [['product_id'], ['c', 'u', 'd']],
      sessions: [['session_id'], ['c', 'u', 'd']],
      transactions: [['txn_id'], ['c']],
      customers: [['customer_id'], ['c', 'u']],
      shipments: [['shipment_id'], ['c', 'u']],
      returns: [['return_id'], ['c', 'u']],
      reviews: [['review_id'], ['c', 'u', 'd']],
      audit_logs: [['log_id'], ['c']],
      configurations: [['config_key'], ['c', 'u', 'd']],
    };
    for (const [table, [key, ops]] of Object.entries(expected)) {
      assert.deepEqual(tableConfig(table).primaryKey, key, table);
      // Snapshot rows (a backfill) are always published.
      assert.deepEqual(tableConfig(table).operations, [...ops, 'r'], table);
    }
    // 003 keys inventory by sku (UPDATE only); the product keeps stock per SKU and warehouse.
    assert.deepEqual(tableConfig('inventory').primaryKey, ['sku', 'warehouse_id']);
  });

  it("has 002's further tables and the inventory domain", () => {
    for (const t of ['notifications', 'metrics', 'events', 'reservations', 'order_items'])
      assert.ok(configuredTables().has(t), t);
    assert.deepEqual(tableConfig('order_items').primaryKey, ['order_id', 'line_no']);
  });

  it("carries 003's rules for users and orders", () => {
    const users = tableConfig('users');
    assert.equal(users.redactions.ssn?.action, 'REMOVE');
    assert.equal(users.redactions.password_hash?.action, 'REMOVE');
    assert.equal(users.redactions.email?.action, 'PARTIAL_MASK');
    assert.equal(users.redactions.phone?.action, 'PARTIAL_MASK');
    assert.equal(users.transformations.created_at?.type, 'ISO_DATE');
    const orders = tableConfig('orders');
    assert.equal(orders.redactions.payment_details?.action, 'REMOVE');
    assert.equal(orders.redactions.shipping_address?.action, 'HASH');
    assert.equal(orders.transformations.total_amount?.type, 'DECIMAL');
    assert.equal(orders.transformations.order_date?.type, 'ISO_DATE');
  });

  it("names events as 003's event schema does", () => {
    assert.deepEqual(tableConfig('users').eventTypes, {
      c: 'user.created',
      u: 'user.updated',
      d: 'user.deleted',
      r: 'user.snapshot',
    });
    assert.equal(tableConfig('inventory').eventTypes.u, 'inventory.updated');
    assert.equal(tableConfig('transactions').eventTypes.c, 'transaction.created');
    assert.equal(tableConfig('products').eventTypes.d, 'product.deleted');
    assert.equal(tableConfig('orders').eventTypes.u, 'order.updated');
  });

  it('names only columns that exist in infra/schema.sql, and every configured table is there', () => {
    const schema = schemaColumns();
    for (const cfg of configuredTables().values()) {
      const cols = schema.get(cfg.table);
      assert.ok(cols, `table ${cfg.table} missing from schema.sql`);
      const named = [...cfg.primaryKey, ...Object.keys(cfg.transformations), ...Object.keys(cfg.redactions)];
      for (const c of named) assert.ok(cols.has(c), `${cfg.table}.${c} is not a column in schema.sql`);
      // No column of the shipped schema that looks like PII goes without a rule.
      assert.deepEqual(unruledPiiColumns(cfg, cols), [], cfg.table);
    }
  });

  it('throws a ConfigurationError naming the file and the known tables for an unknown table', () => {
    assert.throws(
      () => tableConfig('no_such_table'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigurationError);
        assert.match(e.message, /'no_such_table' is not configured for CDC in .*tables\.yaml/);
        assert.match(e.message, /inventory/);
        return true;
      },
    );
  });

  it('low stock defaults to below 10 units (004), per SKU and per table when configured', () => {
    assert.equal(defaultLowStockThreshold('inventory', 'SKU-1'), 10);
    const doc = shipped();
    doc.lowStock = { threshold: 10, perSku: { 'SKU-HOT': 50 } };
    const registry = parseTableFile(doc, 'x.yaml');
    assert.equal(registry.lowStock.perSku['SKU-HOT'], 50);
  });
});

describe('table file: validation', () => {
  const entry = { entity: 'widget', key: ['widget_id'], operations: ['INSERT'] };

  it('accepts a new table with only entity, key and operations, filling the defaults', () => {
    const r = parseTableFile(withTable('widgets', entry), 'x.yaml');
    const w = r.tables.get('widgets')!;
    assert.deepEqual(w.eventTypes, {
      c: 'widget.created',
      u: 'widget.updated',
      d: 'widget.deleted',
      r: 'widget.snapshot',
    });
    assert.deepEqual(w.redactions, {});
    assert.equal(w.fullBeforeImage, true);
    assert.equal(w.policyVersion, 'pii-policy-v2');
  });

  it('accepts rule options (mask character, visible characters, decimal scale)', () => {
    const r = parseTableFile(
      withTable('widgets', {
        ...entry,
        transformations: { price: { type: 'DECIMAL', scale: 3 } },
        redactions: { owner_email: { action: 'PARTIAL_MASK', maskChar: '#', visibleChars: 2 } },
      }),
      'x.yaml',
    );
    assert.deepEqual(r.tables.get('widgets')!.transformations.price, { type: 'DECIMAL', scale: 3 });
    assert.deepEqual(r.tables.get('widgets')!.redactions.owner_email, {
      action: 'PARTIAL_MASK',
      maskChar: '#',
      visibleChars: 2,
    });
  });

  it('column types for records that carry none (Debezium without schemas): the types it decodes', () => {
    const columnTypes = {
      price: 'numeric(12,2)',
      weight: 'numeric',
      made_on: 'date',
      seen_at: 'timestamp(3)',
      sold_at: 'timestamptz',
      opens: 'time',
      spec: 'jsonb',
    };
    const r = parseTableFile(withTable('widgets', { ...entry, columnTypes }), 'x.yaml');
    assert.deepEqual(r.tables.get('widgets')!.columnTypes, columnTypes);
    assert.equal(
      parseTableFile(withTable('widgets', entry), 'x.yaml').tables.get('widgets')!.columnTypes,
      undefined,
    );
    refused(
      withTable('widgets', { ...entry, columnTypes: { name: 'varchar(20)' } }),
      /table widgets, field columnTypes\.name: must be numeric\[\(p\[,s\]\)\]/,
    );
  });

  it('a missing key column: names the table and the field', () => {
    refused(withTable('widgets', { entity: 'widget', operations: ['INSERT'] }), /table widgets, field key/);
    refused(withTable('widgets', { ...entry, key: [] }), /table widgets, field key: needs at least one key/);
  });

  it('an unknown action or transformation: names the table and the field', () => {
    refused(
      withTable('widgets', { ...entry, redactions: { name: 'ENCRYPT' } }),
      /table widgets, field redactions\.name/,
    );
    refused(
      withTable('widgets', { ...entry, transformations: { name: 'TITLECASE' } }),
      /table widgets, field transformations\.name/,
    );
    refused(withTable('widgets', { ...entry, operations: ['UPSERT'] }), /table widgets, field operations/);
  });

  it('a transformation or a non-REMOVE redaction on a key column', () => {
    refused(
      withTable('widgets', { ...entry, transformations: { widget_id: 'UPPERCASE' } }),
      /table widgets, field transformations\.widget_id: key column widget_id cannot be transformed/,
    );
    refused(
      withTable('widgets', { ...entry, redactions: { widget_id: 'HASH' } }),
      /table widgets, field redactions\.widget_id: key column widget_id can only be REMOVEd/,
    );
  });

  it('unknown fields, options on the wrong rule, bad names and versions', () => {
    refused(withTable('widgets', { ...entry, primaryKey: ['x'] }), /table widgets.*primaryKey/);
    refused(
      withTable('widgets', { ...entry, redactions: { a: { action: 'HASH', visibleChars: 2 } } }),
      /table widgets, field redactions\.a: visibleChars\/visibleAt apply to PARTIAL_MASK only/,
    );
    refused(
      withTable('widgets', { ...entry, transformations: { a: { type: 'ISO_DATE', scale: 2 } } }),
      /scale applies to DECIMAL only/,
    );
    refused(withTable('Bad-Name', entry), /must be a lower-case SQL identifier|Invalid key in record/);
    refused({ ...shipped(), version: 2 }, /field version/);
    refused({ version: 1, tables: {} }, /lists no table/);
  });

  it('loadTables reads YAML or JSON from CDC_TABLES_FILE and names a missing file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tables-'));
    const json = path.join(dir, 'tables.json');
    writeFileSync(json, JSON.stringify(withTable('widgets', entry)));
    try {
      assert.ok(loadTables(json).tables.has('widgets'));
      assert.equal(tableRegistry().source, json);
      assert.throws(
        () => loadTables(path.join(dir, 'missing.yaml')),
        /cannot read the table file .*missing\.yaml/,
      );
      writeFileSync(json, 'tables: [');
      assert.throws(() => loadTables(json), /invalid table file .*not YAML\/JSON/);
    } finally {
      loadTables(DEFAULT_TABLES_FILE);
    }
  });

  it('tells which column names suggest PII', () => {
    for (const c of ['email', 'reviewer_email', 'phone', 'ssn', 'password_hash', 'card_number', 'tax_id'])
      assert.ok(suggestsPii(c), c);
    for (const c of ['secret_value', 'token', 'ip_address', 'date_of_birth', 'ip', 'mobile_phone'])
      assert.ok(suggestsPii(c), c);
    for (const c of ['shipped_at', 'description', 'zip', 'status', 'sku', 'recipe', 'tips'])
      assert.ok(!suggestsPii(c), c);
  });
});
