import assert from 'node:assert/strict';
import { parseTableFile, tableRegistry, useTables, type TableRegistry } from '../../../domain/core/tables';
import { inventoryView, lowStockThreshold } from '../../../domain/inventory/inventoryRow';

describe('lowStockThreshold (inventory rows)', () => {
  const row = { sku: 'SKU-1', warehouse_id: 1, on_hand: 5, reserved: 0 };

  it("the row's own value, a number or a numeric string", () => {
    assert.equal(lowStockThreshold({ ...row, low_stock_threshold: 7 }), 7);
    assert.equal(lowStockThreshold({ ...row, low_stock_threshold: '12' }), 12);
    assert.equal(lowStockThreshold({ ...row, low_stock_threshold: 0 }), 0);
  });

  it("column absent (a partial image): the other image's value", () => {
    assert.equal(lowStockThreshold(row, { ...row, low_stock_threshold: 15 }), 15);
  });

  it('NULL, or absent from both images: the table file default, 10 (004)', () => {
    assert.equal(lowStockThreshold({ ...row, low_stock_threshold: null }), 10);
    assert.equal(
      lowStockThreshold({ ...row, low_stock_threshold: null }, { ...row, low_stock_threshold: 15 }),
      10,
    );
    assert.equal(lowStockThreshold(row), 10);
    assert.equal(lowStockThreshold(row, { ...row, low_stock_threshold: null }), 10);
  });

  it('a present but non-numeric value is no threshold; no row, none', () => {
    for (const bad of ['abc', '', true, { n: 1 }, [], 'Infinity'])
      assert.equal(lowStockThreshold({ ...row, low_stock_threshold: bad }), undefined, JSON.stringify(bad));
    assert.equal(lowStockThreshold(null), undefined);
    assert.equal(lowStockThreshold(undefined), undefined);
  });

  it('inventoryView shows the threshold in use, the default for a row without one', () => {
    assert.deepEqual(inventoryView({ ...row, low_stock_threshold: null }), {
      onHand: 5,
      reserved: 0,
      available: 5,
      lowStockThreshold: 10,
    });
    assert.equal(inventoryView({ ...row, low_stock_threshold: 3 }).lowStockThreshold, 3);
    assert.equal(inventoryView({ ...row, low_stock_threshold: 'x' }).lowStockThreshold, undefined);
  });

  describe('with lowStock settings of the table file', () => {
    let shipped: TableRegistry;
    before(() => {
      shipped = tableRegistry();
      useTables(
        parseTableFile(
          {
            version: 1,
            lowStock: { threshold: 20, perSku: { 'SKU-FAST': 50 } },
            tables: {
              inventory: { entity: 'inventory', key: ['sku', 'warehouse_id'], operations: ['UPDATE'] },
            },
          },
          'test/low-stock.yaml',
        ),
      );
    });
    after(() => useTables(shipped));

    it("per SKU, else the file's threshold; the SKU from the other image when the row lacks it", () => {
      assert.equal(lowStockThreshold({ ...row, low_stock_threshold: null }), 20);
      assert.equal(lowStockThreshold({ ...row, sku: 'SKU-FAST', low_stock_threshold: null }), 50);
      assert.equal(lowStockThreshold({ on_hand: 1 }, { sku: 'SKU-FAST' }), 50);
      assert.equal(lowStockThreshold({ ...row, sku: 'SKU-FAST', low_stock_threshold: 4 }), 4);
      assert.equal(inventoryView({ ...row, sku: 'SKU-FAST' }).lowStockThreshold, 50);
    });
  });
});
