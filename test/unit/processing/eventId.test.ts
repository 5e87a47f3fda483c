import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EVENT_ID_PATTERN, eventId } from '../../../domain/processing/eventId';
import type { Row } from '../../../domain/core/json';
import { sourceVersion } from '../../../domain/processing/version';

const base = {
  table: 'inventory',
  key: { sku: 'SKU-1', warehouse_id: 101 } as Row,
  version: sourceVersion('0/16C4460', 0),
  op: 'u',
  commitTs: '2024-01-15T10:00:00.123Z',
};
const ARCH_PATTERN = /^evt_[0-9]+_[a-z0-9]+$/;

describe('eventId', () => {
  it('matches the event schema pattern ^evt_[0-9]+_[a-z0-9]+$', () => {
    const id = eventId(base);
    assert.match(id, ARCH_PATTERN);
    assert.match(id, EVENT_ID_PATTERN);
    assert.equal(EVENT_ID_PATTERN.source, ARCH_PATTERN.source);
  });

  it('starts with the commit time in epoch millis', () => {
    assert.ok(eventId(base).startsWith(`evt_${Date.parse('2024-01-15T10:00:00.123Z')}_`));
    assert.ok(eventId(base).startsWith('evt_1705312800123_'));
    // An offset timestamp of the same instant gives the same prefix (and the same ID).
    assert.equal(eventId({ ...base, commitTs: '2024-01-15T12:00:00.123+02:00' }), eventId(base));
  });

  it('is deterministic', () => {
    assert.equal(eventId(base), eventId({ ...base, key: { ...base.key } }));
    assert.equal(eventId(base), eventId(structuredClone(base)));
  });

  it('does not depend on the order of key columns', () => {
    assert.equal(eventId({ ...base, key: { warehouse_id: 101, sku: 'SKU-1' } }), eventId(base));
    assert.equal(
      eventId({ ...base, key: { a: { y: 1, x: [1, { q: 2, p: 3 }] } } }),
      eventId({ ...base, key: { a: { x: [1, { p: 3, q: 2 }], y: 1 } } }),
    );
  });

  it('differs when table, key, version or op differ', () => {
    const id = eventId(base);
    const variants = [
      eventId({ ...base, table: 'reservations' }),
      eventId({ ...base, key: { sku: 'SKU-1', warehouse_id: 102 } }),
      eventId({ ...base, key: { sku: 'SKU-2', warehouse_id: 101 } }),
      eventId({ ...base, key: { sku: 'SKU-1', warehouse_id: '101' } }),
      eventId({ ...base, version: sourceVersion('0/16C4460', 1) }),
      eventId({ ...base, version: sourceVersion('0/16C4461', 0) }),
      eventId({ ...base, op: 'd' }),
      eventId({ ...base, op: 'r' }),
    ];
    for (const v of variants) assert.notEqual(v, id);
    assert.equal(new Set(variants).size, variants.length);
  });

  it('is not fooled by field boundaries (table/key concatenation)', () => {
    assert.notEqual(eventId({ ...base, table: 'ab', op: 'c' }), eventId({ ...base, table: 'a', op: 'bc' }));
  });

  it('hash part does not depend on the commit time', () => {
    const hash = (id: string) => id.split('_')[2];
    assert.equal(hash(eventId({ ...base, commitTs: '2030-01-01T00:00:00Z' })), hash(eventId(base)));
  });

  it('throws RangeError on an invalid commit timestamp', () => {
    assert.throws(() => eventId({ ...base, commitTs: 'not a date' }), RangeError);
  });

  it('gives distinct, well-formed IDs for distinct random changes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string(), fc.integer({ min: 0, max: 1000 })), {
          minLength: 2,
          maxLength: 30,
          selector: ([s, i]) => `${s}\u0000${i}`,
        }),
        (keys) => {
          const ids = keys.map(([sku, index]) =>
            eventId({ ...base, key: { sku }, version: sourceVersion('0/10', index) }),
          );
          for (const id of ids) assert.match(id, ARCH_PATTERN);
          assert.equal(new Set(ids).size, ids.length);
        },
      ),
    );
  });
});
