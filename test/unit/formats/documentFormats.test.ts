import assert from 'node:assert/strict';
import { decoded, flat, reasonOf, TS, TS_COMMIT, TS_LSN, versionOf } from './helpers';

describe('decodeChange', () => {
  describe('inventory-flat', () => {
    it('decodes INSERT', () => {
      const e = decoded({ op: 'INSERT', sku: 'A1', wh: 101, qty: 100, ts: TS }, 'inventory-flat');
      assert.deepEqual(e, {
        source: {
          db: 'unknown',
          schema: 'public',
          table: 'inventory',
          lsn: TS_LSN,
          commitTs: TS_COMMIT,
          index: 0,
          partial: true, // only the quantities it names
        },
        op: 'c',
        key: { sku: 'A1', warehouse_id: 101 },
        before: null,
        after: { sku: 'A1', warehouse_id: 101, on_hand: 100 },
      });
    });

    it('decodes UPDATE with reserved', () => {
      const e = decoded(
        { op: 'UPDATE', sku: 'A1', wh: 101, qty: 90, reserved: 5, ts: '2026-01-02T03:04:05.123Z' },
        'inventory-flat',
      );
      assert.deepEqual(e, {
        source: {
          db: 'unknown',
          schema: 'public',
          table: 'inventory',
          lsn: '6475E/F64ED3B8',
          commitTs: TS_COMMIT,
          index: 0,
          partial: true, // only the quantities it names
        },
        op: 'u',
        key: { sku: 'A1', warehouse_id: 101 },
        before: null,
        after: { sku: 'A1', warehouse_id: 101, on_hand: 90, reserved: 5 },
      });
    });

    it('decodes DELETE: before holds the key columns only, no qty needed', () => {
      const e = decoded({ op: 'DELETE', sku: 'A1', wh: 101, ts: TS }, 'inventory-flat');
      assert.deepEqual(e, {
        source: {
          db: 'unknown',
          schema: 'public',
          table: 'inventory',
          lsn: TS_LSN,
          commitTs: TS_COMMIT,
          index: 0,
        },
        op: 'd',
        key: { sku: 'A1', warehouse_id: 101 },
        before: { sku: 'A1', warehouse_id: 101 },
        after: null,
      });
    });

    it('orders by ts', () => {
      const at = (ts: string) =>
        versionOf(decoded({ op: 'UPDATE', sku: 'A1', wh: 101, qty: 1, ts }, 'inventory-flat'));
      assert.ok(at('2026-01-02T03:04:05.123Z') < at('2026-01-02T03:04:05.124Z'));
      assert.ok(at('2026-01-02T23:59:59.999Z') < at('2026-01-03T00:00:00.000Z'));
      assert.ok(at('2026-12-31T23:59:59Z') < at('2100-01-01T00:00:00Z'));
    });

    describe('poison records', () => {
      it('flat with qty as string "abc", or missing', () => {
        assert.equal(
          reasonOf({ ...flat, qty: 'abc' }),
          'inventory-flat record: qty: Invalid input: expected number, received string',
        );
        assert.equal(
          reasonOf({ ...flat, qty: undefined }),
          'inventory-flat record: qty: required for INSERT',
        );
      });
    });
  });

  describe('table-image', () => {
    const user = { id: 'u-1', email: 'Ana@Example.com', phone: '+15550100' };
    const renamed = { ...user, email: 'ana@example.org' };
    const source = {
      db: 'unknown',
      schema: 'public',
      table: 'users',
      lsn: '6475E/F64ED3B8',
      commitTs: TS_COMMIT,
      index: 0,
    };
    const millis = 1767323045123;

    it('decodes INSERT (ISO timestamp)', () => {
      const e = decoded(
        {
          tableName: 'users',
          operation: 'INSERT',
          beforeImage: null,
          afterImage: user,
          timestamp: TS_COMMIT,
        },
        'table-image',
      );
      assert.deepEqual(e, { source, op: 'c', key: { id: 'u-1' }, before: null, after: user });
    });

    it('decodes UPDATE (epoch millis) to the same position as the ISO form', () => {
      const e = decoded(
        {
          tableName: 'users',
          operation: 'UPDATE',
          beforeImage: user,
          afterImage: renamed,
          timestamp: millis,
        },
        'table-image',
      );
      assert.deepEqual(e, { source, op: 'u', key: { id: 'u-1' }, before: user, after: renamed });
    });

    it('decodes DELETE, taking the key from the before image', () => {
      const e = decoded(
        {
          tableName: 'users',
          operation: 'DELETE',
          beforeImage: renamed,
          afterImage: null,
          timestamp: millis,
        },
        'table-image',
      );
      assert.deepEqual(e, { source, op: 'd', key: { id: 'u-1' }, before: renamed, after: null });
    });

    it('decodes SNAPSHOT as a snapshot read', () => {
      const e = decoded(
        { tableName: 'users', operation: 'SNAPSHOT', beforeImage: null, afterImage: user, timestamp: millis },
        'table-image',
      );
      assert.deepEqual(e, {
        source: { ...source, snapshot: true },
        op: 'r',
        key: { id: 'u-1' },
        before: null,
        after: user,
      });
    });

    it('accepts lower-case operations and schema-qualified table names', () => {
      const e = decoded(
        { tableName: 'sales.users', operation: 'insert', afterImage: user, timestamp: millis },
        'table-image',
      );
      assert.equal(e.op, 'c');
      assert.equal(e.source.schema, 'sales');
      assert.equal(e.source.table, 'users');
    });

    it('orders by timestamp', () => {
      const at = (timestamp: number | string) =>
        versionOf(
          decoded({ tableName: 'users', operation: 'UPDATE', afterImage: user, timestamp }, 'table-image'),
        );
      assert.ok(at(millis) < at(millis + 1));
      assert.ok(at(millis) < at('2026-01-02T03:04:05.123001Z'));
      assert.ok(at(999) < at(1000)); // numeric order, not string order
    });

    describe('poison records', () => {
      it('table-image for an unknown table', () => {
        // A configuration dead letter, not poison: unknownTable.test.ts.
        assert.match(
          reasonOf({ tableName: 'widgets', operation: 'INSERT', afterImage: { id: 1 }, timestamp: TS }),
          /^table-image record: table 'widgets' is not configured for CDC in /,
        );
      });

      it('table-image with inconsistent images', () => {
        assert.equal(
          reasonOf({ tableName: 'users', operation: 'DELETE', afterImage: { id: 'u' }, timestamp: TS }),
          'table-image record: afterImage: must be null for DELETE; beforeImage: required for DELETE',
        );
        assert.equal(
          reasonOf({ tableName: 'users', operation: 'UPDATE', beforeImage: { id: 'u' }, timestamp: TS }),
          'table-image record: afterImage: required for UPDATE',
        );
      });
    });
  });
});
