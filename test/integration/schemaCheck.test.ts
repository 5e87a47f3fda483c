import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { ConfigurationError } from '../../domain/core/errors';
import { parseTableFile, tableRegistry } from '../../domain/core/tables';
import { loadConfig } from '../../infra/config';
import { provisionPostgres } from '../../infra/provisioning';
import { checkSchema, checkSchemaAtStartup, formatSchemaReport } from '../../infra/schemaCheck';
import { applyLocalStackEnv, ROOT, stackUp } from '../../infra/localStack/localStack';
import { installTestRuntime } from '../support/testRuntime';

/**
 * The schema check against the local PostgreSQL, in scratch schemas of its own (another test or
 * an engineer may reset the shared tables meanwhile): a wrong key, a table without one, a rule
 * on a missing column, an unruled PII column, a missing table; and the shipped schema.sql against
 * the shipped table file.
 */
describe('schema check on PostgreSQL', function () {
  this.timeout(120_000);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const bad = `cdc_check_${id}`;
  const shipped = `cdc_check_${id}_shipped`;
  let pg: Client;

  const registry = parseTableFile(
    {
      version: 1,
      tables: {
        accounts: { entity: 'account', key: ['account_id'], operations: ['INSERT'] },
        contacts: {
          entity: 'contact',
          key: ['id'],
          operations: ['INSERT', 'UPDATE'],
          transformations: { created_at: 'ISO_DATE' },
          redactions: { email: 'PARTIAL_MASK', nickname: 'REMOVE' },
        },
        pairs: { entity: 'pair', key: ['b', 'a'], operations: ['INSERT'] },
        nokey: { entity: 'nokey', key: ['k'], operations: ['INSERT'] },
        ghosts: { entity: 'ghost', key: ['ghost_id'], operations: ['INSERT'] },
      },
    },
    '/tmp/check-tables.yaml',
  );

  before(async () => {
    installTestRuntime();
    await stackUp();
    applyLocalStackEnv();
    // The database may not exist yet on a fresh stack (provisioning creates it).
    const admin = new Client({ database: 'postgres' });
    await admin.connect();
    try {
      const db = process.env.PGDATABASE!;
      if (!(await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount)
        await admin.query(`CREATE DATABASE "${db}"`).catch(() => undefined);
    } finally {
      await admin.end();
    }
    pg = new Client();
    await pg.connect();
    await pg.query(`CREATE SCHEMA ${bad}`);
    await pg.query(`
      CREATE TABLE ${bad}.accounts (legacy_id text PRIMARY KEY, account_id text, balance numeric);
      CREATE TABLE ${bad}.contacts (id text PRIMARY KEY, email text, contact_email text, created_at timestamptz);
      CREATE TABLE ${bad}.pairs (a int, b int, PRIMARY KEY (a, b));
      CREATE TABLE ${bad}.nokey (k int, v text);
    `);
    await pg.query(`CREATE SCHEMA ${shipped}`);
    await pg.query(`SET search_path TO ${shipped}`);
    await pg.query(readFileSync(join(ROOT, 'infra/schema.sql'), 'utf8'));
    await pg.query('RESET search_path');
  });

  after(async () => {
    if (!pg) return;
    await pg.query(`DROP SCHEMA IF EXISTS ${bad} CASCADE`);
    await pg.query(`DROP SCHEMA IF EXISTS ${shipped} CASCADE`);
    await pg.end();
  });

  it('reports a wrong key, a missing key, a missing table, a rule on a missing column and unruled PII', async () => {
    const report = await checkSchema(pg, bad, registry.tables, 'warn', registry.source);
    assert.equal(report.schema, bad);
    assert.equal(report.source, '/tmp/check-tables.yaml');
    assert.deepEqual(
      report.errors.map((e) => [e.table, e.kind]),
      [
        ['accounts', 'primary-key-mismatch'],
        ['nokey', 'no-primary-key'],
        ['ghosts', 'missing-table'],
      ],
    );
    assert.match(
      report.errors[0].message,
      new RegExp(
        `key \\[account_id\\] is not the primary key of ${bad}\\.accounts, which is \\[legacy_id\\]`,
      ),
    );
    assert.match(
      report.errors[0].message,
      /set tables\.accounts\.key to \[legacy_id\] in \/tmp\/check-tables\.yaml/,
    );
    assert.match(report.errors[1].message, new RegExp(`ALTER TABLE ${bad}\\.nokey ADD PRIMARY KEY \\(k\\)`));
    assert.match(report.errors[2].message, new RegExp(`${bad}\\.ghosts does not exist`));

    assert.deepEqual(
      report.warnings.map((w) => [w.table, w.kind, w.columns]),
      [
        ['contacts', 'unknown-rule-column', ['nickname']],
        ['contacts', 'unruled-pii', ['contact_email']],
      ],
    );
    assert.match(report.warnings[0].message, /redactions\.nickname names no column .*PII would be published/);
    assert.match(report.warnings[1].message, /published as is/);
    assert.equal(formatSchemaReport(report).length, 5);

    const drop = await checkSchema(pg, bad, registry.tables, 'drop', registry.source);
    assert.match(drop.warnings[1].message, /dropped from every published event.*fail closed/);
  });

  it('the shipped infra/schema.sql matches the shipped table file: no errors, no warnings', async () => {
    const report = await checkSchema(pg, shipped);
    assert.equal(report.source, tableRegistry().source);
    assert.deepEqual(formatSchemaReport(report), []);
  });

  it('checkSchemaAtStartup logs nothing for the shipped schema and throws every error for a wrong one', async () => {
    const logged: string[] = [];
    const ok = await checkSchemaAtStartup({ pgSchema: shipped }, (l) => logged.push(l));
    assert.deepEqual(ok.errors, []);
    assert.equal(logged.length, 0);

    // The bad schema holds none of the shipped tables: one error per configured table.
    await assert.rejects(
      checkSchemaAtStartup({ pgSchema: bad }, (l) => logged.push(l)),
      (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.match(
          err.message,
          new RegExp(`schema ${bad} does not match the table file ${tableRegistry().source}`),
        );
        assert.equal(err.message.split('\n').length, 1 + tableRegistry().tables.size);
        assert.match(err.message, new RegExp(`error: table users: ${bad}\\.users does not exist`));
        return true;
      },
    );
  });

  it('provisioning creates the shipped tables in CDC_PG_SCHEMA, and fails on an older table before it touches the publication', async () => {
    // An older schema's users table (keyed by user_id): CREATE TABLE IF NOT EXISTS leaves it as is.
    const legacy = `cdc_check_${id}_legacy`;
    await pg.query(`CREATE SCHEMA ${legacy}`);
    try {
      await pg.query(`CREATE TABLE ${legacy}.users (user_id text PRIMARY KEY, email text, name text)`);
      const config = loadConfig({
        ...process.env,
        CDC_PG_SCHEMA: legacy,
        CDC_PUBLICATION: `cdc_check_${id}`,
      });
      await assert.rejects(provisionPostgres(config), (err: Error) => {
        assert.ok(err instanceof ConfigurationError);
        assert.match(
          err.message,
          new RegExp(`schema ${legacy} does not match the table file .* \\(1 error\\):`),
        );
        assert.match(
          err.message,
          new RegExp(
            `error: table users: the table file's key \\[id\\] is not the primary key of ${legacy}\\.users, which is \\[user_id\\]`,
          ),
        );
        return true;
      });
      const pub = await pg.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [config.publication]);
      assert.equal(pub.rowCount, 0);
      // Every other shipped table (and the heartbeat and released_holds tables) was created in that schema.
      const created = await pg.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1', [
        legacy,
      ]);
      assert.equal(created.rowCount, tableRegistry().tables.size + 2);
    } finally {
      await pg.query(`DROP SCHEMA IF EXISTS ${legacy} CASCADE`);
    }
  });
});
