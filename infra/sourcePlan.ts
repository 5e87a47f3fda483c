/**
 * What `cdc provision source` does to the user's database, decided without touching it: the
 * statements that bring the configured tables under CDC (REPLICA IDENTITY as the table file says,
 * the publication with exactly those tables and the heartbeat table, the heartbeat table itself,
 * the slot), only where what exists differs, and the grants a CDC role needs for them. It never
 * creates a database or a table of the user's, and never changes one the table file does not name.
 */

/** What the database holds now (read by infra/provisioning.ts). */
export interface SourceState {
  database: string;
  /** The role that connects (current_user). */
  user: string;
  schema: string;
  /** The table file's tables in the schema: replica identity now (`d` default, `f` full, `n` nothing, `i` index) and owner. */
  tables: { table: string; fullBeforeImage: boolean; replicaIdentity: string; owner: string }[];
  heartbeatExists: boolean;
  /** The publication's tables (`schema.table`), or undefined when it does not exist. */
  publicationTables: string[] | undefined;
  slotExists: boolean;
  /** RDS/Aurora: the `rds_replication` role exists (granting it replaces the REPLICATION attribute). */
  rds: boolean;
}

export interface SourcePlan {
  /** SQL in the order it runs; empty when everything is as it should be. */
  statements: string[];
  /** What the connecting role needs for them (SQL a database administrator runs once), with why. */
  grants: { sql: string; why: string }[];
}

const ident = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export function planSource(
  state: SourceState,
  names: { publication: string; slot: string; heartbeatTable: string },
): SourcePlan {
  const schema = ident(state.schema);
  const q = (table: string) => `${schema}.${ident(table)}`;
  const statements: string[] = [];
  if (!state.heartbeatExists)
    statements.push(
      `CREATE TABLE IF NOT EXISTS ${q(names.heartbeatTable)} (slot text PRIMARY KEY, beat_at timestamptz NOT NULL)`,
    );
  for (const t of state.tables) {
    const wanted = t.fullBeforeImage ? 'f' : 'd';
    if (t.replicaIdentity !== wanted)
      statements.push(`ALTER TABLE ${q(t.table)} REPLICA IDENTITY ${t.fullBeforeImage ? 'FULL' : 'DEFAULT'}`);
  }
  const published = [...state.tables.map((t) => t.table), names.heartbeatTable];
  const list = published.map(q).join(', ');
  const want = new Set(published.map((t) => `${state.schema}.${t}`));
  const pub = ident(names.publication);
  if (state.publicationTables === undefined) statements.push(`CREATE PUBLICATION ${pub} FOR TABLE ${list}`);
  else if (state.publicationTables.length !== want.size || state.publicationTables.some((t) => !want.has(t)))
    statements.push(`ALTER PUBLICATION ${pub} SET TABLE ${list}`);
  if (!state.slotExists)
    statements.push(`SELECT pg_create_logical_replication_slot(${literal(names.slot)}, 'pgoutput')`);

  const user = ident(state.user);
  const grants: SourcePlan['grants'] = [
    state.rds
      ? {
          sql: `GRANT rds_replication TO ${user}`,
          why: 'logical replication on RDS/Aurora (the slot, START_REPLICATION)',
        }
      : {
          sql: `ALTER ROLE ${user} WITH REPLICATION`,
          why: 'logical replication (the slot, START_REPLICATION)',
        },
    { sql: `GRANT CREATE ON DATABASE ${ident(state.database)} TO ${user}`, why: 'CREATE PUBLICATION' },
    {
      sql: `GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${user}`,
      why: `the heartbeat table ${names.heartbeatTable}`,
    },
    {
      sql: `GRANT SELECT ON ${state.tables.map((t) => q(t.table)).join(', ')} TO ${user}`,
      why: 'the schema check and backfills read the tables',
    },
  ];
  // Adding a table to a publication and setting its REPLICA IDENTITY need its ownership (PostgreSQL
  // has no grant for either): membership in the owning role gives it without transferring it.
  const owners = [...new Set(state.tables.map((t) => t.owner))].filter((o) => o !== state.user);
  for (const owner of owners)
    grants.push({
      sql: `GRANT ${ident(owner)} TO ${user}`,
      why: `owner of ${state.tables
        .filter((t) => t.owner === owner)
        .map((t) => t.table)
        .join(', ')}: a publication's tables and REPLICA IDENTITY need ownership`,
    });
  return { statements, grants };
}
