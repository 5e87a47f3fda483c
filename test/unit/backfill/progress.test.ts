import assert from 'node:assert/strict';
import {
  chunkLimit,
  etaSeconds,
  formatEta,
  groupDigits,
  measuredRate,
  pacingDelayMs,
  percentDone,
  progressBar,
  progressLine,
} from '../../../domain/backfill/progress';

describe('backfill pace and progress', () => {
  it('sleeps until the rows read are due at the rate', () => {
    assert.equal(pacingDelayMs({ startMs: 0, rows: 300 }, 300, 100), 900);
    assert.equal(pacingDelayMs({ startMs: 0, rows: 300 }, 300, 1500), 0, 'behind: no sleep');
    assert.equal(pacingDelayMs({ startMs: 1000, rows: 1000 }, 2000, 1000), 500);
    assert.equal(pacingDelayMs({ startMs: 0, rows: 1 }, 0, 0), 0);
  });

  it('keeps a chunk within one second of the rate', () => {
    assert.equal(chunkLimit(1000, 2000), 1000);
    assert.equal(chunkLimit(1000, 300), 300);
    assert.equal(chunkLimit(1000, 0.5), 1);
  });

  it('measures the rate over the samples and the ETA from the estimate', () => {
    assert.equal(measuredRate([{ atMs: 0, rows: 0 }]), undefined);
    assert.equal(
      measuredRate([
        { atMs: 0, rows: 0 },
        { atMs: 500, rows: 100 },
        { atMs: 2000, rows: 1000 },
      ]),
      500,
    );
    assert.equal(etaSeconds(52_000, 100_000, 1830), 27);
    assert.equal(etaSeconds(120, 100, 10), 0);
    assert.equal(etaSeconds(1, undefined, 10), undefined);
    assert.equal(etaSeconds(1, 100, 0), undefined);
    assert.equal(percentDone(52_000, 100_000), 52);
    assert.equal(percentDone(200, 100), 99, 'an estimate exceeded stays below 100 until done');
    assert.equal(percentDone(200, 100, true), 100);
  });

  it('prints the progress line', () => {
    assert.equal(groupDigits(1234567), '1,234,567');
    assert.equal(groupDigits(999), '999');
    assert.equal(progressBar(52), '[#####-----] 52%');
    assert.equal(progressBar(undefined), '[??????????]');
    assert.equal(formatEta(26), '26 s');
    assert.equal(formatEta(245), '4 min 05 s');
    assert.equal(
      progressLine({ done: 52_000, estimate: 100_000, rate: 1830 }),
      '[#####-----] 52% 52,000/100,000 rows, 1,830 rows/s, ETA 27 s',
    );
    assert.equal(progressLine({ done: 10, finished: true, estimate: 8 }), '[##########] 100% 10/10 rows');
  });
});
