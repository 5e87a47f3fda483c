import assert from 'node:assert/strict';
import {
  chunkQuery,
  estimateQuery,
  existingKeysQuery,
  quoteIdent,
  type TableShape,
} from '../../../domain/backfill/sql';

const inventory: TableShape = {
  schema: 'public',
  table: 'inventory',
  keyColumns: ['sku', 'warehouse_id'],
  columns: ['sku', 'warehouse_id', 'on_hand', 'reserved', 'low_stock_threshold', 'updated_at'],
};
const products: TableShape = {
  schema: 'public',
  table: 'products',
  keyColumns: ['product_id'],
  columns: ['product_id', 'sku', 'name', 'category', 'price'],
};

describe('backfill SQL (keyset chunks, parameters only)', () => {
  it('reads the first chunk in key order, no OFFSET', () => {
    const q = chunkQuery(inventory, { limit: 1000 });
    assert.equal(
      q.text,
      'SELECT "sku", "warehouse_id", "on_hand", "reserved", "low_stock_threshold", "updated_at" FROM "public"."inventory" ORDER BY "sku", "warehouse_id" LIMIT 1000',
    );
    assert.deepEqual(q.values, []);
    assert.doesNotMatch(q.text, /OFFSET/i);
  });

  it('continues after the last key with a row comparison over the whole key', () => {
    const q = chunkQuery(inventory, { after: ['SKU-9', '3'], limit: 500 });
    assert.match(
      q.text,
      / WHERE \("sku", "warehouse_id"\) > \(\$1, \$2\) ORDER BY "sku", "warehouse_id" LIMIT 500$/,
    );
    assert.deepEqual(q.values, ['SKU-9', '3']);
    const one = chunkQuery(products, { after: ['p-1'], limit: 10 });
    assert.match(one.text, / WHERE "product_id" > \$1 ORDER BY "product_id" LIMIT 10$/);
  });

  it('puts every filter value in a parameter: key range on the first key column, equalities, IS NULL', () => {
    const evil = "x' OR '1'='1";
    const q = chunkQuery(inventory, {
      after: ['SKU-2', '1'],
      filter: {
        keyRange: { from: 'SKU-1', to: evil },
        equals: { warehouse_id: 3, low_stock_threshold: null },
      },
      limit: 100,
    });
    assert.equal(
      q.text,
      'SELECT "sku", "warehouse_id", "on_hand", "reserved", "low_stock_threshold", "updated_at" FROM "public"."inventory"' +
        ' WHERE ("sku", "warehouse_id") > ($4, $5) AND "sku" >= $1 AND "sku" < $2 AND "warehouse_id" = $3 AND "low_stock_threshold" IS NULL' +
        ' ORDER BY "sku", "warehouse_id" LIMIT 100',
    );
    assert.deepEqual(q.values, ['SKU-1', evil, 3, 'SKU-2', '1']);
    assert.ok(!q.text.includes(evil));
  });

  it('refuses a column the table does not have, and anything that is not a plain identifier', () => {
    assert.throws(
      () => chunkQuery(inventory, { filter: { equals: { colour: 'red' } }, limit: 1 }),
      /colour is not a column/,
    );
    assert.throws(() => quoteIdent('a"b'), /not a plain SQL identifier/);
    assert.throws(() => quoteIdent('Upper'), /not a plain SQL identifier/);
    assert.throws(
      () => chunkQuery({ ...inventory, table: 'inventory; drop table x' }, { limit: 1 }),
      /not a plain SQL identifier/,
    );
    assert.throws(
      () => chunkQuery({ ...inventory, keyColumns: ['sku', 'bin'] }, { limit: 1 }),
      /bin is not a column/,
    );
    assert.throws(() => chunkQuery(inventory, { after: ['only-one'], limit: 1 }), /cursor has 1 values/);
    assert.throws(() => chunkQuery(inventory, { limit: 0 }), /limit/);
  });

  it('looks a page of keys up in one statement', () => {
    const q = existingKeysQuery(inventory, [
      ['A', '1'],
      ['B', '2'],
    ]);
    assert.equal(
      q.text,
      'SELECT "sku", "warehouse_id" FROM "public"."inventory" WHERE ("sku", "warehouse_id") IN (($1, $2), ($3, $4))',
    );
    assert.deepEqual(q.values, ['A', '1', 'B', '2']);
    assert.match(existingKeysQuery(products, [['p']]).text, /WHERE "product_id" IN \(\$1\)$/);
  });

  it('estimates from reltuples without a filter, from the plan with one', () => {
    assert.match(estimateQuery(inventory, undefined).text, /reltuples/);
    assert.deepEqual(estimateQuery(inventory, undefined).values, ['"public"."inventory"']);
    const f = estimateQuery(inventory, { equals: { warehouse_id: 1 } });
    assert.match(
      f.text,
      /^EXPLAIN \(FORMAT JSON\) SELECT 1 FROM "public"."inventory" WHERE "warehouse_id" = \$1$/,
    );
  });
});
