/**
 * The SQL of a backfill, built from checked identifiers and parameters only: no free SQL ever
 * reaches PostgreSQL. Identifiers must be lower-case SQL identifiers that the table has (the
 * activity passes the table's columns, read from information_schema, and the key columns of the
 * table file) and are quoted; every value is a parameter (`$n`).
 *
 * Chunks use keyset pagination (`WHERE (k1, k2) > ($1, $2) ORDER BY k1, k2 LIMIT n`), so each
 * chunk is an index range scan whatever its position; no OFFSET, no locks.
 */
import { ConfigurationError } from '../core/errors';
import type { BackfillFilter } from './request';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** `"name"`, after checking that it is a plain lower-case identifier. */
export function quoteIdent(name: string): string {
  if (!IDENTIFIER.test(name))
    throw new ConfigurationError(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

export interface TableShape {
  schema: string;
  table: string;
  /** Primary-key columns in key order (the table file's `key`). */
  keyColumns: readonly string[];
  /** Every column the table has (information_schema), in the order they are selected. */
  columns: readonly string[];
}

export interface SqlQuery {
  text: string;
  values: (string | number | boolean)[];
}

function checkShape(shape: TableShape): void {
  if (!shape.keyColumns.length) throw new ConfigurationError(`table ${shape.table} has no key columns`);
  const known = new Set(shape.columns);
  for (const k of shape.keyColumns)
    if (!known.has(k)) throw new ConfigurationError(`key column ${k} is not a column of ${shape.table}`);
}

const qualified = (shape: TableShape) => `${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}`;
/** `"k1"` or `("k1", "k2")`: the key as a value that compares in key order. */
const keyTuple = (cols: readonly string[]) =>
  cols.length === 1 ? quoteIdent(cols[0]) : `(${cols.map(quoteIdent).join(', ')})`;

/** The filter's conditions (key range on the first key column, column equalities), as parameters. */
export function filterConditions(
  shape: TableShape,
  filter: BackfillFilter | undefined,
  values: SqlQuery['values'],
): string[] {
  const where: string[] = [];
  const param = (v: string | number | boolean) => {
    values.push(v);
    return `$${values.length}`;
  };
  const first = quoteIdent(shape.keyColumns[0]);
  if (filter?.keyRange?.from !== undefined) where.push(`${first} >= ${param(filter.keyRange.from)}`);
  if (filter?.keyRange?.to !== undefined) where.push(`${first} < ${param(filter.keyRange.to)}`);
  const known = new Set(shape.columns);
  for (const [col, v] of Object.entries(filter?.equals ?? {})) {
    if (!known.has(col))
      throw new ConfigurationError(`filter column ${col} is not a column of ${shape.schema}.${shape.table}`);
    where.push(v === null ? `${quoteIdent(col)} IS NULL` : `${quoteIdent(col)} = ${param(v)}`);
  }
  return where;
}

/**
 * One chunk: the rows after `after` (the last key of the previous chunk, as text, in key order),
 * in key order, at most `limit`.
 */
export function chunkQuery(
  shape: TableShape,
  opts: { filter?: BackfillFilter | undefined; after?: readonly string[] | undefined; limit: number },
): SqlQuery {
  checkShape(shape);
  if (!Number.isInteger(opts.limit) || opts.limit < 1)
    throw new RangeError(`limit must be a positive integer`);
  const values: SqlQuery['values'] = [];
  const where = filterConditions(shape, opts.filter, values);
  if (opts.after) {
    if (opts.after.length !== shape.keyColumns.length)
      throw new ConfigurationError(
        `the cursor has ${opts.after.length} values, the key of ${shape.table} ${shape.keyColumns.length} columns`,
      );
    const params = opts.after.map((v) => {
      values.push(v);
      return `$${values.length}`;
    });
    where.unshift(
      `${keyTuple(shape.keyColumns)} > ${params.length === 1 ? params[0] : `(${params.join(', ')})`}`,
    );
  }
  const text =
    `SELECT ${shape.columns.map(quoteIdent).join(', ')} FROM ${qualified(shape)}` +
    (where.length ? ` WHERE ${where.join(' AND ')}` : '') +
    ` ORDER BY ${shape.keyColumns.map(quoteIdent).join(', ')} LIMIT ${opts.limit}`;
  return { text, values };
}

/** Which of `keys` (each the key values in key order) still exist: one statement for a page of keys. */
export function existingKeysQuery(shape: TableShape, keys: readonly (readonly string[])[]): SqlQuery {
  checkShape(shape);
  if (!keys.length) throw new RangeError('no keys to look up');
  const values: SqlQuery['values'] = [];
  const tuples = keys.map((k) => {
    if (k.length !== shape.keyColumns.length)
      throw new ConfigurationError(
        `a key has ${k.length} values, the key of ${shape.table} ${shape.keyColumns.length}`,
      );
    const params = k.map((v) => {
      values.push(v);
      return `$${values.length}`;
    });
    return params.length === 1 ? params[0] : `(${params.join(', ')})`;
  });
  const text =
    `SELECT ${shape.keyColumns.map(quoteIdent).join(', ')} FROM ${qualified(shape)}` +
    ` WHERE ${keyTuple(shape.keyColumns)} IN (${tuples.join(', ')})`;
  return { text, values };
}

/**
 * The planner's estimate of the rows a backfill reads: `pg_class.reltuples` for a whole table
 * (kept by VACUUM/ANALYZE; -1 when never analyzed), the plan's row estimate with a filter.
 */
export function estimateQuery(shape: TableShape, filter: BackfillFilter | undefined): SqlQuery {
  checkShape(shape);
  const values: SqlQuery['values'] = [];
  const where = filterConditions(shape, filter, values);
  if (!where.length)
    return {
      text: 'SELECT reltuples::float8 AS estimate FROM pg_class WHERE oid = to_regclass($1)',
      values: [qualified(shape)],
    };
  return {
    text: `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${qualified(shape)} WHERE ${where.join(' AND ')}`,
    values,
  };
}
