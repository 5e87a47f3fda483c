import assert from 'node:assert/strict';
import { planSource, type SourceState } from '../../../infra/sourcePlan';

/** `cdc provision source`: only what CDC needs, only where it differs; never a table of the user's. */
describe('source plan (cdc provision source)', () => {
  const names = { publication: 'cdc_pub', slot: 'cdc_slot', heartbeatTable: 'cdc_heartbeat' };
  const fresh: SourceState = {
    database: 'shop',
    user: 'cdc',
    schema: 'public',
    rds: false,
    tables: [
      { table: 'inventory', fullBeforeImage: true, replicaIdentity: 'd', owner: 'app' },
      { table: 'orders', fullBeforeImage: false, replicaIdentity: 'd', owner: 'app' },
    ],
    heartbeatExists: false,
    publicationTables: undefined,
    slotExists: false,
  };

  it('on a database never provisioned: heartbeat table, the replica identity that differs, publication, slot', () => {
    assert.deepEqual(planSource(fresh, names).statements, [
      'CREATE TABLE IF NOT EXISTS public.cdc_heartbeat (slot text PRIMARY KEY, beat_at timestamptz NOT NULL)',
      'ALTER TABLE public.inventory REPLICA IDENTITY FULL',
      'CREATE PUBLICATION cdc_pub FOR TABLE public.inventory, public.orders, public.cdc_heartbeat',
      "SELECT pg_create_logical_replication_slot('cdc_slot', 'pgoutput')",
    ]);
  });

  it('on a database already as configured: nothing', () => {
    const done: SourceState = {
      ...fresh,
      tables: fresh.tables.map((t) => ({ ...t, replicaIdentity: t.fullBeforeImage ? 'f' : 'd' })),
      heartbeatExists: true,
      publicationTables: ['public.cdc_heartbeat', 'public.orders', 'public.inventory'],
      slotExists: true,
    };
    assert.deepEqual(planSource(done, names).statements, []);
  });

  it('a publication with other tables is set to exactly the configured ones', () => {
    const plan = planSource(
      {
        ...fresh,
        heartbeatExists: true,
        slotExists: true,
        publicationTables: ['public.inventory', 'public.legacy'],
      },
      names,
    );
    assert.ok(
      plan.statements.includes(
        'ALTER PUBLICATION cdc_pub SET TABLE public.inventory, public.orders, public.cdc_heartbeat',
      ),
    );
    assert.ok(
      !plan.statements.some((s) => /CREATE (TABLE|DATABASE)/.test(s) && !s.includes('cdc_heartbeat')),
    );
  });

  it('grants: replication (rds_replication on RDS), CREATE on the database, SELECT, membership in the tables’ owner', () => {
    const grants = planSource(fresh, names).grants.map((g) => g.sql);
    assert.deepEqual(grants, [
      'ALTER ROLE cdc WITH REPLICATION',
      'GRANT CREATE ON DATABASE shop TO cdc',
      'GRANT USAGE, CREATE ON SCHEMA public TO cdc',
      'GRANT SELECT ON public.inventory, public.orders TO cdc',
      'GRANT app TO cdc',
    ]);
    assert.equal(planSource({ ...fresh, rds: true }, names).grants[0]!.sql, 'GRANT rds_replication TO cdc');
    // Owning the tables itself: no membership needed.
    assert.ok(!planSource({ ...fresh, user: 'app' }, names).grants.some((g) => g.sql === 'GRANT app TO app'));
  });

  it('quotes names that need it', () => {
    const plan = planSource({ ...fresh, schema: 'Shop Data' }, names);
    assert.match(plan.statements[0]!, /^CREATE TABLE IF NOT EXISTS "Shop Data"\.cdc_heartbeat/);
  });
});
