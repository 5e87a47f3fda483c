import assert from 'node:assert/strict';
import { Client } from 'pg';
import { loadConfig } from '../../infra/config';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';
import { provisionDemoSchema, provisionSource } from '../../infra/provisioning';
import { cdc } from '../support/cliRun';

/**
 * `cdc provision source` on the local stack's PostgreSQL, in a schema of its own: it brings the
 * configured tables under CDC and changes nothing else; the dry run changes nothing at all; a
 * configured table the database lacks is an error, never created (issue 22, item 2).
 */
describe('cdc provision source (the user’s database: publication, slot, replica identity, heartbeat)', function () {
  this.timeout(120_000);
  const run = Date.now().toString(36);
  const env = { CDC_PG_SCHEMA: `prov_${run}`, CDC_SLOT: `prov_${run}`, CDC_PUBLICATION: `prov_${run}` };
  const saved: Record<string, string | undefined> = {};
  let pg: Client;
  let config: ReturnType<typeof loadConfig>;

  before(async () => {
    await stackUp();
    applyLocalStackEnv();
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    config = loadConfig();
    // The "user's" tables: the demo schema, as an application would have made them.
    await provisionDemoSchema(config);
    pg = new Client();
    await pg.connect();
    await pg.query(`DROP TABLE ${env.CDC_PG_SCHEMA}.cdc_heartbeat`);
  });

  after(async () => {
    await pg
      ?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [
        env.CDC_SLOT,
      ])
      .catch(() => undefined);
    await pg?.query(`DROP PUBLICATION IF EXISTS ${env.CDC_PUBLICATION}`).catch(() => undefined);
    await pg?.query(`DROP SCHEMA IF EXISTS ${env.CDC_PG_SCHEMA} CASCADE`).catch(() => undefined);
    await pg?.end();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const state = async () => {
    const q = async (sql: string, args: unknown[]) => (await pg.query(sql, args)).rowCount ?? 0;
    return {
      publication: await q('SELECT 1 FROM pg_publication WHERE pubname = $1', [env.CDC_PUBLICATION]),
      slot: await q('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [env.CDC_SLOT]),
      heartbeat: await q(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'cdc_heartbeat'",
        [env.CDC_PG_SCHEMA],
      ),
      full: await q(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relreplident = 'f'",
        [env.CDC_PG_SCHEMA],
      ),
    };
  };

  it('--dry-run prints the SQL and the grants, and changes nothing', async () => {
    const before = await state();
    const r = await cdc('provision', 'source', '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^-- would run \(\d+\):/);
    assert.match(
      r.stdout,
      new RegExp(`CREATE PUBLICATION ${env.CDC_PUBLICATION} FOR TABLE .*${env.CDC_PG_SCHEMA}\\.inventory\\b`),
    );
    assert.match(r.stdout, /REPLICA IDENTITY FULL;/);
    assert.match(r.stdout, new RegExp(`pg_create_logical_replication_slot\\('${env.CDC_SLOT}'`));
    assert.match(r.stdout, /-- grants the connecting role needs/);
    assert.match(r.stdout, /ALTER ROLE \S+ WITH REPLICATION;/);
    assert.deepEqual(await state(), before, 'the dry run changed nothing');
    assert.deepEqual(before, { publication: 0, slot: 0, heartbeat: 0, full: 0 });
  });

  it('runs the plan once; run again, it has nothing left to do', async () => {
    const plan = await provisionSource(config);
    assert.ok(plan.statements.length >= 4, plan.statements.join('\n'));
    const after = await state();
    assert.equal(after.publication, 1);
    assert.equal(after.slot, 1);
    assert.equal(after.heartbeat, 1);
    assert.ok(after.full > 0, 'the tables with full before images');
    assert.deepEqual((await provisionSource(config, { dryRun: true })).statements, []);
  });

  it('a configured table the database lacks is a configuration error naming it; nothing creates it', async () => {
    await pg.query(`DROP TABLE ${env.CDC_PG_SCHEMA}.reviews`);
    await assert.rejects(provisionSource(config), (err: Error) => {
      assert.equal(err.name, 'ConfigurationError');
      assert.match(err.message, /reviews/);
      return true;
    });
    const left = await pg.query(
      "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'reviews'",
      [env.CDC_PG_SCHEMA],
    );
    assert.equal(left.rowCount, 0);
  });
});
