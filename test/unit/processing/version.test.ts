import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lsnToBigInt } from '../../../domain/core/lsn';
import {
  compareVersions,
  parseVersion,
  sourceVersion,
  VERSION_PATTERN,
} from '../../../domain/processing/version';

/** Reference order of (LSN, index) pairs, computed numerically. */
function numericCompare(a: [string, number], b: [string, number]): number {
  const la = lsnToBigInt(a[0]);
  const lb = lsnToBigInt(b[0]);
  if (la !== lb) return la < lb ? -1 : 1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

describe('sourceVersion', () => {
  it('encodes 16 hex digits of LSN, a dot and 10 decimal digits of index', () => {
    assert.equal(sourceVersion('0/16C4460', 0), '00000000016C4460.0000000000');
    assert.equal(sourceVersion('1/0', 10), '0000000100000000.0000000010');
    assert.equal(sourceVersion('FFFFFFFF/FFFFFFFF', 9_999_999_999), 'FFFFFFFFFFFFFFFF.9999999999');
    assert.match(sourceVersion('A/B', 7), VERSION_PATTERN);
  });

  it('is case-insensitive in the LSN hex digits', () => {
    assert.equal(sourceVersion('a/16c4460', 3), sourceVersion('A/16C4460', 3));
  });

  it('orders LSNs of different hex lengths numerically, not lexically', () => {
    // Raw LSN strings compare wrongly ("0/FFFFFFF" > "0/10000000", "9/0" > "10/0"); versions must not.
    assert.deepEqual(['0/10000000', '0/FFFFFFF', '10/0', '9/0'].sort(), [
      '0/10000000',
      '0/FFFFFFF',
      '10/0',
      '9/0',
    ]);
    assert.ok(sourceVersion('0/FFFFFFF', 0) < sourceVersion('1/0', 0));
    assert.ok(sourceVersion('0/FFFFFFF', 0) < sourceVersion('0/10000000', 0));
    assert.ok(sourceVersion('0/9', 0) < sourceVersion('0/10', 0));
    assert.ok(sourceVersion('9/0', 0) < sourceVersion('10/0', 0));
    assert.ok(sourceVersion('0/FFFFFFFF', 9_999_999_999) < sourceVersion('1/0', 0));
  });

  it('orders indexes numerically within one LSN (9 < 10, 99 < 100)', () => {
    assert.ok(sourceVersion('0/16C4460', 9) < sourceVersion('0/16C4460', 10));
    assert.ok(sourceVersion('0/16C4460', 99) < sourceVersion('0/16C4460', 100));
    assert.ok(sourceVersion('0/16C4460', 0) < sourceVersion('0/16C4461', 0));
    // A later LSN wins over any index of an earlier one.
    assert.ok(sourceVersion('0/16C4460', 1000) < sourceVersion('0/16C4461', 0));
  });

  it('string order equals (LSN, index) order for random pairs', () => {
    const lsn = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean())
      .map(([hi, lo, lower]) => {
        const s = `${hi.toString(16)}/${lo.toString(16)}`;
        return lower ? s : s.toUpperCase();
      });
    const pair = fc.tuple(lsn, fc.integer({ min: 0, max: 9_999_999_999 }));
    fc.assert(
      fc.property(pair, pair, (a, b) => {
        const byString = compareVersions(sourceVersion(a[0], a[1]), sourceVersion(b[0], b[1]));
        assert.equal(byString, numericCompare(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('throws RangeError for an index out of range or not an integer', () => {
    for (const bad of [-1, 1.5, 10_000_000_000, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => sourceVersion('0/1', bad), RangeError, String(bad));
    }
  });

  it('throws RangeError for a malformed LSN', () => {
    for (const bad of ['', '16C4460', '0/', 'G/0', '0/123456789', '123456789/0']) {
      assert.throws(() => sourceVersion(bad, 0), RangeError, bad);
    }
  });
});

describe('compareVersions', () => {
  it('returns -1, 0, 1', () => {
    const a = sourceVersion('0/1', 0);
    const b = sourceVersion('0/1', 1);
    assert.equal(compareVersions(a, b), -1);
    assert.equal(compareVersions(b, a), 1);
    assert.equal(compareVersions(a, a), 0);
  });

  it('sorting versions sorts by (LSN, index)', () => {
    const pairs: [string, number][] = [
      ['1/0', 0],
      ['0/FFFFFFF', 10],
      ['0/FFFFFFF', 9],
      ['0/10', 2],
      ['0/9', 100],
      ['A/0', 0],
      ['9/FFFFFFFF', 1],
    ];
    const sorted = [...pairs].sort((x, y) =>
      compareVersions(sourceVersion(x[0], x[1]), sourceVersion(y[0], y[1])),
    );
    assert.deepEqual(sorted, [
      ['0/9', 100],
      ['0/10', 2],
      ['0/FFFFFFF', 9],
      ['0/FFFFFFF', 10],
      ['1/0', 0],
      ['9/FFFFFFFF', 1],
      ['A/0', 0],
    ]);
  });
});

describe('source epoch in the version', () => {
  it('epoch 0 keeps the exact form versions had before epochs', () => {
    assert.equal(sourceVersion('0/16C4460', 3, { epoch: 0 }), '00000000016C4460.0000000003');
    assert.equal(sourceVersion('0/16C4460', 3, { epoch: 0 }), sourceVersion('0/16C4460', 3));
  });

  it('an epoch ≥ 1 is a prefix `e<6 digits>.` before the LSN, also with a tie-break', () => {
    assert.equal(sourceVersion('0/16C4460', 3, { epoch: 1 }), 'e000001.00000000016C4460.0000000003');
    assert.equal(
      sourceVersion('0/1', 0, { epoch: 42, tieBreak: '7' }),
      `e000042.0000000000000001.0000000000.${'7'.padStart(64, '0')}`,
    );
    for (const v of [
      sourceVersion('A/B', 7, { epoch: 1 }),
      sourceVersion('A/B', 7, { epoch: 999_999, tieBreak: '123' }),
    ])
      assert.match(v, VERSION_PATTERN);
  });

  it('VERSION_PATTERN refuses a second spelling of epoch 0 and malformed prefixes', () => {
    for (const bad of [
      'e000000.00000000016C4460.0000000003',
      'E000001.00000000016C4460.0000000003',
      'e1.00000000016C4460.0000000003',
      'e0000001.00000000016C4460.0000000003',
      'e000001.',
    ])
      assert.doesNotMatch(bad, VERSION_PATTERN, bad);
  });

  it('every version of a later epoch sorts after every version of an earlier one, whatever the LSN', () => {
    const oldest = sourceVersion('0/0', 0);
    const highestOld = sourceVersion('FFFFFFFF/FFFFFFFF', 9_999_999_999, { tieBreak: '9'.repeat(64) });
    const lowestNew = sourceVersion('0/0', 0, { epoch: 1 });
    assert.ok(oldest < highestOld);
    assert.ok(highestOld < lowestNew, 'the highest epoch-0 version is below the lowest epoch-1 version');
    assert.ok(
      sourceVersion('FFFFFFFF/FFFFFFFF', 9_999_999_999, { epoch: 9 }) <
        sourceVersion('0/0', 0, { epoch: 10 }),
    );
    // Byte order (DynamoDB's) agrees with JavaScript's string order for these ASCII strings.
    assert.equal(Buffer.compare(Buffer.from(highestOld), Buffer.from(lowestNew)), -1);
  });

  it('string order equals (epoch, LSN, index) order for random triples', () => {
    const lsn = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([hi, lo]) => `${hi.toString(16)}/${lo.toString(16)}`);
    const triple = fc.tuple(
      fc.integer({ min: 0, max: 999_999 }),
      lsn,
      fc.integer({ min: 0, max: 9_999_999_999 }),
    );
    fc.assert(
      fc.property(triple, triple, (a, b) => {
        const byString = compareVersions(
          sourceVersion(a[1], a[2], { epoch: a[0] }),
          sourceVersion(b[1], b[2], { epoch: b[0] }),
        );
        const expected = a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : numericCompare([a[1], a[2]], [b[1], b[2]]);
        assert.equal(byString, expected);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an epoch out of range', () => {
    for (const bad of [-1, 1.5, 1_000_000, Number.NaN])
      assert.throws(() => sourceVersion('0/1', 0, { epoch: bad }), RangeError, String(bad));
  });

  it('parseVersion reads epoch, LSN, index and tie-break back', () => {
    assert.deepEqual(parseVersion('00000000016C4460.0000000003'), {
      epoch: 0,
      lsn: '00000000016C4460',
      index: 3,
    });
    assert.deepEqual(parseVersion(sourceVersion('0/16C4460', 3, { epoch: 12, tieBreak: '5' })), {
      epoch: 12,
      lsn: '00000000016C4460',
      index: 3,
      tieBreak: '5'.padStart(64, '0'),
    });
    assert.equal(parseVersion('e000000.00000000016C4460.0000000003'), undefined);
    assert.equal(parseVersion('nonsense'), undefined);
  });
});
