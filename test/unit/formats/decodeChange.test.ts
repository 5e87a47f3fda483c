import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { decodeChange } from '../../../domain/formats/decodeChange';
import { ctx, debezium, decoded, dms, flat, reasonOf, TS, versionOf } from './helpers';

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

    it('carries the source epoch; without one the epoch is 0 (the version form before epochs)', () => {
      const withEpoch = { ...event, source: { ...event.source, epoch: 2 } };
      const r = decodeChange(JSON.stringify(withEpoch), ctx);
      assert.ok(r.ok);
      assert.equal(r.event.source.epoch, 2);
      assert.equal(versionOf(r.event), 'e000002.00000000016C4460.0000000003');
      assert.equal(versionOf(event), '00000000016C4460.0000000003');
    });

    it('refuses an epoch that is not an integer from 0 to 999999', () => {
      for (const epoch of [-1, 1.5, 1_000_000, '1'])
        assert.match(
          reasonOf({ ...event, source: { ...event.source, epoch } }),
          /^canonical event: source\.epoch: /,
          String(epoch),
        );
    });
  });

  describe("formats without an epoch (Debezium, DMS, the documents' formats) are epoch 0", () => {
    for (const [format, record] of [
      ['debezium', debezium],
      ['dms', dms],
      ['inventory-flat', flat],
    ] as const)
      it(format, () => {
        const e = decoded(record, format);
        assert.equal(e.source.epoch, undefined);
        assert.doesNotMatch(versionOf(e), /^e/);
      });
  });

  describe('poison records', () => {
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
        reasonOf({ tableName: 'users', operation: 'INSERT', afterImage: { id: 'u' }, timestamp: 1.5 }),
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
          afterImage: { id: 'u', x: 0 },
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
