import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { eventId } from '../../../domain/processing/eventId';
import type { Row } from '../../../domain/core/json';
import {
  applyTransformation,
  fieldChanges,
  transformChange,
  splitKeyChange,
} from '../../../domain/processing/transform';
import { ConfigurationError, PoisonRecordError } from '../../../domain/core/errors';

const POS = {
  shardId: 'shardId-000000000000',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
};

function change(
  p: { table: string; op: ChangeEvent['op']; key: Row; before?: Row | null; after?: Row | null } & Partial<
    ChangeEvent['source']
  >,
): ChangeEvent {
  const { table, op, key, before = null, after = null, ...src } = p;
  return {
    source: {
      db: 'app',
      schema: 'public',
      table,
      lsn: '0/16C4460',
      commitTs: '2024-01-15T10:00:00.000Z',
      index: 2,
      txId: 741,
      ...src,
    },
    op,
    key,
    before,
    after,
  };
}

function throwsPoison(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PoisonRecordError, `expected PoisonRecordError, got ${String(e)}`);
    assert.equal(e.name, 'PoisonRecordError');
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('applyTransformation', () => {
  it('ISO_DATE normalizes to UTC ISO-8601 with millis, honouring an offset', () => {
    assert.equal(
      applyTransformation('ISO_DATE', 'c', '2024-01-15T12:30:00+02:00'),
      '2024-01-15T10:30:00.000Z',
    );
    assert.equal(
      applyTransformation('ISO_DATE', 'c', '2024-01-15T10:30:00-05:30'),
      '2024-01-15T16:00:00.000Z',
    );
    assert.equal(
      applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00.123456Z'),
      '2024-01-15T10:00:00.123Z',
    );
    assert.equal(applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00Z'), '2024-01-15T10:00:00.000Z');
  });

  it('ISO_DATE takes a number as epoch millis', () => {
    assert.equal(applyTransformation('ISO_DATE', 'c', 0), '1970-01-01T00:00:00.000Z');
    assert.equal(applyTransformation('ISO_DATE', 'c', 1705312800123), '2024-01-15T10:00:00.123Z');
  });

  it('DECIMAL keeps the exact decimal string (no float rounding)', () => {
    assert.equal(
      applyTransformation('DECIMAL', 'price', '12345678901234567890.12'),
      '12345678901234567890.12',
    );
    assert.equal(applyTransformation('DECIMAL', 'price', '0.10'), '0.10');
    assert.equal(applyTransformation('DECIMAL', 'price', '-1.5e3'), '-1.5e3');
    assert.equal(applyTransformation('DECIMAL', 'price', ' 42 '), '42');
    assert.equal(applyTransformation('DECIMAL', 'price', 12.5), '12.5');
    assert.equal(applyTransformation('DECIMAL', 'price', 7), '7');
  });

  it('UPPERCASE and LOWERCASE', () => {
    assert.equal(applyTransformation('UPPERCASE', 'sku', 'sku-1a'), 'SKU-1A');
    assert.equal(applyTransformation('LOWERCASE', 'email', 'Ann.Lee@Example.COM'), 'ann.lee@example.com');
  });

  it('keeps null as null for every transformation', () => {
    for (const k of ['ISO_DATE', 'DECIMAL', 'UPPERCASE', 'LOWERCASE'] as const) {
      assert.equal(applyTransformation(k, 'c', null), null);
    }
  });

  it('throws PoisonRecordError naming the column for values it cannot transform', () => {
    throwsPoison(() => applyTransformation('UPPERCASE', 'sku', 42), /^sku: UPPERCASE needs a string/);
    throwsPoison(() => applyTransformation('LOWERCASE', 'email', true), /email: LOWERCASE/);
    throwsPoison(() => applyTransformation('LOWERCASE', 'email', { a: 1 }), /email/);
    for (const bad of ['abc', '1.2.3', '', '12,50', 'NaN', '1e', true, [1], { v: 1 }]) {
      throwsPoison(() => applyTransformation('DECIMAL', 'price', bad), /price: DECIMAL/);
    }
    for (const bad of ['not a date', '2024-13-45T00:00:00Z', '', true, [], { t: 1 }]) {
      throwsPoison(() => applyTransformation('ISO_DATE', 'created_at', bad), /created_at: ISO_DATE/);
    }
  });

  // Regression (fixed): ISO_DATE uses V8's lenient legacy Date.parse, so strings that are not dates at all are
  // accepted and silently turned into a made-up date ("12" -> 2001-12-01, "foo 12" -> 2001-12-01)
  // instead of being rejected as poison values.
  it('ISO_DATE rejects strings that are not dates (V8 legacy Date.parse fallback)', () => {
    for (const bad of ['1', '12', 'foo 12', 'May 5']) {
      throwsPoison(() => applyTransformation('ISO_DATE', 'created_at', bad));
    }
  });

  // Regression (fixed): a timestamp without zone ("2024-01-15T10:00:00", what pgTypes produces for `timestamp`
  // columns) is parsed by Date.parse in the worker's local time zone, so the transformed value, and
  // therefore the published event, depends on the host's TZ setting: replays on differently
  // configured workers disagree. (All ISO_DATE columns of infra/schema.sql are timestamptz today.)
  it('ISO_DATE does not depend on the process time zone for a zone-less timestamp', () => {
    const prev = process.env.TZ;
    try {
      process.env.TZ = 'America/New_York';
      const ny = applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00');
      process.env.TZ = 'UTC';
      const utc = applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00');
      assert.equal(ny, utc);
    } finally {
      if (prev === undefined) delete process.env.TZ;
      else process.env.TZ = prev;
    }
  });
});

describe('fieldChanges', () => {
  it('create: every column of after, old null', () => {
    assert.deepEqual(fieldChanges(null, { id: 1, a: 'x', b: null }), {
      id: { old: null, new: 1 },
      a: { old: null, new: 'x' },
      b: { old: null, new: null },
    });
  });

  it('delete: every column of before, new null', () => {
    assert.deepEqual(fieldChanges({ id: 1, a: 'x' }, null), {
      id: { old: 1, new: null },
      a: { old: 'x', new: null },
    });
  });

  it('update: only changed columns, compared structurally', () => {
    assert.deepEqual(
      fieldChanges(
        { id: 1, a: 'x', b: 2, j: { p: 1, q: [1, 2] }, n: null },
        { id: 1, a: 'y', b: 2, j: { q: [1, 2], p: 1 }, n: 5 },
      ),
      { a: { old: 'x', new: 'y' }, n: { old: null, new: 5 } },
    );
  });

  it('update: a column absent from after (unchanged TOAST) is not a change', () => {
    assert.deepEqual(fieldChanges({ id: 1, doc: 'big', a: 1 }, { id: 1, a: 2 }), { a: { old: 1, new: 2 } });
  });

  it('update: a column new in after is a change from null', () => {
    assert.deepEqual(fieldChanges({ id: 1 }, { id: 1, added: 'v' }), { added: { old: null, new: 'v' } });
  });
});

describe('transformChange', () => {
  it('create on inventory: transformations, entity ID, event type, version, event ID', () => {
    const c = change({
      table: 'inventory',
      op: 'c',
      key: { sku: 'sku-1', warehouse_id: 101 },
      after: {
        sku: 'sku-1',
        warehouse_id: 101,
        on_hand: 100,
        reserved: 0,
        updated_at: '2024-01-15T12:00:00+02:00',
      },
    });
    const e = transformChange(c, POS);
    assert.deepEqual(e, {
      eventId: eventId({
        table: 'inventory',
        key: c.key,
        version: '00000000016C4460.0000000002',
        op: 'c',
        commitTs: c.source.commitTs,
      }),
      table: 'inventory',
      entityType: 'inventory',
      entityId: 'sku-1#101',
      key: { sku: 'sku-1', warehouse_id: 101 },
      op: 'c',
      eventType: 'inventory.created',
      version: '00000000016C4460.0000000002',
      commitTs: '2024-01-15T10:00:00.000Z',
      lsn: '0/16C4460',
      index: 2,
      txId: 741,
      before: null,
      after: {
        sku: 'sku-1',
        warehouse_id: 101,
        on_hand: 100,
        reserved: 0,
        updated_at: '2024-01-15T10:00:00.000Z',
      },
      changes: {
        sku: { old: null, new: 'sku-1' },
        warehouse_id: { old: null, new: 101 },
        on_hand: { old: null, new: 100 },
        reserved: { old: null, new: 0 },
        updated_at: { old: null, new: '2024-01-15T10:00:00.000Z' },
      },
      position: POS,
    });
    assert.match(e.eventId, /^evt_1705312800000_[a-z0-9]+$/);
    assert.equal(e.redactionPolicy, undefined);
  });

  it('normalizes commitTs with an offset to UTC and omits txId when absent', () => {
    const c = change({
      table: 'products',
      op: 'c',
      key: { sku: 'a' },
      after: { sku: 'a' },
      commitTs: '2024-01-15T12:00:00+02:00',
    });
    delete c.source.txId;
    const e = transformChange(c, POS);
    assert.equal(e.commitTs, '2024-01-15T10:00:00.000Z');
    assert.equal('txId' in e, false);
  });

  it('update lists only changed columns and transforms both images', () => {
    const e = transformChange(
      change({
        table: 'products',
        op: 'u',
        key: { sku: 'abc' },
        before: { sku: 'abc', name: 'Widget', price: '10.00', updated_at: '2024-01-01T00:00:00Z' },
        after: {
          sku: 'abc',
          name: 'Widget',
          price: '12345678901234567890.12',
          updated_at: '2024-01-15T10:00:00Z',
        },
      }),
      POS,
    );
    assert.equal(e.eventType, 'product.updated');
    assert.equal(e.entityId, 'abc', 'the key is the raw key');
    assert.deepEqual(e.before, {
      sku: 'abc',
      name: 'Widget',
      price: '10.00',
      updated_at: '2024-01-01T00:00:00.000Z',
    });
    assert.deepEqual(e.changes, {
      price: { old: '10.00', new: '12345678901234567890.12' },
      updated_at: { old: '2024-01-01T00:00:00.000Z', new: '2024-01-15T10:00:00.000Z' },
    });
  });

  it('update: a change only in letter case of an UPPERCASE column is no change', () => {
    const e = transformChange(
      change({
        table: 'reservations',
        op: 'u',
        key: { reservation_id: 'r-1' },
        before: { reservation_id: 'r-1', sku: 'abc', quantity: 1 },
        after: { reservation_id: 'r-1', sku: 'ABC', quantity: 2 },
      }),
      POS,
    );
    assert.deepEqual(e.changes, { quantity: { old: 1, new: 2 } });
  });

  it('key columns are identity: sku-1 and SKU-1 stay two entities, never merged', () => {
    const one = transformChange(
      change({
        table: 'inventory',
        op: 'c',
        key: { sku: 'sku-1', warehouse_id: 1 },
        after: { sku: 'sku-1', warehouse_id: 1 },
      }),
      POS,
    );
    const two = transformChange(
      change({
        table: 'inventory',
        op: 'c',
        key: { sku: 'SKU-1', warehouse_id: 1 },
        after: { sku: 'SKU-1', warehouse_id: 1 },
      }),
      POS,
    );
    assert.notEqual(one.entityId, two.entityId);
    assert.deepEqual([one.entityId, two.entityId], ['sku-1#1', 'SKU-1#1']);
  });

  it('update: unchanged TOAST columns (absent from after) are not reported as changes', () => {
    const e = transformChange(
      change({
        table: 'products',
        op: 'u',
        key: { sku: 'A' },
        before: { sku: 'A', description: 'a very long text', price: '1.00' },
        after: { sku: 'A', price: '2.00' },
        unchangedToast: ['description'],
      }),
      POS,
    );
    assert.deepEqual(e.changes, { price: { old: '1.00', new: '2.00' } });
    assert.equal('description' in (e.after ?? {}), false);
  });

  it('delete: every before column with new null', () => {
    const e = transformChange(
      change({
        table: 'orders',
        op: 'd',
        key: { order_id: 'o1' },
        before: { order_id: 'o1', status: 'new', total_amount: '9.90' },
      }),
      POS,
    );
    assert.equal(e.eventType, 'order.deleted');
    assert.equal(e.after, null);
    assert.deepEqual(e.changes, {
      order_id: { old: 'o1', new: null },
      status: { old: 'NEW', new: null },
      total_amount: { old: '9.90', new: null },
    });
  });

  it('event types per op, with .snapshot for backfill reads', () => {
    const suffix = { c: 'created', u: 'updated', d: 'deleted', r: 'snapshot' } as const;
    for (const op of ['c', 'u', 'd', 'r'] as const) {
      const row = { reservation_id: 'r1', quantity: 1 };
      const e = transformChange(
        change({
          table: 'reservations',
          op,
          key: { reservation_id: 'r1' },
          before: op === 'c' || op === 'r' ? null : row,
          after: op === 'd' ? null : row,
        }),
        POS,
      );
      assert.equal(e.eventType, `reservation.${suffix[op]}`);
    }
    const snap = transformChange(
      change({ table: 'audit_logs', op: 'r', key: { log_id: '7' }, after: { log_id: '7' }, snapshot: true }),
      POS,
    );
    assert.equal(snap.eventType, 'audit_log.snapshot');
  });

  it('gives the same event for the same change and different IDs for different versions', () => {
    const c = change({ table: 'users', op: 'c', key: { user_id: 'u1' }, after: { user_id: 'u1' } });
    assert.deepEqual(transformChange(c, POS), transformChange(structuredClone(c), POS));
    assert.notEqual(
      transformChange(c, POS).eventId,
      transformChange({ ...c, source: { ...c.source, index: 3 } }, POS).eventId,
    );
  });

  it('rejects an operation the table does not enable with a ConfigurationError', () => {
    assert.throws(
      () =>
        transformChange(
          change({
            table: 'audit_logs',
            op: 'u',
            key: { log_id: '1' },
            before: { log_id: '1' },
            after: { log_id: '1' },
          }),
          POS,
        ),
      (e: unknown) =>
        e instanceof ConfigurationError &&
        /operation 'u' is not enabled for table audit_logs/.test(e.message),
    );
    assert.throws(
      () =>
        transformChange(
          change({ table: 'audit_logs', op: 'd', key: { log_id: '1' }, before: { log_id: '1' } }),
          POS,
        ),
      ConfigurationError,
    );
  });

  it('rejects an unknown table with a ConfigurationError', () => {
    assert.throws(
      () => transformChange(change({ table: 'nope', op: 'c', key: { id: 1 }, after: { id: 1 } }), POS),
      ConfigurationError,
    );
  });

  it('rejects a key without every primary-key column as poison', () => {
    throwsPoison(
      () =>
        transformChange(
          change({ table: 'inventory', op: 'c', key: { sku: 'A' }, after: { sku: 'A', warehouse_id: 1 } }),
          POS,
        ),
      /key lacks primary-key column warehouse_id of table inventory/,
    );
  });

  it('rejects a row with a value its transformation cannot take as poison', () => {
    throwsPoison(
      () =>
        transformChange(
          change({
            table: 'products',
            op: 'c',
            key: { sku: 'A' },
            after: { sku: 'A', price: 'ten dollars' },
          }),
          POS,
        ),
      /price: DECIMAL/,
    );
    throwsPoison(
      () =>
        transformChange(
          change({
            table: 'reservations',
            op: 'c',
            key: { reservation_id: 'r' },
            after: { reservation_id: 'r', sku: 7 },
          }),
          POS,
        ),
      /sku: UPPERCASE/,
    );
  });

  it('does not mutate its input', () => {
    const c = change({ table: 'products', op: 'c', key: { sku: 'abc' }, after: { sku: 'abc', price: 5 } });
    const copy = structuredClone(c);
    transformChange(c, POS);
    assert.deepEqual(c, copy);
  });
});

describe('transform: key changes and lenient before images', () => {
  const source = {
    db: 'inventory',
    schema: 'public',
    table: 'configurations',
    lsn: '0/A0',
    commitTs: '2026-01-01T00:00:00Z',
    index: 2,
  };

  it('splits an update that changes the primary key into a delete of the old key and a create of the new', () => {
    const change = {
      source,
      op: 'u' as const,
      key: { config_key: 'new' },
      before: { config_key: 'old', value: 1 },
      after: { config_key: 'new', value: 1 },
    };
    const [del, create] = splitKeyChange(change);
    assert.deepEqual([del.op, del.key, del.after], ['d', { config_key: 'old' }, null]);
    assert.deepEqual([create.op, create.key, create.before], ['c', { config_key: 'new' }, null]);
    const events = splitKeyChange(change).map((c) =>
      transformChange(c, { shardId: 's', sequenceNumber: '1' }),
    );
    assert.deepEqual(
      events.map((e) => [e.entityId, e.eventType]),
      [
        ['old', 'configuration.deleted'],
        ['new', 'configuration.created'],
      ],
    );
    assert.equal(events[0].version, events[1].version, 'both carry the update’s version');
  });

  it('leaves an update without key change, and a key-less before image, as they are', () => {
    const same = {
      source,
      op: 'u' as const,
      key: { config_key: 'k' },
      before: { config_key: 'k', value: 1 },
      after: { config_key: 'k', value: 2 },
    };
    assert.deepEqual(splitKeyChange(same), [same]);
    const noOldKey = { ...same, before: { value: 1 } };
    assert.deepEqual(splitKeyChange(noOldKey), [noOldKey]);
  });

  it('keeps a before-image value its transformation refuses instead of refusing the change', () => {
    const change = {
      source: { ...source, table: 'sessions' },
      op: 'u' as const,
      key: { session_id: 's1' },
      before: { session_id: 's1', expires_at: 'not a date' },
      after: { session_id: 's1', expires_at: '2030-01-01T00:00:00+00:00' },
    };
    const e = transformChange(change, { shardId: 's', sequenceNumber: '1' });
    assert.deepEqual(e.changes.expires_at, { old: 'not a date', new: '2030-01-01T00:00:00.000Z' });
    assert.throws(
      () =>
        transformChange(
          { ...change, after: { session_id: 's1', expires_at: 'not a date' } },
          { shardId: 's', sequenceNumber: '1' },
        ),
      PoisonRecordError,
    );
  });

  it("passes PostgreSQL's infinite timestamps through ISO_DATE", () => {
    assert.equal(applyTransformation('ISO_DATE', 'c', 'infinity'), 'infinity');
    assert.equal(applyTransformation('ISO_DATE', 'c', '-infinity'), '-infinity');
  });
});
