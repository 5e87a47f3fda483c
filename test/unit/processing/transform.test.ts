import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { eventId } from '../../../domain/processing/eventId';
import type { Row } from '../../../domain/core/json';
import {
  applyTransformation,
  fieldChanges,
  isoDate,
  roundDecimal,
  transformChange,
  splitKeyChange,
} from '../../../domain/processing/transform';
import { ConfigurationError, PoisonRecordError } from '../../../domain/core/errors';
import { redactEvent } from '../../../domain/processing/redact';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import { validatePublishedDetail } from '../../../domain/publishing/eventSchema';
import { parseTableFile, tableRegistry, useTables, type TableRegistry } from '../../../domain/core/tables';

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
      applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00.123Z'),
      '2024-01-15T10:00:00.123Z',
    );
    assert.equal(applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00Z'), '2024-01-15T10:00:00.000Z');
  });

  it('ISO_DATE keeps microseconds when the source has more than three fraction digits', () => {
    assert.equal(
      applyTransformation('ISO_DATE', 'c', '2024-01-15T10:00:00.123456Z'),
      '2024-01-15T10:00:00.123456Z',
    );
    assert.equal(
      applyTransformation('ISO_DATE', 'c', '2024-01-15 12:30:00.123456+02'),
      '2024-01-15T10:30:00.123456Z',
    );
  });

  it('ISO_DATE takes a number as epoch millis', () => {
    assert.equal(applyTransformation('ISO_DATE', 'c', 0), '1970-01-01T00:00:00.000Z');
    assert.equal(applyTransformation('ISO_DATE', 'c', 1705312800123), '2024-01-15T10:00:00.123Z');
  });

  it('DECIMAL gives a string with two decimal places, exactly (no float rounding)', () => {
    assert.equal(
      applyTransformation('DECIMAL', 'price', '12345678901234567890.12'),
      '12345678901234567890.12',
    );
    assert.equal(applyTransformation('DECIMAL', 'price', '0.10'), '0.10');
    assert.equal(applyTransformation('DECIMAL', 'price', '-1.5e3'), '-1500.00');
    assert.equal(applyTransformation('DECIMAL', 'price', ' 42 '), '42.00');
    assert.equal(applyTransformation('DECIMAL', 'price', '12.5'), '12.50');
    assert.equal(applyTransformation('DECIMAL', 'price', 12.5), '12.50');
    assert.equal(applyTransformation('DECIMAL', 'price', 7), '7.00');
    assert.equal(
      applyTransformation('DECIMAL', 'price', '1.005'),
      '1.01',
      'parseFloat(1.005).toFixed(2) is 1.00',
    );
    assert.equal(applyTransformation({ type: 'DECIMAL', scale: 4 }, 'price', '1.00005'), '1.0001');
    assert.equal(applyTransformation({ type: 'DECIMAL', scale: 0 }, 'price', '2.5'), '3');
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
    for (const bad of [
      'abc',
      '1.2.3',
      '',
      '12,50',
      'NaN',
      'Infinity',
      '1e',
      '.',
      '-',
      '0x10',
      '1_000',
      true,
      [1],
      { v: 1 },
      NaN,
      Infinity,
    ]) {
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

describe('DECIMAL: exact rounding (roundDecimal)', () => {
  const cases = (scale: number, pairs: Array<[string, string]>) => {
    for (const [input, expected] of pairs)
      assert.equal(roundDecimal(input, scale), expected, `${input} at scale ${scale}`);
  };

  it('rounds half away from zero at two places, where a binary float would not', () => {
    cases(2, [
      ['1.005', '1.01'],
      ['1.004', '1.00'],
      ['2.675', '2.68'], // the float 2.675 is 2.67499999…
      ['1.015', '1.02'],
      ['0.125', '0.13'], // half up, not half to even
      ['99.995', '100.00'], // the carry reaches the integer part
      ['12.5', '12.50'],
      ['0', '0.00'],
      ['.5', '0.50'],
      ['5.', '5.00'],
      ['+3.14159', '3.14'],
      ['00012.345', '12.35'],
    ]);
  });

  it('rounds negative numbers away from zero, and never gives "-0.00"', () => {
    cases(2, [
      ['-1.005', '-1.01'],
      ['-1.004', '-1.00'],
      ['-99.995', '-100.00'],
      ['-0.005', '-0.01'],
      ['0.005', '0.01'],
      ['-0.004', '0.00'],
      ['-0.0049999999999999999999', '0.00'],
      ['-0', '0.00'],
      ['-0.00', '0.00'],
      ['-1e-9', '0.00'],
    ]);
  });

  it('takes exponent notation', () => {
    cases(2, [
      ['1e-3', '0.00'],
      ['5e-3', '0.01'],
      ['-5e-3', '-0.01'],
      ['0.5e-2', '0.01'],
      ['123.456e-1', '12.35'],
      ['1E+2', '100.00'],
      ['-1.5e3', '-1500.00'],
      ['1e-400', '0.00'],
    ]);
  });

  it('keeps every digit of numbers beyond a float’s 15–17 significant digits, and 1e21', () => {
    cases(2, [
      ['12345678901234567.895', '12345678901234567.90'],
      ['12345678901234567.894', '12345678901234567.89'],
      ['98765432109876543210.005', '98765432109876543210.01'],
      ['1e21', '1000000000000000000000.00'],
    ]);
    // A JavaScript number 1e21 prints as "1e+21" (String(1e21)): still a plain decimal out.
    assert.equal(applyTransformation('DECIMAL', 'price', 1e21), '1000000000000000000000.00');
    assert.equal(applyTransformation('DECIMAL', 'price', 0.1 + 0.2), '0.30');
    assert.equal(applyTransformation('DECIMAL', 'price', -0), '0.00');
  });

  it('scale 0 rounds to an integer without a decimal point', () => {
    cases(0, [
      ['2.5', '3'],
      ['-2.5', '-3'],
      ['0.5', '1'],
      ['-0.5', '-1'],
      ['0.4', '0'],
      ['-0.4', '0'],
      ['9.5', '10'],
      ['12', '12'],
    ]);
  });

  it('scale 4 (a table file rule `{type: DECIMAL, scale: 4}`)', () => {
    cases(4, [
      ['1.00005', '1.0001'],
      ['-1.00005', '-1.0001'],
      ['3.14159', '3.1416'],
      ['12', '12.0000'],
      ['0.00004', '0.0000'],
      ['-0.00004', '0.0000'],
    ]);
    assert.equal(applyTransformation({ type: 'DECIMAL', scale: 4 }, 'amount', '2.71828'), '2.7183');
    assert.equal(applyTransformation({ type: 'DECIMAL' }, 'amount', '2.71828'), '2.72', 'default scale 2');
  });

  it('a value that is not a decimal number is poison, naming the column', () => {
    for (const bad of [
      'abc',
      '',
      ' ',
      '1.2.3',
      '12,50',
      'NaN',
      'Infinity',
      '-Infinity',
      '1e',
      'e5',
      '.',
      '-',
      '+.e5',
      '0x10',
      '1_000',
      '1e401',
    ]) {
      throwsPoison(
        () => roundDecimal(bad, 2, 'total_amount'),
        /^total_amount: DECIMAL needs a decimal number/,
      );
      throwsPoison(() => applyTransformation('DECIMAL', 'total_amount', bad), /^total_amount: DECIMAL/);
    }
    for (const bad of [NaN, Infinity, -Infinity, true, [1], { v: 1 }]) {
      throwsPoison(() => applyTransformation('DECIMAL', 'total_amount', bad), /^total_amount: DECIMAL/);
    }
  });
});

describe('ISO_DATE: PostgreSQL text forms and microseconds (isoDate)', () => {
  it('PostgreSQL timestamptz output: space separator, "+02" and "+05:30" offsets', () => {
    assert.equal(isoDate('2024-01-15 12:30:00+02'), '2024-01-15T10:30:00.000Z');
    assert.equal(isoDate('2024-01-15 12:30:00-03'), '2024-01-15T15:30:00.000Z');
    assert.equal(isoDate('2024-01-15 12:30:00+05:30'), '2024-01-15T07:00:00.000Z');
    assert.equal(isoDate('2024-01-15T12:30:00+0530'), '2024-01-15T07:00:00.000Z');
    assert.equal(isoDate('2024-01-15 12:30:00.5+00'), '2024-01-15T12:30:00.500Z');
  });

  it('keeps six fraction digits when the source has more than three (microseconds)', () => {
    assert.equal(isoDate('2024-01-15 12:30:00.123456+02'), '2024-01-15T10:30:00.123456Z');
    assert.equal(isoDate('2024-01-15 12:30:00.123456+05:30'), '2024-01-15T07:00:00.123456Z');
    assert.equal(isoDate('2024-01-15 12:30:00.1234+02'), '2024-01-15T10:30:00.123400Z', 'padded to six');
    assert.equal(isoDate('2024-01-15 12:30:00.000001+00'), '2024-01-15T12:30:00.000001Z');
    // The shift to UTC carries into the next day; the microseconds stay.
    assert.equal(isoDate('2024-01-15 23:30:00.999999-01'), '2024-01-16T00:30:00.999999Z');
    assert.equal(isoDate('1969-12-31 23:59:59.999999+00'), '1969-12-31T23:59:59.999999Z');
  });

  it('nine fraction digits (nanoseconds) are cut to six', () => {
    assert.equal(isoDate('2024-01-15T12:30:00.123456789+05:30'), '2024-01-15T07:00:00.123456Z');
    assert.equal(isoDate('2024-01-15T12:30:00.000000999Z'), '2024-01-15T12:30:00.000000Z');
  });

  it('three digits or fewer keep the usual millisecond form', () => {
    assert.equal(isoDate('2024-01-15 12:30:00.12+02'), '2024-01-15T10:30:00.120Z');
    assert.equal(isoDate('2024-01-15T12:30:00.123Z'), '2024-01-15T12:30:00.123Z');
    assert.equal(isoDate('2024-01-15T12:30Z'), '2024-01-15T12:30:00.000Z');
  });

  it('a timestamp without a zone is UTC; a date alone is midnight UTC', () => {
    assert.equal(isoDate('2024-01-15 10:00:00'), '2024-01-15T10:00:00.000Z');
    assert.equal(isoDate('2024-01-15T10:00:00.123456'), '2024-01-15T10:00:00.123456Z');
    assert.equal(isoDate('2024-01-15'), '2024-01-15T00:00:00.000Z');
    assert.equal(isoDate('2024-02-29'), '2024-02-29T00:00:00.000Z');
  });

  it('epoch millis', () => {
    assert.equal(isoDate(0), '1970-01-01T00:00:00.000Z');
    assert.equal(isoDate(1705312800123), '2024-01-15T10:00:00.123Z');
    assert.equal(isoDate(-1), '1969-12-31T23:59:59.999Z');
    for (const bad of [NaN, Infinity, -Infinity, 8.64e15 + 1])
      throwsPoison(() => isoDate(bad, 'created_at'), /^created_at: ISO_DATE epoch millis out of range/);
  });

  it("PostgreSQL's infinity and -infinity pass through", () => {
    assert.equal(isoDate('infinity'), 'infinity');
    assert.equal(isoDate('-infinity'), '-infinity');
    assert.equal(applyTransformation('ISO_DATE', 'expires_at', 'infinity'), 'infinity');
  });

  it('refuses what is not a date or timestamp, naming the column', () => {
    for (const bad of [
      'not a date',
      '2024-13-45T00:00:00Z',
      '2024-01-15T25:00:00Z',
      '2024-01-15T10:60:00Z',
      '2024-01-15T10:00:00+99',
      '10000-01-01',
      '15/01/2024',
      'Infinity',
      '',
    ])
      throwsPoison(() => isoDate(bad, 'created_at'), /^created_at: ISO_DATE/);
  });

  // Date.parse alone would roll an impossible day over, publishing another, valid-looking date.
  it('refuses impossible days of the month (2024-02-30, 2023-02-29)', () => {
    for (const bad of ['2024-02-30', '2023-02-29T00:00:00Z', '2024-04-31 10:00:00+02'])
      throwsPoison(() => isoDate(bad, 'created_at'), /^created_at: ISO_DATE/);
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
      key: { product_id: 'a' },
      after: { product_id: 'a' },
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
        key: { product_id: 'abc' },
        before: {
          product_id: 'abc',
          sku: 'SKU-ABC',
          name: 'Widget',
          price: '10',
          updated_at: '2024-01-01T00:00:00Z',
        },
        after: {
          product_id: 'abc',
          sku: 'SKU-ABC',
          name: 'Widget',
          price: '12345678901234567890.125',
          updated_at: '2024-01-15 12:00:00.123456+02',
        },
      }),
      POS,
    );
    assert.equal(e.eventType, 'product.updated');
    assert.equal(e.entityId, 'abc', 'the key is the raw key');
    assert.deepEqual(e.before, {
      product_id: 'abc',
      sku: 'SKU-ABC',
      name: 'Widget',
      price: '10.00',
      updated_at: '2024-01-01T00:00:00.000Z',
    });
    assert.deepEqual(e.changes, {
      price: { old: '10.00', new: '12345678901234567890.13' },
      updated_at: { old: '2024-01-01T00:00:00.000Z', new: '2024-01-15T10:00:00.123456Z' },
    });
  });

  it('the shipped tables transform no letter case: sku, status, currency and email stay as written', () => {
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
    assert.deepEqual(e.changes, { sku: { old: 'abc', new: 'ABC' }, quantity: { old: 1, new: 2 } });
    const order = transformChange(
      change({
        table: 'orders',
        op: 'c',
        key: { order_id: 'o1' },
        after: { order_id: 'o1', status: 'paid', currency: 'usd', total_amount: '12.5' },
      }),
      POS,
    );
    assert.deepEqual(order.after, { order_id: 'o1', status: 'paid', currency: 'usd', total_amount: '12.50' });
    const user = transformChange(
      change({ table: 'users', op: 'c', key: { id: 'u1' }, after: { id: 'u1', email: 'Ann@Example.COM' } }),
      POS,
    );
    assert.equal(user.after!.email, 'Ann@Example.COM');
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
        key: { product_id: 'A' },
        before: { product_id: 'A', description: 'a very long text', price: '1.00' },
        after: { product_id: 'A', price: '2.00' },
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
        table: 'products',
        op: 'd',
        key: { product_id: 'p1' },
        before: { product_id: 'p1', sku: 'sku-1', price: '9.9' },
      }),
      POS,
    );
    assert.equal(e.eventType, 'product.deleted');
    assert.equal(e.after, null);
    assert.equal('unpublished' in e, false, 'products publish DELETE');
    assert.deepEqual(e.changes, {
      product_id: { old: 'p1', new: null },
      sku: { old: 'sku-1', new: null },
      price: { old: '9.90', new: null },
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
    const c = change({ table: 'users', op: 'c', key: { id: 'u1' }, after: { id: 'u1' } });
    assert.deepEqual(transformChange(c, POS), transformChange(structuredClone(c), POS));
    assert.notEqual(
      transformChange(c, POS).eventId,
      transformChange({ ...c, source: { ...c.source, index: 3 } }, POS).eventId,
    );
  });

  it('the event type of each operation is the table file’s (003: user.created, order.updated, …)', () => {
    const types: Array<[string, ChangeEvent['op'], Row, string]> = [
      ['users', 'c', { id: 'u1' }, 'user.created'],
      ['users', 'u', { id: 'u1' }, 'user.updated'],
      ['users', 'd', { id: 'u1' }, 'user.deleted'],
      ['orders', 'c', { order_id: 'o1' }, 'order.created'],
      ['orders', 'u', { order_id: 'o1' }, 'order.updated'],
      ['products', 'u', { product_id: 'p1' }, 'product.updated'],
      ['transactions', 'c', { txn_id: 't1' }, 'transaction.created'],
      ['audit_logs', 'c', { log_id: 1 }, 'audit_log.created'],
    ];
    for (const [table, op, key, type] of types) {
      const e = transformChange(
        change({ table, op, key, before: op === 'c' ? null : key, after: op === 'd' ? null : key }),
        POS,
      );
      assert.equal(e.eventType, type, `${table} ${op}`);
    }
  });

  it('an operation the table does not publish is transformed all the same, marked unpublished', () => {
    // orders publish INSERT and UPDATE; transactions and audit_logs INSERT only (003).
    const unpublished: Array<[string, ChangeEvent['op'], Row, string]> = [
      ['orders', 'd', { order_id: 'o1' }, 'order.deleted'],
      ['transactions', 'u', { txn_id: 't1' }, 'transaction.updated'],
      ['transactions', 'd', { txn_id: 't1' }, 'transaction.deleted'],
      ['audit_logs', 'u', { log_id: '1' }, 'audit_log.updated'],
      ['audit_logs', 'd', { log_id: '1' }, 'audit_log.deleted'],
      ['customers', 'd', { customer_id: 'c1' }, 'customer.deleted'],
      ['metrics', 'u', { metric_id: 'm1' }, 'metric.updated'],
    ];
    for (const [table, op, key, type] of unpublished) {
      const e = transformChange(
        change({ table, op, key, before: key, after: op === 'd' ? null : { ...key, note: 'x' } }),
        POS,
      );
      assert.equal(e.unpublished, true, `${table} ${op}`);
      assert.equal(e.eventType, type, `${table} ${op}`);
      assert.deepEqual(e.key, key);
    }
    const del = transformChange(
      change({
        table: 'orders',
        op: 'd',
        key: { order_id: 'o1' },
        before: { order_id: 'o1', status: 'new', total_amount: '9.9', order_date: '2024-01-15 12:00:00+02' },
      }),
      POS,
    );
    assert.equal(del.unpublished, true);
    assert.deepEqual(del.changes, {
      order_id: { old: 'o1', new: null },
      status: { old: 'new', new: null },
      total_amount: { old: '9.90', new: null },
      order_date: { old: '2024-01-15T10:00:00.000Z', new: null },
    });
    // Published operations carry no flag at all (not `unpublished: false`).
    for (const [table, op, key] of [
      ['orders', 'c', { order_id: 'o1' }],
      ['orders', 'u', { order_id: 'o1' }],
      ['transactions', 'c', { txn_id: 't1' }],
      ['audit_logs', 'c', { log_id: '1' }],
    ] as const) {
      const e = transformChange(change({ table, op, key, before: op === 'u' ? key : null, after: key }), POS);
      assert.equal('unpublished' in e, false, `${table} ${op}`);
    }
  });

  it('snapshot rows are always published, whatever the table’s operations', () => {
    for (const [table, key] of [
      ['transactions', { txn_id: 't1' }],
      ['audit_logs', { log_id: '1' }],
      ['orders', { order_id: 'o1' }],
    ] as const) {
      const e = transformChange(change({ table, op: 'r', key, after: key, snapshot: true }), POS);
      assert.equal('unpublished' in e, false, table);
      assert.match(e.eventType, /\.snapshot$/);
    }
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
            key: { product_id: 'A' },
            after: { product_id: 'A', price: 'ten dollars' },
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
            after: { reservation_id: 'r', expires_at: 'tomorrow' },
          }),
          POS,
        ),
      /expires_at: ISO_DATE/,
    );
  });

  it('does not mutate its input', () => {
    const c = change({
      table: 'products',
      op: 'c',
      key: { product_id: 'abc' },
      after: { product_id: 'abc', price: 5, created_at: '2024-01-15 10:00:00.123456+00' },
    });
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

describe('transform with a table file of its own', () => {
  let shipped: TableRegistry;
  before(() => {
    shipped = tableRegistry();
    useTables(
      parseTableFile(
        {
          version: 1,
          tables: {
            orders: {
              entity: 'order',
              key: ['order_id'],
              operations: ['INSERT', 'UPDATE'],
              eventTypes: { INSERT: 'order.placed', SNAPSHOT: 'order.backfilled' },
              transformations: {
                status: 'UPPERCASE',
                email: 'LOWERCASE',
                total_amount: { type: 'DECIMAL', scale: 0 },
                fx_rate: { type: 'DECIMAL', scale: 4 },
              },
            },
          },
        },
        'test/orders-only.yaml',
      ),
    );
  });
  after(() => useTables(shipped));

  it('names events as the file says, the default name for operations it does not name', () => {
    const types = (['c', 'u', 'd', 'r'] as const).map(
      (op) =>
        transformChange(
          change({
            table: 'orders',
            op,
            key: { order_id: 'o1' },
            before: op === 'u' || op === 'd' ? { order_id: 'o1' } : null,
            after: op === 'd' ? null : { order_id: 'o1' },
          }),
          POS,
        ).eventType,
    );
    assert.deepEqual(types, ['order.placed', 'order.updated', 'order.deleted', 'order.backfilled']);
  });

  it('applies UPPERCASE, LOWERCASE and a DECIMAL scale when the file asks for them', () => {
    const e = transformChange(
      change({
        table: 'orders',
        op: 'u',
        key: { order_id: 'o1' },
        before: { order_id: 'o1', status: 'new', email: 'A@B.C', total_amount: '10.4', fx_rate: '1.08' },
        after: { order_id: 'o1', status: 'NEW', email: 'a@b.c', total_amount: '10.5', fx_rate: '1.084449' },
      }),
      POS,
    );
    assert.deepEqual(e.after, {
      order_id: 'o1',
      status: 'NEW',
      email: 'a@b.c',
      total_amount: '11',
      fx_rate: '1.0844',
    });
    // A change only in letter case of an UPPERCASE/LOWERCASE column is no change.
    assert.deepEqual(e.changes, {
      total_amount: { old: '10', new: '11' },
      fx_rate: { old: '1.0800', new: '1.0844' },
    });
    assert.equal('unpublished' in e, false);
  });

  it('a value its UPPERCASE rule cannot take is poison; another table is not configured', () => {
    throwsPoison(
      () =>
        transformChange(
          change({ table: 'orders', op: 'c', key: { order_id: 'o1' }, after: { order_id: 'o1', status: 7 } }),
          POS,
        ),
      /^status: UPPERCASE needs a string/,
    );
    assert.throws(
      () => transformChange(change({ table: 'users', op: 'c', key: { id: 'u' }, after: { id: 'u' } }), POS),
      (e: unknown) => e instanceof ConfigurationError && /test\/orders-only\.yaml/.test(e.message),
    );
  });
});

describe('transformChange: the source epoch', () => {
  it('builds the version from (epoch, LSN, index); the published detail validates', () => {
    const e = transformChange(
      change({
        table: 'inventory',
        op: 'u',
        key: { sku: 'S', warehouse_id: 1 },
        after: { sku: 'S', warehouse_id: 1, on_hand: 2 },
        epoch: 1,
      }),
      POS,
    );
    assert.equal(e.version, 'e000001.00000000016C4460.0000000002');
    assert.equal(e.lsn, '0/16C4460');
    const entry = toEventEntry(
      redactEvent(e, { secret: 'epoch-test-secret', keyId: 'k1' }),
      'bus',
      '2024-01-15T10:00:01.000Z',
    );
    assert.deepEqual(validatePublishedDetail(entry.Detail), { ok: true });
    // A change of a later epoch is a different change (event id), even at the same LSN and index.
    const zero = transformChange(
      change({
        table: 'inventory',
        op: 'u',
        key: { sku: 'S', warehouse_id: 1 },
        after: { sku: 'S', warehouse_id: 1, on_hand: 2 },
      }),
      POS,
    );
    assert.equal(zero.version, '00000000016C4460.0000000002');
    assert.notEqual(zero.eventId, e.eventId);
  });
});
