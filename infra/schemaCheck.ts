import type { Client } from 'pg';
import { ConfigurationError } from '../domain/core/errors';
import { configuredTables, tableRegistry, unruledPiiColumns, type TableConfig } from '../domain/core/tables';
import type { PipelineConfig } from './config';
import { pgClient } from './pgConnection';

/**
 * The schema check: compares the table file (config/tables.yaml or CDC_TABLES_FILE) with the
 * PostgreSQL catalog. Provisioning runs it (errors fail provisioning, warnings are printed) and
 * the worker runs it at start-up (`checkSchemaAtStartup`). docs/schema-check.md lists the messages.
 *
 * - errors: a configured table does not exist (or is not a table); its primary key is not exactly
 *   the configured key (order-insensitive), or it has none.
 * - warnings: a transformation or redaction names a column the table does not have (a typo would
 *   silently leave the real column untransformed or unredacted); a column whose name suggests PII
 *   has no redaction rule (with `unruledPii: drop` it is dropped from what the pipeline writes).
 *
 * REPLICA IDENTITY is not checked: provisioning sets it from the table file.
 */

/** What the check needs to know about one table of the catalog. */
export interface CatalogTable {
  /** `r` table, `p` partitioned table; anything else (`v` view, `m`, `f`, …) cannot be published. */
  kind: string;
  /** Column names in table order. */
  columns: string[];
  /** Primary key columns in key order; empty when the table has none. */
  primaryKey: string[];
}

/** The catalog of one schema: the tables the check asked for that exist, by name. */
export type Catalog = ReadonlyMap<string, CatalogTable>;

export type SchemaProblemKind =
  | 'missing-table'
  | 'not-a-table'
  | 'no-primary-key'
  | 'primary-key-mismatch'
  | 'unknown-rule-column'
  | 'unruled-pii';

export interface SchemaProblem {
  severity: 'error' | 'warning';
  kind: SchemaProblemKind;
  table: string;
  /** The columns concerned (rule column, unruled PII columns, the table's key), if any. */
  columns?: string[];
  /** One line: what is wrong, why it matters, how to fix it. */
  message: string;
}

export interface SchemaReport {
  /** The PostgreSQL schema checked. */
  schema: string;
  /** The table file the configuration came from. */
  source: string;
  errors: SchemaProblem[];
  warnings: SchemaProblem[];
}

export interface SchemaCheckOptions {
  schema: string;
  source: string;
  unruledPii: 'warn' | 'drop';
}

const list = (cols: readonly string[]) => `[${cols.join(', ')}]`;

/** Edit distance with transpositions (optimal string alignment), for "did you mean" on misspelt rule columns. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The table's column nearest to a misspelt name: one edit away, two for names longer than four characters. */
function closest(name: string, columns: readonly string[]): string | undefined {
  const limit = name.length > 4 ? 2 : 1;
  let best: { col: string; d: number } | undefined;
  for (const col of columns) {
    const d = distance(name, col);
    if (d <= limit && (!best || d < best.d)) best = { col, d };
  }
  return best?.col;
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((c) => b.includes(c));

/**
 * Compares the configured tables with a plain catalog description (pure; `readCatalog` reads one
 * from PostgreSQL). Problems come in the table file's table order; errors before warnings per table.
 */
export function schemaProblems(
  tables: ReadonlyMap<string, TableConfig>,
  catalog: Catalog,
  opts: SchemaCheckOptions,
): SchemaReport {
  const { schema, source } = opts;
  const errors: SchemaProblem[] = [];
  const warnings: SchemaProblem[] = [];
  for (const cfg of tables.values()) {
    const name = cfg.table;
    const qualified = `${schema}.${name}`;
    const found = catalog.get(name);
    if (!found) {
      errors.push({
        severity: 'error',
        kind: 'missing-table',
        table: name,
        message: `table ${name}: ${qualified} does not exist; create it with PRIMARY KEY (${cfg.primaryKey.join(', ')}) (infra/schema.sql creates the shipped tables; a table you add is created by its owner), or remove tables.${name} from ${source}`,
      });
      continue;
    }
    if (found.kind !== 'r' && found.kind !== 'p') {
      errors.push({
        severity: 'error',
        kind: 'not-a-table',
        table: name,
        message: `table ${name}: ${qualified} is not a table (relkind '${found.kind}'); only tables can be published for CDC: point tables.${name} in ${source} at the underlying table`,
      });
      continue;
    }
    if (found.primaryKey.length === 0) {
      errors.push({
        severity: 'error',
        kind: 'no-primary-key',
        table: name,
        columns: [],
        message: `table ${name}: ${qualified} has no primary key; CDC needs one to key partitions, DynamoDB items and event IDs (and PostgreSQL refuses updates and deletes on a published table without one): ALTER TABLE ${qualified} ADD PRIMARY KEY (${cfg.primaryKey.join(', ')})`,
      });
    } else if (!sameSet(found.primaryKey, cfg.primaryKey)) {
      const missing = cfg.primaryKey.filter((c) => !found.columns.includes(c));
      errors.push({
        severity: 'error',
        kind: 'primary-key-mismatch',
        table: name,
        columns: found.primaryKey,
        message:
          `table ${name}: the table file's key ${list(cfg.primaryKey)} is not the primary key of ${qualified}, which is ${list(found.primaryKey)}` +
          (missing.length ? ` (${qualified} has no column ${missing.join(', ')})` : '') +
          `; CDC keys partitions, DynamoDB items and event IDs by it. Fix: migrate ${qualified} to PRIMARY KEY (${cfg.primaryKey.join(', ')}), or drop it if provisioning creates it (infra/schema.sql's CREATE TABLE IF NOT EXISTS never changes an existing, older table), or set tables.${name}.key to ${list(found.primaryKey)} in ${source}`,
      });
    }
    const columns = found.columns;
    const rules: [string, string, string][] = [
      ...Object.keys(cfg.redactions).map((c): [string, string, string] => [
        'redactions',
        c,
        'a misspelt redaction leaves the real column unredacted: its PII would be published',
      ]),
      ...Object.keys(cfg.transformations).map((c): [string, string, string] => [
        'transformations',
        c,
        'a misspelt transformation leaves the real column untransformed',
      ]),
    ];
    for (const [field, col, risk] of rules) {
      if (columns.includes(col)) continue;
      const guess = closest(col, columns);
      warnings.push({
        severity: 'warning',
        kind: 'unknown-rule-column',
        table: name,
        columns: [col],
        message: `table ${name}: ${field}.${col} names no column of ${qualified}${guess ? ` (did you mean ${guess}?)` : ''}; ${risk}. Fix the column name in ${source}, or remove the rule`,
      });
    }
    const unruled = unruledPiiColumns(cfg, columns);
    if (unruled.length)
      warnings.push({
        severity: 'warning',
        kind: 'unruled-pii',
        table: name,
        columns: unruled,
        message:
          `table ${name}: column${unruled.length > 1 ? 's' : ''} ${unruled.join(', ')} of ${qualified} look${unruled.length > 1 ? '' : 's'} like PII and ${unruled.length > 1 ? 'have' : 'has'} no redaction rule; ` +
          (opts.unruledPii === 'drop'
            ? `dropped from every published event, DynamoDB item and dead-letter summary (unruledPii: drop, fail closed). To publish ${unruled.length > 1 ? 'them' : 'it'}, add a rule under tables.${name}.redactions in ${source}`
            : `published as is (unruledPii: warn). Add a rule under tables.${name}.redactions in ${source}, or set unruledPii: drop there to drop such columns`),
      });
  }
  return { schema, source, errors, warnings };
}

/**
 * The catalog of `schema` for `tables`, in one query: kind, columns (table order) and primary
 * key (key order) of each table that exists.
 */
export async function readCatalog(pg: Client, schema: string, tables: readonly string[]): Promise<Catalog> {
  const r = await pg.query<{ name: string; kind: string; columns: string[]; primary_key: string[] }>(
    `SELECT c.relname::text AS name, c.relkind::text AS kind,
            ARRAY(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   ORDER BY a.attnum) AS columns,
            ARRAY(SELECT a.attname::text
                    FROM pg_index i
                    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                   WHERE i.indrelid = c.oid AND i.indisprimary
                   ORDER BY k.ord) AS primary_key
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
        AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
    [schema, [...tables]],
  );
  return new Map(
    r.rows.map((row) => [row.name, { kind: row.kind, columns: row.columns, primaryKey: row.primary_key }]),
  );
}

/** Reads the catalog of `schema` and compares it with the configured tables (by default the loaded table file). */
export async function checkSchema(
  pg: Client,
  schema: string,
  tables: ReadonlyMap<string, TableConfig> = configuredTables(),
  unruledPii: 'warn' | 'drop' = tableRegistry().unruledPii,
  source: string = tableRegistry().source,
): Promise<SchemaReport> {
  const catalog = await readCatalog(
    pg,
    schema,
    [...tables.values()].map((t) => t.table),
  );
  return schemaProblems(tables, catalog, { schema, source, unruledPii });
}

/** One line per problem: `error: table …` / `warning: table …`. */
export function formatSchemaReport(report: SchemaReport): string[] {
  return [...report.errors, ...report.warnings].map((p) => `${p.severity}: ${p.message}`);
}

/** The error provisioning and start-up throw when the report has errors: every problem, one per line. */
export function schemaCheckError(report: SchemaReport): ConfigurationError {
  const n = report.errors.length;
  return new ConfigurationError(
    `the PostgreSQL schema ${report.schema} does not match the table file ${report.source} (${n} error${n > 1 ? 's' : ''}):\n` +
      formatSchemaReport({ ...report, warnings: [] })
        .map((l) => `  ${l}`)
        .join('\n'),
  );
}

/**
 * Logs the report's warnings through `log` and throws a ConfigurationError listing every error
 * (warnings are logged first, so nothing is lost when it throws).
 */
export function enforceSchemaReport(report: SchemaReport, log: (line: string) => void): void {
  for (const line of formatSchemaReport({ ...report, errors: [] })) log(line);
  if (report.errors.length) throw schemaCheckError(report);
}

/**
 * The start-up check (the worker runs it): connects with the standard PG* variables (TLS and
 * credentials as infra/pgConnection.ts reads them), checks
 * `config.pgSchema` against the loaded table file, logs warnings, throws on errors, and closes
 * the connection either way.
 */
export async function checkSchemaAtStartup(
  config: Pick<PipelineConfig, 'pgSchema'>,
  log: (line: string) => void,
): Promise<SchemaReport> {
  const pg = pgClient();
  await pg.connect();
  try {
    const report = await checkSchema(pg, config.pgSchema);
    enforceSchemaReport(report, log);
    return report;
  } finally {
    await pg.end();
  }
}
