import assert from 'node:assert/strict';
import { decoded, dms, omit, reasonOf, TS, TS_COMMIT, TS_LSN, versionOf } from './helpers';

describe('decodeChange', () => {
  describe('AWS DMS', () => {
    const metadata = {
      timestamp: TS,
      'record-type': 'data',
      operation: 'insert',
      'partition-key-type': 'schema-table',
      'schema-name': 'public',
      'table-name': 'orders',
      'transaction-id': 8796093085332,
    };
    const order = { order_id: 42, status: 'new', total_amount: '19.99', currency: 'usd' };
    const shipped = { ...order, status: 'shipped' };
    const baseSource = {
      db: 'unknown',
      schema: 'public',
      table: 'orders',
      lsn: TS_LSN,
      txId: 8796093085332,
      commitTs: TS_COMMIT,
      index: 0,
    };

    it('decodes load as a snapshot read', () => {
      const loadMeta = omit(metadata, 'transaction-id');
      const e = decoded({ data: order, metadata: { ...loadMeta, operation: 'load' } }, 'dms');
      const source = omit(baseSource, 'txId');
      assert.deepEqual(e, {
        source: { ...source, snapshot: true },
        op: 'r',
        key: { order_id: 42 },
        before: null,
        after: order,
      });
    });

    it('decodes insert', () => {
      assert.deepEqual(decoded({ data: order, metadata }, 'dms'), {
        source: baseSource,
        op: 'c',
        key: { order_id: 42 },
        before: null,
        after: order,
      });
    });

    it('decodes update with a before-image', () => {
      const e = decoded(
        { data: shipped, 'before-image': order, metadata: { ...metadata, operation: 'update' } },
        'dms',
      );
      assert.deepEqual(e, {
        source: baseSource,
        op: 'u',
        key: { order_id: 42 },
        before: order,
        after: shipped,
      });
    });

    it('decodes update without a before-image', () => {
      const e = decoded({ data: shipped, metadata: { ...metadata, operation: 'update' } }, 'dms');
      assert.deepEqual(e, {
        source: baseSource,
        op: 'u',
        key: { order_id: 42 },
        before: null,
        after: shipped,
      });
    });

    it('decodes delete: data holds the deleted row', () => {
      const e = decoded({ data: shipped, metadata: { ...metadata, operation: 'delete' } }, 'dms');
      assert.deepEqual(e, {
        source: baseSource,
        op: 'd',
        key: { order_id: 42 },
        before: shipped,
        after: null,
      });
    });

    it("defaults the schema to 'public' when schema-name is absent", () => {
      const noSchema = omit(metadata, 'schema-name');
      assert.equal(decoded({ data: order, metadata: noSchema }, 'dms').source.schema, 'public');
    });

    it('orders by source timestamp, to the microsecond', () => {
      const at = (timestamp: string) =>
        versionOf(decoded({ data: order, metadata: { ...metadata, timestamp } }, 'dms'));
      const times = [
        '2026-01-02T03:04:05.123456Z',
        '2026-01-02T03:04:05.123457Z',
        '2026-01-02T03:04:05.2Z',
        '2026-01-02T05:04:05.200001+02:00', // same instant as 03:04:05.200001Z
        '2026-01-02T03:04:06Z',
        '2027-01-01T00:00:00Z',
      ];
      const versions = times.map(at);
      for (let i = 1; i < versions.length; i++) assert.ok(versions[i - 1]! < versions[i]!, times[i]);
    });

    describe('poison records', () => {
      it('DMS control record', () => {
        const control = {
          control: { 'table-def': { columns: {} } },
          metadata: {
            timestamp: TS,
            'record-type': 'control',
            operation: 'create-table',
            'partition-key-type': 'task-id',
            'schema-name': 'public',
            'table-name': 'orders',
          },
        };
        assert.equal(
          reasonOf(control),
          "DMS record: DMS control record (operation 'create-table'), not a row change",
        );
      });

      it('DMS missing table-name, unknown operation', () => {
        const noTable = omit(dms.metadata, 'table-name');
        assert.equal(
          reasonOf({ ...dms, metadata: noTable }),
          'DMS record: metadata.table-name: Invalid input: expected string, received undefined',
        );
        assert.match(
          reasonOf({ ...dms, metadata: { ...dms.metadata, operation: 'upsert' } }),
          /^DMS record: metadata\.operation: Invalid option: expected one of "load"\|"insert"\|"update"\|"delete"$/,
        );
      });
    });
  });
});
