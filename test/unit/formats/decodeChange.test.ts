import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { decodeChange, type SourceFormat } from '../../../domain/formats/decodeChange';
import { sourceVersion } from '../../../domain/processing/version';

const ctx = { sequenceNumber: '49590338271490256608559692538361571095921575989136588898' };

function decoded(input: unknown, format: SourceFormat): ChangeEvent {
  const data = typeof input === 'string' ? input : JSON.stringify(input);
  const r = decodeChange(data, ctx);
  assert.ok(r.ok, `expected ${format} to decode, got: ${r.ok ? '' : r.reason}`);
  assert.equal(r.format, format);
  return r.event;
}

function reasonOf(input: unknown): string {
  const data = typeof input === 'string' ? input : JSON.stringify(input);
  const r = decodeChange(data, ctx);
  assert.equal(r.ok, false, `expected a poison record for ${data.slice(0, 200)}`);
  return r.ok ? '' : r.reason;
}

function omit<T extends object, K extends keyof T>(o: T, ...keys: K[]): Omit<T, K> {
  const copy: Partial<T> = { ...o };
  for (const k of keys) delete copy[k];
  return copy as Omit<T, K>;
}

const versionOf = (e: ChangeEvent) => sourceVersion(e.source.lsn, e.source.index);

// 2026-01-02T03:04:05.123456Z = 1767323045123456 µs since the epoch = 0x6475E_F64ED580
const TS = '2026-01-02T03:04:05.123456Z';
const TS_LSN = '6475E/F64ED580';
const TS_COMMIT = '2026-01-02T03:04:05.123Z';

describe('decodeChange', () => {
  describe('canonical', () => {
    const event: ChangeEvent = {
      source: {
        db: 'app',
        schema: 'public',
        table: 'inventory',
        lsn: '0/16C4460',
        txId: 741,
        commitTs: '2024-01-15T10:00:00.123Z',
        index: 3,
      },
      op: 'u',
      key: { sku: 'SKU-1', warehouse_id: 101 },
      before: { sku: 'SKU-1', warehouse_id: 101, on_hand: 5 },
      after: { sku: 'SKU-1', warehouse_id: 101, on_hand: 4 },
    };

    it('passes a canonical event through unchanged', () => {
      assert.deepEqual(decodeChange(JSON.stringify(event), ctx), { ok: true, event, format: 'canonical' });
    });

    it('reports canonical validation errors with the field path', () => {
      const reason = reasonOf({ ...event, source: { ...event.source, lsn: 'nope' } });
      assert.match(reason, /^canonical event: source\.lsn: LSN must look like/);
    });
  });

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
  });

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
  });

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
  });

  describe('table-image', () => {
    const user = { user_id: 'u-1', email: 'Ana@Example.com', phone: '+15550100' };
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
      assert.deepEqual(e, { source, op: 'c', key: { user_id: 'u-1' }, before: null, after: user });
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
      assert.deepEqual(e, { source, op: 'u', key: { user_id: 'u-1' }, before: user, after: renamed });
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
      assert.deepEqual(e, { source, op: 'd', key: { user_id: 'u-1' }, before: renamed, after: null });
    });

    it('decodes SNAPSHOT as a snapshot read', () => {
      const e = decoded(
        { tableName: 'users', operation: 'SNAPSHOT', beforeImage: null, afterImage: user, timestamp: millis },
        'table-image',
      );
      assert.deepEqual(e, {
        source: { ...source, snapshot: true },
        op: 'r',
        key: { user_id: 'u-1' },
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
  });

  describe('poison records', () => {
    const flat = { op: 'INSERT', sku: 'A1', wh: 101, qty: 100, ts: TS };
    const dms = {
      data: { order_id: 1 },
      metadata: {
        timestamp: TS,
        'record-type': 'data',
        operation: 'insert',
        'schema-name': 'public',
        'table-name': 'orders',
      },
    };
    const debezium = {
      before: null,
      after: { order_id: 1 },
      op: 'c',
      source: { db: 'app', schema: 'public', table: 'orders', lsn: 1, ts_ms: 1767323045123 },
    };

    it('non-JSON', () => {
      assert.match(reasonOf('{"op": INSERT'), /^not JSON: /);
      assert.match(reasonOf(''), /^not JSON: /);
    });

    it('empty object', () => {
      assert.equal(reasonOf({}), 'unrecognised record format: empty object');
    });

    it('arrays, null and scalars', () => {
      assert.equal(reasonOf([flat]), 'unrecognised record format: expected a JSON object, got array');
      assert.equal(reasonOf('null'), 'unrecognised record format: expected a JSON object, got null');
      assert.equal(reasonOf('42'), 'unrecognised record format: expected a JSON object, got number');
    });

    it('unknown shapes list their keys', () => {
      assert.equal(reasonOf({ foo: 1, bar: 2 }), 'unrecognised record format: has keys [foo, bar]');
      const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i]));
      assert.equal(
        reasonOf(many),
        'unrecognised record format: has keys [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, … (12 keys)]',
      );
    });

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
      assert.equal(
        reasonOf({ ...debezium, source: { ...debezium.source, table: 'widgets' } }),
        "debezium envelope: table 'widgets' is not configured; cannot determine its primary key",
      );
      assert.equal(
        reasonOf({ ...debezium, op: 'd', before: { order_id: 1 } }),
        "debezium envelope: mapped change event is invalid: after: op 'd' must not have an after image",
      );
    });

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

    it('flat with qty as string "abc", or missing', () => {
      assert.equal(
        reasonOf({ ...flat, qty: 'abc' }),
        'inventory-flat record: qty: Invalid input: expected number, received string',
      );
      assert.equal(reasonOf({ ...flat, qty: undefined }), 'inventory-flat record: qty: required for INSERT');
    });

    it('table-image for an unknown table', () => {
      assert.equal(
        reasonOf({ tableName: 'widgets', operation: 'INSERT', afterImage: { id: 1 }, timestamp: TS }),
        "table-image record: table 'widgets' is not configured; cannot determine its primary key",
      );
    });

    it('table-image with inconsistent images', () => {
      assert.equal(
        reasonOf({ tableName: 'users', operation: 'DELETE', afterImage: { user_id: 'u' }, timestamp: TS }),
        'table-image record: afterImage: must be null for DELETE; beforeImage: required for DELETE',
      );
      assert.equal(
        reasonOf({ tableName: 'users', operation: 'UPDATE', beforeImage: { user_id: 'u' }, timestamp: TS }),
        'table-image record: afterImage: required for UPDATE',
      );
    });

    it('unparsable or impossible timestamps', () => {
      assert.match(
        reasonOf({ ...flat, ts: 'yesterday' }),
        /^inventory-flat record: ts: cannot parse "yesterday" as an ISO-8601 timestamp/,
      );
      assert.match(
        reasonOf({ ...flat, ts: '2026-01-02T03:04:05' }),
        /^inventory-flat record: ts: cannot parse/,
      ); // no zone
      assert.equal(
        reasonOf({ ...flat, ts: '2026-02-30T00:00:00Z' }),
        'inventory-flat record: ts: "2026-02-30T00:00:00Z" is not a valid date and time',
      );
      assert.equal(
        reasonOf({ ...dms, metadata: { ...dms.metadata, timestamp: '1969-12-31T23:59:59Z' } }),
        'DMS record: metadata.timestamp: "1969-12-31T23:59:59Z" is before 1970-01-01T00:00:00Z',
      );
      assert.match(
        reasonOf({ tableName: 'users', operation: 'INSERT', afterImage: { user_id: 'u' }, timestamp: 1.5 }),
        /^table-image record: timestamp: epoch milliseconds must be an integer/,
      );
    });

    it('deeply nested JSON is a poison record, not a crash', () => {
      const depth = 5000;
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const data = JSON.stringify({ ...flat, op: 'DELETE' }).replace('"DELETE"', deep);
      assert.doesNotThrow(() => JSON.parse(data));
      const inputs = [
        data,
        JSON.stringify({
          tableName: 'users',
          operation: 'INSERT',
          afterImage: { user_id: 'u', x: 0 },
          timestamp: TS,
        }).replace('"x":0', `"x":${deep}`),
      ];
      for (const input of inputs) {
        let r: ReturnType<typeof decodeChange> | undefined;
        assert.doesNotThrow(() => {
          r = decodeChange(input, ctx);
        });
        assert.ok(r && !r.ok && r.reason.length > 0);
      }
    });

    it('never throws on arbitrary input', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string(),
            fc.json(),
            fc.jsonValue().map((v) => JSON.stringify({ ...flat, ts: v })),
            fc
              .jsonValue()
              .map((v) => JSON.stringify({ ...debezium, source: { ...debezium.source, lsn: v } })),
            fc.jsonValue().map((v) => JSON.stringify({ ...dms, metadata: v })),
            fc
              .jsonValue()
              .map((v) =>
                JSON.stringify({ tableName: 'users', operation: 'SNAPSHOT', afterImage: v, timestamp: v }),
              ),
          ),
          (s) => {
            const r = decodeChange(s, ctx);
            assert.equal(typeof r.ok, 'boolean');
            if (!r.ok) assert.ok(r.reason.length > 0);
          },
        ),
      );
    });
  });
});
