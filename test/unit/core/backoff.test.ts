import assert from 'node:assert/strict';
import {
  backoffCeilingMs,
  backoffMs,
  RETRY_BACKOFF,
  type BackoffSettings,
} from '../../../domain/core/backoff';
import { seededRandom } from '../../support/seededRandom';

const s: BackoffSettings = { baseMs: 100, capMs: 5_000, maxAttempts: 8 };

describe('backoff with full jitter (domain/core/backoff.ts)', () => {
  it('the ceiling is min(cap, base × 2^attempt): grows with the attempt up to the cap, and stays there', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeilingMs(a, s)),
      [200, 400, 800, 1_600, 3_200, 5_000, 5_000],
    );
    assert.equal(backoffCeilingMs(10_000, s), 5_000, 'a huge attempt number does not overflow');
    assert.equal(backoffCeilingMs(0, s), 100);
    assert.equal(backoffCeilingMs(-3, s), 100, 'a negative attempt counts as 0');
  });

  it('a wait is random(0, ceiling): never negative, never above the ceiling or the cap', () => {
    const random = seededRandom(1);
    for (let attempt = 0; attempt < 40; attempt++)
      for (let i = 0; i < 50; i++) {
        const ms = backoffMs(attempt, s, random);
        assert.ok(ms >= 0 && ms <= backoffCeilingMs(attempt, s) && ms <= s.capMs, `${attempt}: ${ms}`);
        assert.ok(Number.isInteger(ms));
      }
    // The extremes of the random source map to the ends of the range.
    assert.equal(
      backoffMs(3, s, () => 0),
      0,
    );
    assert.equal(
      backoffMs(3, s, () => 0.999_999_999),
      800,
    );
    assert.equal(
      backoffMs(3, s, () => 1),
      800,
      'a source returning 1 still stays within the ceiling',
    );
  });

  it('the waits are spread over the whole range (1,000 seeded draws at the cap)', () => {
    const random = seededRandom(42);
    const draws = Array.from({ length: 1_000 }, () => backoffMs(20, s, random));
    const buckets = new Array<number>(10).fill(0);
    for (const d of draws) buckets[Math.min(9, Math.floor(d / 500))]++;
    // Each tenth of [0, 5,000] holds about 100 draws: none empty, none holding twice its share.
    for (const [i, n] of buckets.entries()) assert.ok(n >= 60 && n <= 140, `bucket ${i}: ${n}`);
    assert.ok(Math.min(...draws) < 50 && Math.max(...draws) > 4_950);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.abs(mean - 2_500) < 200, `mean ${mean}`);
  });

  it('is deterministic with an injected random source', () => {
    const a = [1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, s, seededRandom(7)));
    const b = [1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, s, seededRandom(7)));
    assert.deepEqual(a, b);
    assert.deepEqual(
      [1, 2, 3].map((n) => backoffMs(n, s, () => 0.5)),
      [100, 200, 400],
    );
  });

  it('with a floor, waits are floor + random(0, ceiling − floor), the ceiling never below the floor', () => {
    const poll: BackoffSettings = { baseMs: 100, capMs: 500, floorMs: 200 };
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => backoffCeilingMs(a, poll)),
      [200, 400, 500, 500],
    );
    assert.equal(
      backoffMs(1, poll, () => 0.5),
      200,
      'ceiling at the floor: no jitter',
    );
    assert.equal(
      backoffMs(2, poll, () => 0),
      200,
    );
    assert.equal(
      backoffMs(2, poll, () => 0.5),
      300,
    );
    const random = seededRandom(3);
    for (let i = 0; i < 1_000; i++) {
      const ms = backoffMs(1 + (i % 6), poll, random);
      assert.ok(ms >= 200 && ms <= 500, String(ms));
    }
  });

  it('the settings of every client kind live in one object, each valid', () => {
    assert.deepEqual(Object.keys(RETRY_BACKOFF).sort(), [
      'dynamoMerge',
      'eventBridgePut',
      'kinesisPut',
      'streamPoll',
    ]);
    for (const [kind, k] of Object.entries(RETRY_BACKOFF) as [string, BackoffSettings][]) {
      assert.ok(k.baseMs > 0 && k.capMs >= k.baseMs, kind);
      assert.ok((k.floorMs ?? 0) >= 0 && (k.floorMs ?? 0) <= k.capMs, kind);
      if (k.maxAttempts !== undefined) assert.ok(Number.isInteger(k.maxAttempts) && k.maxAttempts >= 1, kind);
    }
    // The attempts each loop had before the shared settings (behaviour kept).
    assert.equal(RETRY_BACKOFF.kinesisPut.maxAttempts, 8);
    assert.equal(RETRY_BACKOFF.eventBridgePut.maxAttempts, 5);
    assert.equal(RETRY_BACKOFF.dynamoMerge.maxAttempts, 5);
    // Idle polling never calls GetRecords more than 5 times a second on a shard, and on average
    // about 4 times (as the 50 → 250 ms backoff before jitter).
    assert.ok(RETRY_BACKOFF.streamPoll.floorMs >= 200);
    assert.equal((RETRY_BACKOFF.streamPoll.floorMs + RETRY_BACKOFF.streamPoll.capMs) / 2, 250);
  });
});
