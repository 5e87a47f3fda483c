import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { changeRecords } from '../../../domain/analytics/changeRecords';
import { ANALYTICS_TABLES, APPLY_SQL, applyStatement, RECOMPUTE_SQL } from '../../../domain/analytics/sql';
import { inventoryChange } from '../activities/fakes';

const SCHEMA = readFileSync(join(__dirname, '../../../infra/analyticsSchema.sql'), 'utf8');

/** The columns of a CREATE TABLE in the schema file, in order. */
function schemaColumns(table: string): string[] {
  const body = new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\(([\\s\\S]*?)\\n\\);`).exec(SCHEMA)?.[1];
  assert.ok(body, `${table} is in infra/analyticsSchema.sql`);
  return body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('--') && !l.startsWith('PRIMARY KEY'))
    .map((l) => l.split(/\s+/)[0]!);
}

describe('analytics SQL', () => {
  it('a batch is one statement with one parameter, whatever its size', () => {
    const events = Array.from({ length: 500 }, (_, i) =>
      inventoryChange({ op: 'c', sku: `SKU-${i}`, lsn: 0x1000 + i * 0x40 }),
    );
    const { records } = changeRecords(events);
    const st = applyStatement(records);
    assert.equal(st.text, APPLY_SQL);
    assert.equal(st.values.length, 1);
    assert.deepEqual(JSON.parse(st.values[0]), JSON.parse(JSON.stringify(records)));
    assert.ok(!/\$2/.test(st.text), 'no per-row parameters');
  });

  it('is idempotent by event id, and the aggregates add up only the rows it inserted', () => {
    assert.match(APPLY_SQL, /ON CONFLICT \(event_id\) DO NOTHING\s+RETURNING event_id/);
    assert.match(APPLY_SQL, /fresh AS \([\s\S]*JOIN inserted n ON n\.event_id = i\.event_id/);
    for (const table of Object.values(ANALYTICS_TABLES).filter((t) => t !== ANALYTICS_TABLES.changes)) {
      const upsert = new RegExp(`INSERT INTO ${table} AS a[\\s\\S]*?FROM fresh WHERE`).exec(APPLY_SQL);
      assert.ok(upsert, `${table} is upserted from the inserted rows only`);
      assert.ok(!/FROM input/.test(upsert[0]), `${table} never reads the whole input`);
    }
  });

  it('takes locks in one order (event id; then each aggregate by its key), so concurrent batches do not deadlock', () => {
    assert.match(APPLY_SQL, /FROM input ORDER BY event_id/);
    const groupings = [...APPLY_SQL.matchAll(/GROUP BY ([^\n]+)\n\s+ORDER BY ([^\n]+)\n/g)];
    assert.equal(groupings.length, 4);
    for (const [, group, order] of groupings) assert.equal(order, group);
  });

  it('writes the change table’s columns as the schema file declares them', () => {
    const insert = /INSERT INTO cdc_changes \(([^)]*)\)/.exec(APPLY_SQL)?.[1];
    assert.ok(insert);
    assert.deepEqual(
      insert.split(',').map((c) => c.trim()),
      schemaColumns('cdc_changes'),
    );
  });

  it('recomputes each aggregate from the change table in the aggregate’s own columns', () => {
    for (const [table, sql] of Object.entries(RECOMPUTE_SQL)) {
      const declared = schemaColumns(table).filter((c) => c !== 'updated_at');
      const selected = [
        ...sql.matchAll(/(?:AS (\w+)|g\.(grain|bucket)|c\.(sku|warehouse_id))(?=,|\s*\n|\s*FROM)/g),
      ].map((m) => m[1] ?? m[2] ?? m[3]);
      assert.deepEqual(selected, declared, table);
    }
  });
});
