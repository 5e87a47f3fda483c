import assert from 'node:assert/strict';
import {
  keyOfEntity,
  snapshotChange,
  snapshotLsn,
  snapshotVersion,
  tombstoneChange,
} from '../../../domain/backfill/snapshot';
import { ChangeEventSchema } from '../../../domain/core/changeEvent';
import { sourceVersion } from '../../../domain/processing/version';
import { transformChange } from '../../../domain/processing/transform';

describe('snapshot version', () => {
  it('is <hex(L−1)>.9999999999', () => {
    assert.equal(snapshotLsn('0/16C4460'), '0/16C445F');
    assert.equal(snapshotVersion('0/16C4460'), '00000000016C445F.9999999999');
    assert.equal(snapshotLsn('1/0'), '0/FFFFFFFF');
    assert.throws(() => snapshotLsn('0/0'), /no predecessor/);
  });

  it('sorts after every change with commit LSN < L and before every change with LSN ≥ L', () => {
    const v = snapshotVersion('0/16C4460');
    assert.ok(sourceVersion('0/16C445F', 0) < v, 'first change at L−1');
    assert.ok(sourceVersion('0/16C445F', 9_999_999_998) < v, 'last possible index at L−1');
    assert.ok(sourceVersion('0/16C4400', 5) < v);
    assert.ok(v < sourceVersion('0/16C4460', 0), 'first change at L');
    assert.ok(v < sourceVersion('0/16C4461', 0));
    assert.ok(v < sourceVersion('1/0', 0));
    // Timestamp-ordered formats carry a third part: a snapshot version does not compare with them.
    assert.ok(snapshotVersion('0/16C4460') < snapshotVersion('0/16C4461'));
  });

  it('makes op r changes that validate and transform like any change', () => {
    const ctx = {
      db: 'inventory',
      schema: 'public',
      table: 'inventory',
      watermark: '0/16C4460',
      readAt: '2026-11-23T10:00:00.000Z',
    };
    const row = {
      sku: 'SKU-1',
      warehouse_id: 3,
      on_hand: 10,
      reserved: 2,
      low_stock_threshold: null,
      updated_at: '2026-11-23T09:00:00.000000Z',
    };
    const change = snapshotChange(ctx, ['sku', 'warehouse_id'], row);
    assert.ok(ChangeEventSchema.safeParse(change).success);
    assert.deepEqual(change.key, { sku: 'SKU-1', warehouse_id: 3 });
    assert.equal(change.source.snapshot, true);
    const e = transformChange(change, { shardId: 'backfill:x', sequenceNumber: '0' });
    assert.equal(e.version, '00000000016C445F.9999999999');
    assert.equal(e.eventType, 'inventory.snapshot');
    assert.equal(e.op, 'r');
    const d = transformChange(tombstoneChange(ctx, { sku: 'SKU-1', warehouse_id: 3 }), {
      shardId: 'b',
      sequenceNumber: '0',
    });
    assert.equal(d.op, 'd');
    assert.equal(d.version, e.version);
    assert.ok(ChangeEventSchema.safeParse(tombstoneChange(ctx, { sku: 'x', warehouse_id: 1 })).success);
  });

  it('reads the key of a DynamoDB item from its row, else from its entityId', () => {
    assert.deepEqual(
      keyOfEntity({ entityId: 'A#1', row: { sku: 'A', warehouse_id: 1, on_hand: 3 } }, [
        'sku',
        'warehouse_id',
      ]),
      {
        sku: 'A',
        warehouse_id: 1,
      },
    );
    assert.deepEqual(keyOfEntity({ entityId: 'A#1' }, ['sku', 'warehouse_id']), {
      sku: 'A',
      warehouse_id: '1',
    });
    assert.deepEqual(keyOfEntity({ entityId: 'u#1' }, ['id']), { id: 'u#1' });
    assert.equal(keyOfEntity({ entityId: 'A#B#1' }, ['sku', 'warehouse_id']), undefined);
  });
});
