import assert from 'node:assert/strict';
import {
  changesAnExistingKey,
  deadLetterTtl,
  oneKeyQuery,
  outsideRedriveWindow,
} from '../../../domain/redrive/sourceRead';

const DAY = 86_400_000;

describe('redrive: when a letter is read again from the source (no resurrection)', () => {
  it('a letter carries the TTL of its window; past it, it is read again', () => {
    const parked = Date.parse('2026-11-01T00:00:00Z');
    assert.equal(deadLetterTtl(parked, 7), parked / 1000 + 7 * 86_400);
    const at = new Date(parked).toISOString();
    assert.equal(outsideRedriveWindow(at, parked + 7 * DAY, 7), false, 'the last moment of the window');
    assert.equal(outsideRedriveWindow(at, parked + 7 * DAY + 1, 7), true);
    assert.equal(outsideRedriveWindow(undefined, parked, 7), true, 'no parking time: treated as old');
    assert.equal(outsideRedriveWindow('not a time', parked, 7), true);
  });

  it('updates and deletes change an existing key; inserts and snapshot rows do not', () => {
    assert.deepEqual((['c', 'u', 'd', 'r'] as const).map(changesAnExistingKey), [false, true, true, false]);
  });

  it('reads one key by parameters, every column, identifiers quoted', () => {
    const shape = {
      schema: 'public',
      table: 'order_items',
      keyColumns: ['order_id', 'line_no'],
      columns: ['order_id', 'line_no', 'qty'],
    };
    assert.deepEqual(oneKeyQuery(shape, { order_id: "o'1", line_no: 2 }), {
      text: 'SELECT "order_id", "line_no", "qty" FROM "public"."order_items" WHERE "order_id" = $1 AND "line_no" = $2',
      values: ["o'1", 2],
    });
    assert.throws(() => oneKeyQuery(shape, { order_id: 'o1' }), /no usable value for key column line_no/);
    assert.throws(
      () => oneKeyQuery({ ...shape, keyColumns: ['Bad Name'] }, { 'Bad Name': 1 }),
      /not a column|plain SQL identifier/,
    );
  });
});
