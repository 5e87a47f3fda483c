import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTableFile, tableRegistry, type TableRegistry } from '../../../domain/core/tables';
import {
  enforceSchemaReport,
  formatSchemaReport,
  schemaCheckError,
  schemaProblems,
  type CatalogTable,
} from '../../../infra/schemaCheck';

const SOURCE = '/etc/cdc/tables.yaml';

function registry(tables: Record<string, unknown>, unruledPii: 'warn' | 'drop' = 'warn'): TableRegistry {
  return parseTableFile({ version: 1, unruledPii, tables }, SOURCE);
}

const table = (columns: string[], primaryKey: string[], kind = 'r'): CatalogTable => ({
  kind,
  columns,
  primaryKey,
});

function check(reg: TableRegistry, catalog: Record<string, CatalogTable>) {
  return schemaProblems(reg.tables, new Map(Object.entries(catalog)), {
    schema: 'public',
    source: reg.source,
    unruledPii: reg.unruledPii,
  });
}

const users = {
  entity: 'user',
  key: ['id'],
  operations: ['INSERT', 'UPDATE'],
  transformations: { created_at: 'ISO_DATE' },
  redactions: { email: 'PARTIAL_MASK', ssn: 'REMOVE' },
};

describe('schema check (pure comparison)', () => {
  it('a matching table has no problems', () => {
    const r = check(registry({ users }), {
      users: table(['id', 'email', 'ssn', 'created_at', 'status'], ['id']),
    });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(formatSchemaReport(r), []);
  });

  it('a missing table is an error that names the table file and how to fix it', () => {
    const r = check(registry({ users }), {});
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0].kind, 'missing-table');
    assert.match(r.errors[0].message, /^table users: public\.users does not exist/);
    assert.match(r.errors[0].message, /PRIMARY KEY \(id\)/);
    assert.ok(r.errors[0].message.includes(`remove tables.users from ${SOURCE}`));
    assert.deepEqual(r.warnings, [], 'a missing table has no column warnings');
  });

  it('a view is not a table', () => {
    const r = check(registry({ users }), { users: table(['id', 'email', 'ssn', 'created_at'], [], 'v') });
    assert.deepEqual(
      r.errors.map((e) => e.kind),
      ['not-a-table'],
    );
  });

  it('a table without a primary key is an error with the ALTER TABLE that fixes it', () => {
    const r = check(registry({ users }), { users: table(['id', 'email', 'ssn', 'created_at'], []) });
    assert.equal(r.errors[0].kind, 'no-primary-key');
    assert.match(r.errors[0].message, /public\.users has no primary key/);
    assert.match(r.errors[0].message, /ALTER TABLE public\.users ADD PRIMARY KEY \(id\)/);
  });

  it('a different primary key (an older table) is an error that says both keys and both fixes', () => {
    const r = check(registry({ users }), {
      users: table(['user_id', 'email', 'ssn', 'created_at'], ['user_id']),
    });
    assert.equal(r.errors.length, 1);
    const e = r.errors[0];
    assert.equal(e.kind, 'primary-key-mismatch');
    assert.deepEqual(e.columns, ['user_id']);
    assert.match(
      e.message,
      /the table file's key \[id\] is not the primary key of public\.users, which is \[user_id\]/,
    );
    assert.match(e.message, /public\.users has no column id/);
    assert.match(e.message, /drop it if provisioning creates it/);
    assert.ok(e.message.includes(`set tables.users.key to [user_id] in ${SOURCE}`));
  });

  it('compares composite keys regardless of order, but not subsets or supersets', () => {
    const inventory = { entity: 'inventory', key: ['sku', 'warehouse_id'], operations: ['UPDATE'] };
    const cols = ['sku', 'warehouse_id', 'on_hand'];
    assert.deepEqual(
      check(registry({ inventory }), { inventory: table(cols, ['warehouse_id', 'sku']) }).errors,
      [],
    );
    assert.match(
      check(registry({ inventory }), { inventory: table(cols, ['sku']) }).errors[0].message,
      /key \[sku, warehouse_id\] is not the primary key of public\.inventory, which is \[sku\]/,
    );
    assert.equal(
      check(registry({ inventory }), { inventory: table(cols, ['sku', 'warehouse_id', 'on_hand']) }).errors
        .length,
      1,
    );
  });

  it('a rule on a column the table does not have is a warning; a misspelt redaction says PII would be published', () => {
    const r = check(
      registry({
        users: {
          ...users,
          redactions: { emial: 'PARTIAL_MASK', ssn: 'REMOVE' },
          transformations: { created: 'ISO_DATE' },
        },
      }),
      { users: table(['id', 'email', 'ssn', 'created_at'], ['id']) },
    );
    assert.deepEqual(r.errors, []);
    const byCol = new Map(
      r.warnings.filter((w) => w.kind === 'unknown-rule-column').map((w) => [w.columns![0], w]),
    );
    assert.match(
      byCol.get('emial')!.message,
      /redactions\.emial names no column of public\.users \(did you mean email\?\)/,
    );
    assert.match(byCol.get('emial')!.message, /unredacted: its PII would be published/);
    assert.match(byCol.get('created')!.message, /transformations\.created names no column .*untransformed/);
    // The real email column is now unruled PII, too.
    const pii = r.warnings.find((w) => w.kind === 'unruled-pii')!;
    assert.deepEqual(pii.columns, ['email']);
  });

  it('unruled PII columns warn (published as is) or, with unruledPii: drop, say they are dropped', () => {
    const catalog = {
      users: table(['id', 'email', 'ssn', 'created_at', 'contact_email', 'home_phone'], ['id']),
    };
    const warn = check(registry({ users }), catalog);
    assert.equal(warn.warnings.length, 1);
    assert.deepEqual(warn.warnings[0].columns, ['contact_email', 'home_phone']);
    assert.match(
      warn.warnings[0].message,
      /columns contact_email, home_phone of public\.users look like PII/,
    );
    assert.match(warn.warnings[0].message, /published as is \(unruledPii: warn\)/);
    assert.ok(warn.warnings[0].message.includes(`tables.users.redactions in ${SOURCE}`));

    const drop = check(registry({ users }, 'drop'), catalog);
    assert.match(
      drop.warnings[0].message,
      /dropped from every published event, DynamoDB item and dead-letter summary/,
    );
    assert.match(drop.warnings[0].message, /fail closed/);
    assert.doesNotMatch(drop.warnings[0].message, /published as is/);
  });

  it('a PII-looking key column needs no rule', () => {
    const sessions = { entity: 'session', key: ['token'], operations: ['INSERT'] };
    assert.deepEqual(
      check(registry({ sessions }), { sessions: table(['token', 'user_id'], ['token']) }).warnings,
      [],
    );
  });

  it('formats one line per problem, errors first; the thrown error lists every error and names the file', () => {
    const r = check(
      registry({ users, orders: { entity: 'order', key: ['order_id'], operations: ['INSERT'] } }),
      {
        users: table(['user_id', 'email', 'ssn', 'created_at', 'contact_email'], ['user_id']),
      },
    );
    const lines = formatSchemaReport(r);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^error: table users: the table file's key/);
    assert.match(lines[1], /^error: table orders: public\.orders does not exist/);
    assert.match(lines[2], /^warning: table users: column contact_email/);
    const err = schemaCheckError(r);
    assert.equal(err.name, 'ConfigurationError');
    assert.match(
      err.message,
      new RegExp(`^the PostgreSQL schema public does not match the table file ${SOURCE} \\(2 errors\\):`),
    );
    assert.equal(err.message.split('\n').length, 3);

    const logged: string[] = [];
    assert.throws(() => enforceSchemaReport(r, (l) => logged.push(l)), /2 errors/);
    assert.deepEqual(logged, [lines[2]], 'warnings are logged before it throws');
  });

  it('the shipped table file against the shipped schema.sql (parsed) is clean', () => {
    // A rough parse of infra/schema.sql: enough for its plain CREATE TABLE statements.
    const sql = readFileSync(join(__dirname, '../../../infra/schema.sql'), 'utf8').replace(/--.*$/gm, '');
    const catalog = new Map<string, CatalogTable>();
    for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*?)\n\);/g)) {
      const lines = m[2]
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const columns = lines.filter((l) => !/^PRIMARY KEY/.test(l)).map((l) => l.split(/\s+/)[0]);
      const composite = lines.find((l) => /^PRIMARY KEY/.test(l));
      const primaryKey = composite
        ? /\(([^)]*)\)/
            .exec(composite)![1]
            .split(',')
            .map((c) => c.trim())
        : lines.filter((l) => /PRIMARY KEY/.test(l)).map((l) => l.split(/\s+/)[0]);
      catalog.set(m[1], table(columns, primaryKey));
    }
    const reg = tableRegistry();
    const r = schemaProblems(reg.tables, catalog, {
      schema: 'public',
      source: reg.source,
      unruledPii: reg.unruledPii,
    });
    assert.deepEqual(formatSchemaReport(r), []);
  });
});
