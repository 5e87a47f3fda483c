import assert from 'node:assert/strict';
import { debezium, decoded, omit, reasonOf, versionOf } from './helpers';

describe('decodeChange', () => {
  describe('Debezium envelope', () => {
    const source = {
      version: '2.7.0.Final',
      connector: 'postgresql',
      name: 'app',
      ts_ms: 1767323045123,
      snapshot: 'false',
      db: 'app',
      sequence: '["24023000","24023128"]',
      schema: 'public',
      table: 'inventory',
      txId: 771,
      lsn: 24023128,
      xmin: null,
    };
    const row1 = { sku: 'SKU-1', warehouse_id: 101, on_hand: 5, reserved: 1 };
    const row2 = { sku: 'SKU-1', warehouse_id: 101, on_hand: 4, reserved: 1 };
    const expectedSource = {
      db: 'app',
      schema: 'public',
      table: 'inventory',
      lsn: '0/16E9058',
      txId: 771,
      commitTs: '2026-01-02T03:04:05.123Z',
      index: 0,
    };

    it("decodes op 'c'", () => {
      const e = decoded({ before: null, after: row1, source, op: 'c', ts_ms: 1767323045200 }, 'debezium');
      assert.deepEqual(e, {
        source: expectedSource,
        op: 'c',
        key: { sku: 'SKU-1', warehouse_id: 101 },
        before: null,
        after: row1,
      });
    });

    it("decodes op 'u' with before and after images", () => {
      const e = decoded({ before: row1, after: row2, source, op: 'u', ts_ms: 1767323045200 }, 'debezium');
      assert.deepEqual(e, {
        source: expectedSource,
        op: 'u',
        key: { sku: 'SKU-1', warehouse_id: 101 },
        before: row1,
        after: row2,
      });
    });

    it("decodes op 'u' without a before image (REPLICA IDENTITY DEFAULT)", () => {
      const e = decoded({ before: null, after: row2, source, op: 'u' }, 'debezium');
      assert.equal(e.before, null);
      assert.deepEqual(e.key, { sku: 'SKU-1', warehouse_id: 101 });
    });

    it("decodes op 'd', taking the key from the before image", () => {
      const e = decoded({ before: row2, after: null, source, op: 'd', ts_ms: 1767323045200 }, 'debezium');
      assert.deepEqual(e, {
        source: expectedSource,
        op: 'd',
        key: { sku: 'SKU-1', warehouse_id: 101 },
        before: row2,
        after: null,
      });
    });

    it("decodes op 'r' as a snapshot row (no txId when Debezium sends null)", () => {
      const e = decoded(
        { before: null, after: row1, source: { ...source, snapshot: 'true', txId: null }, op: 'r' },
        'debezium',
      );
      const withoutTx = omit(expectedSource, 'txId');
      assert.deepEqual(e, {
        source: { ...withoutTx, snapshot: true },
        op: 'r',
        key: { sku: 'SKU-1', warehouse_id: 101 },
        before: null,
        after: row1,
      });
    });

    it("marks changes as snapshot when source.snapshot is 'last' or 'first', not when 'false'", () => {
      for (const snapshot of ['last', 'first', 'true', 'incremental']) {
        const e = decoded(
          { before: null, after: row1, source: { ...source, snapshot }, op: 'c' },
          'debezium',
        );
        assert.equal(e.source.snapshot, true, snapshot);
      }
      const e = decoded({ before: null, after: row1, source, op: 'c' }, 'debezium');
      assert.equal(e.source.snapshot, undefined);
    });

    it('unwraps the {schema, payload} wrapper (schemas.enable=true)', () => {
      const payload = { before: row1, after: row2, source, op: 'u', ts_ms: 1767323045200 };
      const wrapped = {
        schema: { type: 'struct', name: 'app.public.inventory.Envelope', optional: false, fields: [] },
        payload,
      };
      assert.deepEqual(decoded(wrapped, 'debezium'), decoded(payload, 'debezium'));
    });

    it("defaults db to 'unknown' and schema to 'public', and converts large LSNs", () => {
      const bare = omit(source, 'db', 'schema');
      const e = decoded({ after: row1, source: { ...bare, lsn: 33554432123 }, op: 'c' }, 'debezium');
      assert.equal(e.source.db, 'unknown');
      assert.equal(e.source.schema, 'public');
      assert.equal(e.source.lsn, '7/D000007B');
    });

    it('orders by LSN', () => {
      const a = decoded({ after: row1, source, op: 'c' }, 'debezium');
      const b = decoded({ after: row2, source: { ...source, lsn: source.lsn + 1 }, op: 'u' }, 'debezium');
      assert.ok(versionOf(a) < versionOf(b));
    });

    describe('poison records', () => {
      it("Debezium with op 'x'", () => {
        assert.equal(
          reasonOf({ ...debezium, op: 'x' }),
          'debezium envelope: op: Invalid option: expected one of "c"|"u"|"d"|"r"',
        );
      });

      it('Debezium with a string lsn, a tombstone payload, no key column, an unknown table', () => {
        assert.equal(
          reasonOf({ ...debezium, source: { ...debezium.source, lsn: '0/16' } }),
          'debezium envelope: source.lsn: Invalid input: expected number, received string',
        );
        assert.equal(
          reasonOf({ schema: null, payload: null }),
          'debezium envelope: payload is null (a tombstone, not a change)',
        );
        assert.equal(
          reasonOf({ ...debezium, after: { id: 1 } }),
          "debezium envelope: primary-key column 'order_id' missing from the after image",
        );
        // An unknown table is a configuration dead letter, not poison: unknownTable.test.ts.
        assert.match(
          reasonOf({ ...debezium, source: { ...debezium.source, table: 'widgets' } }),
          /^debezium envelope: table 'widgets' is not configured for CDC in /,
        );
        assert.equal(
          reasonOf({ ...debezium, op: 'd', before: { order_id: 1 } }),
          "debezium envelope: mapped change event is invalid: after: op 'd' must not have an after image",
        );
      });
    });
  });
});
