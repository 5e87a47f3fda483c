import assert from 'node:assert/strict';
import {
  deletedHoldRelease,
  NOT_DUE_MAX_BACKOFF_MS,
  NOT_DUE_MIN_BACKOFF_MS,
  notDueRetryAt,
} from '../../../domain/reservations/expiry';
import type { HoldChange } from '../../../domain/reservations/hold';

const held: HoldChange = {
  reservationId: 'r-1',
  status: 'HELD',
  sku: 'SKU-1',
  warehouseId: 2,
  quantity: 3,
  expiresAt: '2026-11-23T10:00:00.000Z',
  version: '0000000000000010.0000000000',
};
const deleted = (extra: Partial<HoldChange> = {}): HoldChange => ({
  ...held,
  status: 'DELETED',
  version: '0000000000000011.0000000000',
  ...extra,
});

describe('reservation expiry decisions (domain/reservations/expiry.ts)', () => {
  it('not due: waits at least 1 s, doubling, capped; or until PostgreSQL deadline if later', () => {
    const now = 1_000_000;
    const past = now - 5_000; // PostgreSQL's clock behind: its deadline passed by ours
    const waits = [1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => notDueRetryAt(past, now, n) - now);
    assert.deepEqual(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
    assert.equal(NOT_DUE_MIN_BACKOFF_MS, 1_000);
    assert.equal(NOT_DUE_MAX_BACKOFF_MS, 60_000);
    // An extension not yet told: PostgreSQL's later deadline decides.
    assert.equal(notDueRetryAt(now + 30 * 60_000, now, 1), now + 30 * 60_000);
    assert.equal(notDueRetryAt(now + 500, now, 1), now + 1_000, 'never sooner than the backoff');
    // Nonsense in, still never now.
    assert.equal(notDueRetryAt(Number.NaN, now, 0), now + 1_000);
    assert.equal(notDueRetryAt(Number.NaN, now, -3), now + 1_000);
  });

  it('a row deleted while HELD gives back its units: from the before image, else from the hold it knew', () => {
    const back = { reservationId: 'r-1', sku: 'SKU-1', warehouseId: 2, quantity: 3 };
    assert.deepEqual(deletedHoldRelease(held, deleted({ statusBeforeDelete: 'HELD' })), back);
    assert.deepEqual(deletedHoldRelease(undefined, deleted({ statusBeforeDelete: 'HELD' })), back);
    const keyOnly = deleted({ sku: '', warehouseId: 0, quantity: 0, expiresAt: '' });
    assert.deepEqual(deletedHoldRelease(held, keyOnly), back);
  });

  it('nothing is owed for a row that left HELD before its delete, or when nobody knows its units', () => {
    for (const s of ['CONFIRMED', 'CANCELLED', 'EXPIRED'] as const)
      assert.equal(deletedHoldRelease(held, deleted({ statusBeforeDelete: s })), undefined, s);
    const keyOnly = deleted({ sku: '', warehouseId: 0, quantity: 0, expiresAt: '' });
    assert.equal(deletedHoldRelease(undefined, keyOnly), undefined);
    assert.equal(deletedHoldRelease({ ...held, reservationId: 'r-2' }, keyOnly), undefined, 'another hold');
    assert.equal(deletedHoldRelease(held, held), undefined, 'not a delete');
  });
});
