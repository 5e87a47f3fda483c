import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { Row } from '../../../domain/core/json';
import { decodeChange } from '../../../domain/formats/decodeChange';
import { encodeChangeEvent, partitionKey } from '../../../domain/capture/streamRecord';

/** The canonical format through the decoder the shard readers use. */
const decodeRecord = (data: string) => decodeChange(data, { sequenceNumber: '1' });

const valid: ChangeEvent = {
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
  before: { sku: 'SKU-1', warehouse_id: 101, on_hand: 5, meta: { tags: ['a', 'b'] } },
  after: { sku: 'SKU-1', warehouse_id: 101, on_hand: 4, meta: { tags: ['a', 'b'] } },
};

function reasonOf(data: string): string {
  const r = decodeRecord(data);
  assert.equal(r.ok, false, `expected a poison record for ${data.slice(0, 200)}`);
  return r.ok ? '' : r.reason;
}

function withSource(over: Record<string, unknown>): string {
  return JSON.stringify({ ...valid, source: { ...valid.source, ...over } });
}

describe('decoding the canonical format', () => {
  it('decodes a valid canonical event to the same event', () => {
    const r = decodeRecord(encodeChangeEvent(valid));
    assert.deepEqual(r, { ok: true, event: valid, format: 'canonical' });
  });

  it('accepts every op with the images it needs, snapshot rows and unchanged-TOAST lists', () => {
    const ok = (e: unknown) => assert.equal(decodeRecord(JSON.stringify(e)).ok, true, JSON.stringify(e));
    ok({ ...valid, op: 'c', before: null });
    ok({ ...valid, op: 'd', after: null });
    ok({ ...valid, op: 'r', before: null, source: { ...valid.source, snapshot: true } });
    ok({
      ...valid,
      source: { ...valid.source, unchangedToast: ['description'], commitTs: '2024-01-15T12:00:00+02:00' },
    });
    const noTx: Record<string, unknown> = { ...valid.source };
    delete noTx.txId;
    ok({ ...valid, source: noTx });
  });

  it('reports non-JSON data', () => {
    for (const bad of ['', 'not json', '{"source":', '\u0000\u0001']) {
      assert.match(reasonOf(bad), /^not JSON: /);
    }
  });

  it('reports JSON that is not an object', () => {
    for (const bad of ['null', '42', '"text"', '[]']) {
      assert.match(reasonOf(bad), /^unrecognised record format: expected a JSON object, got /);
    }
  });

  it('names the missing fields', () => {
    const noKey: Record<string, unknown> = { ...valid };
    delete noKey.key;
    assert.match(reasonOf(JSON.stringify(noKey)), /^canonical event: .*\bkey\b/);
    const noLsn: Record<string, unknown> = { ...valid.source };
    delete noLsn.lsn;
    assert.match(reasonOf(JSON.stringify({ ...valid, source: noLsn })), /source\.lsn/);
    assert.match(reasonOf(JSON.stringify({ op: 'c' })), /has keys \[op\]/);
  });

  it('names invalid field values', () => {
    assert.match(reasonOf(withSource({ lsn: '16C4460' })), /source\.lsn: LSN must look like/);
    assert.match(reasonOf(withSource({ index: -1 })), /source\.index/);
    assert.match(reasonOf(withSource({ index: 1.5 })), /source\.index/);
    assert.match(reasonOf(withSource({ commitTs: 'yesterday' })), /source\.commitTs/);
    assert.match(reasonOf(withSource({ snapshot: false })), /source\.snapshot/);
    assert.match(reasonOf(JSON.stringify({ ...valid, op: 'x' })), /\bop\b/);
    assert.match(
      reasonOf(JSON.stringify({ ...valid, key: {} })),
      /key: key must name at least one primary-key column/,
    );
  });

  it("rejects op 'd' with an after image, naming the problem", () => {
    assert.match(
      reasonOf(JSON.stringify({ ...valid, op: 'd' })),
      /after: op 'd' must not have an after image/,
    );
  });

  it("rejects op 'c', 'u' and 'r' without an after image", () => {
    for (const op of ['c', 'u', 'r']) {
      assert.match(
        reasonOf(JSON.stringify({ ...valid, op, after: null })),
        new RegExp(`after: op '${op}' needs an after image`),
      );
    }
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ ...valid, after: v })),
        ),
        (s) => {
          const r = decodeRecord(s);
          assert.equal(typeof r.ok, 'boolean');
          if (!r.ok) assert.ok(r.reason.length > 0);
        },
      ),
    );
  });

  // Regression (fixed): the decoder promises it "never throws", but a record with deeply nested JSON (5,000
  // nested arrays, a ~10 KB record, well within Kinesis' 1 MiB) overflows the stack in the
  // recursive zod schema and throws RangeError "Maximum call stack size exceeded" instead of
  // returning a poison-record reason (JSON.parse itself handles the depth fine).
  it('returns a poison reason, not a throw, for deeply nested JSON', () => {
    const depth = 5000;
    const data = JSON.stringify({ ...valid, after: { x: 0 } }).replace(
      '{"x":0}',
      `{"x":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    );
    assert.doesNotThrow(() => JSON.parse(data));
    let r: ReturnType<typeof decodeRecord> | undefined;
    assert.doesNotThrow(() => {
      r = decodeRecord(data);
    });
    assert.ok(r);
  });
});

describe('partitionKey', () => {
  it('is the table and the canonical key', () => {
    assert.equal(
      partitionKey('inventory', { sku: 'SKU-1', warehouse_id: 101 }),
      'inventory:{"sku":"SKU-1","warehouse_id":101}',
    );
  });

  it('does not depend on key column order', () => {
    assert.equal(
      partitionKey('inventory', { warehouse_id: 101, sku: 'SKU-1' }),
      partitionKey('inventory', { sku: 'SKU-1', warehouse_id: 101 }),
    );
  });

  it('differs between rows and between tables', () => {
    const keys = [
      partitionKey('inventory', { sku: 'SKU-1', warehouse_id: 101 }),
      partitionKey('inventory', { sku: 'SKU-1', warehouse_id: 102 }),
      partitionKey('inventory', { sku: 'SKU-1', warehouse_id: '101' }),
      partitionKey('reservations', { sku: 'SKU-1', warehouse_id: 101 }),
    ];
    assert.equal(new Set(keys).size, keys.length);
  });

  it('stays within 256 characters for huge keys, stable and distinct', () => {
    const huge = { sku: 'S'.repeat(10_000), warehouse_id: 1 };
    const pk = partitionKey('inventory', huge);
    assert.ok(pk.length <= 256, `length ${pk.length}`);
    assert.match(pk, /^inventory:sha256:[0-9a-f]{64}$/);
    assert.equal(partitionKey('inventory', { warehouse_id: 1, sku: 'S'.repeat(10_000) }), pk);
    assert.notEqual(partitionKey('inventory', { sku: 'S'.repeat(10_000), warehouse_id: 2 }), pk);
  });

  it('keeps a key of exactly 256 characters and digests one of 257', () => {
    const prefix = 'inventory:{"sku":"';
    const suffix = '"}';
    const at = (n: number) =>
      partitionKey('inventory', { sku: 'x'.repeat(n - prefix.length - suffix.length) });
    assert.equal(at(256).length, 256);
    assert.ok(at(256).startsWith(prefix));
    assert.match(at(257), /^inventory:sha256:/);
  });

  it('is at most 256 characters for any table name and key', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.dictionary(fc.string(), fc.jsonValue()),
        (table, key) => {
          assert.ok(partitionKey(table, key as Row).length <= 256);
        },
      ),
    );
  });
});
