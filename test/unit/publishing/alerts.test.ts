import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  shardRetentionAlert,
  alertEntry,
  ALERT_ID_PATTERN,
  deadLetterAlert,
  DEFAULT_ANOMALY_RULE,
  inventoryAlerts,
  type Alert,
  type AlertKind,
} from '../../../domain/publishing/alerts';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { JsonValue, Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { validateAlertDetail } from '../../../domain/publishing/eventSchema';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';
import { parseTableFile, tableRegistry, useTables, type TableRegistry } from '../../../domain/core/tables';

const POS = { shardId: 'shardId-000000000001', sequenceNumber: '4959' };
const KEY = { sku: 'SKU-101', warehouse_id: 7 };
const COMMIT = '2024-01-15T10:00:00.500Z';

type Stock = { on_hand?: JsonValue; reserved?: JsonValue; low_stock_threshold?: JsonValue; sku?: string };

function row(s: Stock): Row {
  const r: Row = { ...KEY };
  for (const [k, v] of Object.entries(s)) if (v !== undefined) r[k] = v;
  return r;
}

let index = 0;
function change(
  op: ChangeEvent['op'],
  before: Stock | null,
  after: Stock | null,
  opts: { table?: string; key?: Row; index?: number; commitTs?: string } = {},
): PipelineEvent {
  return redactEvent(
    transformChange(
      {
        source: {
          db: 'app',
          schema: 'public',
          table: opts.table ?? 'inventory',
          lsn: '0/16C4460',
          commitTs: opts.commitTs ?? COMMIT,
          index: opts.index ?? index++,
        },
        op,
        key: opts.key ?? KEY,
        before: before && row(before),
        after: after && row(after),
      },
      POS,
    ),
    { secret: 'secret', keyId: 'test' },
  );
}

const kinds = (alerts: Alert[]): AlertKind[] => alerts.map((a) => a.kind);
const lowStock = (alerts: Alert[]) => alerts.filter((a) => a.kind === 'LOW_STOCK');

describe('inventoryAlerts: LOW_STOCK (edge triggered)', () => {
  it('fires when available crosses from >= threshold to < threshold', () => {
    const e = change(
      'u',
      { on_hand: 30, reserved: 20, low_stock_threshold: 10 }, // available 10: not low
      { on_hand: 30, reserved: 21, low_stock_threshold: 10 }, // available 9: low
    );
    const alerts = inventoryAlerts(e);
    assert.deepEqual(kinds(alerts), ['LOW_STOCK']);
    const a = alerts[0]!;
    assert.equal(a.detailType, 'alert.low_stock');
    assert.equal(a.entityId, 'SKU-101#7');
    assert.equal(a.sourceEventId, e.eventId);
    assert.equal(a.version, e.version);
    assert.equal(a.occurredAt, COMMIT);
    assert.match(a.alertId, ALERT_ID_PATTERN);
    assert.ok(a.alertId.startsWith(`alt_${Date.parse(COMMIT)}_`));
    assert.deepEqual(a.details, {
      sku: 'SKU-101',
      warehouseId: 7,
      available: 9,
      threshold: 10,
      previousAvailable: 10,
      onHand: 30,
      reserved: 21,
      reason: 'available 9 fell below threshold 10',
    });
  });

  it('does not fire while available stays at or above the threshold', () => {
    const e = change(
      'u',
      { on_hand: 30, reserved: 0, low_stock_threshold: 10 },
      { on_hand: 10, reserved: 0, low_stock_threshold: 10 },
    );
    assert.deepEqual(lowStock(inventoryAlerts(e)), []);
  });

  it('does not fire again for a change that stays below the threshold', () => {
    const e = change(
      'u',
      { on_hand: 9, reserved: 0, low_stock_threshold: 10 },
      { on_hand: 3, reserved: 1, low_stock_threshold: 10 },
    );
    assert.deepEqual(inventoryAlerts(e), []);
  });

  it('fires for an insert that starts below the threshold, not for one that starts at it', () => {
    const low = inventoryAlerts(change('c', null, { on_hand: 5, reserved: 1, low_stock_threshold: 10 }));
    assert.deepEqual(kinds(low), ['LOW_STOCK']);
    assert.equal(low[0]!.details.previousAvailable, null);
    assert.equal(low[0]!.details.available, 4);
    assert.deepEqual(
      inventoryAlerts(change('c', null, { on_hand: 10, reserved: 0, low_stock_threshold: 10 })),
      [],
    );
  });

  it('never fires for a delete', () => {
    assert.deepEqual(
      inventoryAlerts(change('d', { on_hand: 0, reserved: 0, low_stock_threshold: 10 }, null)),
      [],
    );
    assert.deepEqual(
      inventoryAlerts(change('d', { on_hand: 100, reserved: 0, low_stock_threshold: 10 }, null)),
      [],
    );
  });

  it('never fires when rising back above the threshold', () => {
    const e = change(
      'u',
      { on_hand: 2, reserved: 0, low_stock_threshold: 10 },
      { on_hand: 200, reserved: 0, low_stock_threshold: 10 },
    );
    assert.deepEqual(inventoryAlerts(e), []);
  });

  it('does not fire for a backfill snapshot row, even a low one', () => {
    assert.deepEqual(
      inventoryAlerts(change('r', null, { on_hand: 1, reserved: 0, low_stock_threshold: 10 })),
      [],
    );
  });

  it('does not fire for an update without a usable before image', () => {
    assert.deepEqual(
      inventoryAlerts(change('u', null, { on_hand: 1, reserved: 0, low_stock_threshold: 10 })),
      [],
    );
    assert.deepEqual(
      inventoryAlerts(change('u', {}, { on_hand: 1, reserved: 0, low_stock_threshold: 10 })), // key-only before
      [],
    );
  });

  it("takes the threshold from the after row, falling back to the before row's", () => {
    // after's threshold wins
    const raised = change(
      'u',
      { on_hand: 15, reserved: 0, low_stock_threshold: 10 },
      { on_hand: 15, reserved: 0, low_stock_threshold: 20 },
    );
    const alerts = inventoryAlerts(raised);
    assert.deepEqual(kinds(alerts), ['LOW_STOCK']);
    assert.equal(alerts[0]!.details.threshold, 20);
    // lowering the threshold below availability is not a crossing
    const lowered = change(
      'u',
      { on_hand: 15, reserved: 0, low_stock_threshold: 20 },
      { on_hand: 14, reserved: 0, low_stock_threshold: 10 },
    );
    assert.deepEqual(inventoryAlerts(lowered), []);
    // after lacks the column (unchanged TOAST): before's is used
    const toast = change(
      'u',
      { on_hand: 20, reserved: 0, low_stock_threshold: 15 },
      { on_hand: 12, reserved: 0 },
    );
    assert.equal(lowStock(inventoryAlerts(toast))[0]?.details.threshold, 15);
    // after has NULL (the row has no threshold of its own): the table file's default, not before's
    const nulled = change(
      'u',
      { on_hand: 20, reserved: 0, low_stock_threshold: 15 },
      { on_hand: 12, reserved: 0, low_stock_threshold: null },
    );
    assert.deepEqual(inventoryAlerts(nulled), [], 'available 12 is not below the default 10');
    const nulledLow = change(
      'u',
      { on_hand: 20, reserved: 0, low_stock_threshold: 15 },
      { on_hand: 9, reserved: 0, low_stock_threshold: null },
    );
    assert.equal(lowStock(inventoryAlerts(nulledLow))[0]?.details.threshold, 10);
  });

  it('a row without a threshold (column absent or NULL) uses the table file default: below 10 units (004)', () => {
    const insert = inventoryAlerts(change('c', null, { on_hand: 0, reserved: 0 }));
    assert.deepEqual(kinds(insert), ['LOW_STOCK']);
    assert.equal(insert[0]!.details.threshold, 10);
    assert.equal(insert[0]!.details.reason, 'available 0 fell below threshold 10');
    assert.deepEqual(inventoryAlerts(change('c', null, { on_hand: 10, reserved: 0 })), []);
    assert.deepEqual(
      kinds(inventoryAlerts(change('c', null, { on_hand: 9, reserved: 0, low_stock_threshold: null }))),
      ['LOW_STOCK'],
    );
    const update = inventoryAlerts(
      change('u', { on_hand: 12, reserved: 0 }, { on_hand: 9, reserved: 0, low_stock_threshold: null }),
    );
    assert.deepEqual(kinds(update), ['LOW_STOCK']);
    assert.deepEqual(
      [update[0]!.details.threshold, update[0]!.details.previousAvailable, update[0]!.details.available],
      [10, 12, 9],
    );
    // Staying low under the default is no new crossing.
    assert.deepEqual(
      inventoryAlerts(change('u', { on_hand: 9, reserved: 0 }, { on_hand: 3, reserved: 0 })),
      [],
    );
    // A threshold of 0 is a threshold (never low), not a missing one.
    assert.deepEqual(
      inventoryAlerts(change('c', null, { on_hand: 0, reserved: 0, low_stock_threshold: 0 })),
      [],
    );
  });

  it('accepts numeric strings (e.g. NUMERIC columns)', () => {
    const e = change(
      'u',
      { on_hand: '30', reserved: '20.0', low_stock_threshold: '10' },
      { on_hand: ' 30 ', reserved: '2.1e1', low_stock_threshold: '1e1' },
    );
    const alerts = inventoryAlerts(e);
    assert.deepEqual(kinds(alerts), ['LOW_STOCK']);
    assert.deepEqual(
      [alerts[0]!.details.available, alerts[0]!.details.threshold, alerts[0]!.details.previousAvailable],
      [9, 10, 10],
    );
  });

  it('never throws on non-numeric values: no alert instead', () => {
    const junk: JsonValue[] = [
      '',
      'abc',
      '12abc',
      '0x10',
      'NaN',
      'Infinity',
      true,
      null,
      [],
      { n: 1 },
      '1e400',
    ];
    for (const v of junk) {
      // A NULL threshold is no junk: the row has none, and the table file's default applies (above).
      const fields =
        v === null
          ? (['on_hand', 'reserved'] as const)
          : (['on_hand', 'reserved', 'low_stock_threshold'] as const);
      for (const field of fields) {
        const after: Stock = { on_hand: 1, reserved: 0, low_stock_threshold: 10, [field]: v };
        const before: Stock = { on_hand: 50, reserved: 0, low_stock_threshold: 10, [field]: v };
        assert.deepEqual(
          lowStock(inventoryAlerts(change('c', null, after))),
          [],
          `insert ${field}=${JSON.stringify(v)}`,
        );
        assert.doesNotThrow(() => inventoryAlerts(change('u', before, after)));
        assert.deepEqual(
          lowStock(inventoryAlerts(change('u', before, after))),
          [],
          `update ${field}=${JSON.stringify(v)}`,
        );
      }
    }
  });
});

describe('inventoryAlerts: low-stock defaults of the table file', () => {
  let shipped: TableRegistry;
  before(() => {
    shipped = tableRegistry();
    useTables(
      parseTableFile(
        {
          version: 1,
          lowStock: { threshold: 25, perSku: { 'SKU-FAST': 50 } },
          tables: {
            inventory: {
              entity: 'inventory',
              key: ['sku', 'warehouse_id'],
              operations: ['INSERT', 'UPDATE', 'DELETE'],
            },
          },
        },
        'test/low-stock.yaml',
      ),
    );
  });
  after(() => useTables(shipped));

  const thresholdOf = (sku: string, s: Stock) =>
    lowStock(inventoryAlerts(change('c', null, { ...s, sku }, { key: { sku, warehouse_id: 7 } })))[0]?.details
      .threshold;

  it("the file's threshold for a row without one; per SKU where the file names the SKU", () => {
    const plain = { on_hand: 0, reserved: 0 };
    assert.equal(thresholdOf('SKU-101', plain), 25);
    assert.equal(thresholdOf('SKU-FAST', plain), 50);
    assert.equal(thresholdOf('SKU-FAST', { ...plain, low_stock_threshold: null }), 50);
    // The row's own value wins over both.
    assert.equal(thresholdOf('SKU-FAST', { ...plain, low_stock_threshold: 5 }), 5);
    assert.equal(thresholdOf('SKU-101', { on_hand: 30, reserved: 0 }), undefined, '30 is not below 25');
    assert.equal(thresholdOf('SKU-FAST', { on_hand: 30, reserved: 0 }), 50);
  });

  it("a table's own lowStockThreshold overrides the file's, not a SKU's", () => {
    const doc = {
      version: 1,
      lowStock: { threshold: 25, perSku: { 'SKU-FAST': 50 } },
      tables: {
        inventory: {
          entity: 'inventory',
          key: ['sku', 'warehouse_id'],
          operations: ['INSERT', 'UPDATE', 'DELETE'],
          lowStockThreshold: 3,
        },
      },
    };
    const before = tableRegistry();
    useTables(parseTableFile(doc, 'test/low-stock-table.yaml'));
    try {
      assert.equal(thresholdOf('SKU-101', { on_hand: 2, reserved: 0 }), 3);
      assert.equal(thresholdOf('SKU-101', { on_hand: 4, reserved: 0 }), undefined);
      assert.equal(thresholdOf('SKU-FAST', { on_hand: 4, reserved: 0 }), 50);
    } finally {
      useTables(before);
    }
  });
});

describe('inventoryAlerts: STOCK_ANOMALY', () => {
  // Threshold 0: no LOW_STOCK for the non-negative quantities here (the default, 10, would fire).
  const update = (from: JsonValue, to: JsonValue) =>
    change(
      'u',
      { on_hand: from, reserved: 0, low_stock_threshold: 0 },
      { on_hand: to, reserved: 0, low_stock_threshold: 0 },
    );

  it('fires for a drop of at least minDropUnits AND minDropRatio (boundaries inclusive)', () => {
    // exactly 20 units and exactly 50%
    const alerts = inventoryAlerts(update(40, 20));
    assert.deepEqual(kinds(alerts), ['STOCK_ANOMALY']);
    const a = alerts[0]!;
    assert.equal(a.detailType, 'alert.stock_anomaly');
    assert.deepEqual(a.details, {
      sku: 'SKU-101',
      warehouseId: 7,
      previousOnHand: 40,
      onHand: 20,
      drop: 20,
      dropRatio: 0.5,
      reason: 'on_hand dropped by 20 (from 40 to 20)',
    });
  });

  it('does not fire just below either boundary', () => {
    assert.deepEqual(inventoryAlerts(update(38, 19)), []); // 19 units, 50%
    assert.deepEqual(inventoryAlerts(update(41, 21)), []); // 20 units, 48.8%
    assert.deepEqual(inventoryAlerts(update(1000, 600)), []); // many units, 40%
    assert.deepEqual(inventoryAlerts(update(30, 12)), []); // 60%, but only 18 units
    assert.deepEqual(kinds(inventoryAlerts(update(1000, 500))), ['STOCK_ANOMALY']);
  });

  it('honours a custom rule, with exact decimal ratios at the boundary', () => {
    const rule = { minDropUnits: 3, minDropRatio: 0.3 };
    assert.deepEqual(kinds(inventoryAlerts(update(10, 7), rule)), ['STOCK_ANOMALY']);
    assert.deepEqual(inventoryAlerts(update(10, 8), rule), []);
    assert.deepEqual(kinds(inventoryAlerts(update('10', '7'), rule)), ['STOCK_ANOMALY']);
    assert.throws(() => inventoryAlerts(update(10, 7), { minDropUnits: -1, minDropRatio: 0.3 }), RangeError);
    assert.throws(
      () => inventoryAlerts(update(10, 7), { minDropUnits: 1, minDropRatio: Number.NaN }),
      RangeError,
    );
  });

  it('only for updates with numeric before and after on_hand', () => {
    assert.deepEqual(inventoryAlerts(update(100, 'lots')), []);
    assert.deepEqual(inventoryAlerts(update(null, 0)), []);
    // No positive previous quantity: no anomaly (negative stock is below threshold 0, though).
    assert.deepEqual(kinds(inventoryAlerts(update(0, -50))), ['LOW_STOCK']);
    assert.deepEqual(inventoryAlerts(update(100, 150)), []); // a rise
    assert.deepEqual(inventoryAlerts(change('d', { on_hand: 100, reserved: 0 }, null)), []);
    assert.deepEqual(inventoryAlerts(change('r', null, { on_hand: 0, reserved: 0 })), []);
  });

  it('can fire together with LOW_STOCK', () => {
    const e = change(
      'u',
      { on_hand: 100, reserved: 0, low_stock_threshold: 10 },
      { on_hand: 5, reserved: 0, low_stock_threshold: 10 },
    );
    assert.deepEqual(kinds(inventoryAlerts(e)), ['LOW_STOCK', 'STOCK_ANOMALY']);
  });

  it('is the default rule { minDropUnits: 20, minDropRatio: 0.5 }', () => {
    assert.deepEqual(DEFAULT_ANOMALY_RULE, { minDropUnits: 20, minDropRatio: 0.5 });
  });
});

describe('inventoryAlerts: identity and scope', () => {
  const before = { on_hand: 100, reserved: 0, low_stock_threshold: 10 };
  const after = { on_hand: 5, reserved: 0, low_stock_threshold: 10 };

  it('gives the same change the same alert IDs (redelivery dedups), distinct per kind and per change', () => {
    const e1 = change('u', before, after, { index: 42 });
    const e2 = change('u', before, after, { index: 42 });
    assert.equal(e1.eventId, e2.eventId);
    const a1 = inventoryAlerts(e1);
    const a2 = inventoryAlerts(e2);
    assert.deepEqual(a1, a2);
    assert.notEqual(a1[0]!.alertId, a1[1]!.alertId);
    for (const a of a1) assert.match(a.alertId, ALERT_ID_PATTERN);
    const other = inventoryAlerts(change('u', before, after, { index: 43 }));
    assert.notEqual(other[0]!.alertId, a1[0]!.alertId);
    assert.equal(
      inventoryAlerts(JSON.parse(JSON.stringify(e1)) as PipelineEvent)[0]!.alertId,
      a1[0]!.alertId,
    );
  });

  it('returns [] for any other table, even for rows that look like stock', () => {
    const stockLike = (table: string, key: Row, op: ChangeEvent['op']) =>
      transformChange(
        {
          source: { db: 'app', schema: 'public', table, lsn: '0/1', commitTs: COMMIT, index: 0 },
          op,
          key,
          before: op === 'c' ? null : { ...key, on_hand: 100, reserved: 0, low_stock_threshold: 10 },
          after: { ...key, on_hand: 1, reserved: 0, low_stock_threshold: 10 },
        },
        POS,
      );
    assert.deepEqual(
      inventoryAlerts(stockLike('products', { product_id: 'p-101', sku: 'sku-101' }, 'u')),
      [],
    );
    assert.deepEqual(inventoryAlerts(stockLike('reservations', { reservation_id: 'r1' }, 'c')), []);
    assert.deepEqual(inventoryAlerts(stockLike('order_items', { order_id: 'o1', line_no: 1 }, 'u')), []);
  });

  it('puts only inventory numbers and keys in an alert (no other row content)', () => {
    const e = change('u', { ...before }, { ...after });
    // Extra, possibly sensitive columns on the row never reach the alert.
    e.after = { ...e.after!, note: 'call Ann at ann@example.com', supplier_contact: '+1-555-0100' };
    e.before = { ...e.before!, note: 'ok' };
    for (const a of inventoryAlerts(e)) {
      const text = JSON.stringify(a);
      assert.ok(!/ann|555|note|supplier/i.test(text), text);
      for (const [k, v] of Object.entries(a.details)) {
        if (k === 'sku') assert.equal(v, 'SKU-101');
        else if (k === 'warehouseId') assert.equal(v, 7);
        else if (k === 'reason') assert.match(String(v), /^[a-z_ ()]+( -?[0-9.]+[a-z_ ()]*)+$/);
        else assert.ok(v === null || typeof v === 'number', `${k}: ${JSON.stringify(v)}`);
      }
    }
  });
});

describe('inventoryAlerts: property', () => {
  it('LOW_STOCK alerts over consecutive updates = downward crossings of the threshold', () => {
    const stock = fc.record({
      onHand: fc.integer({ min: 0, max: 60 }),
      reserved: fc.integer({ min: 0, max: 30 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        stock,
        fc.array(stock, { maxLength: 30 }),
        fc.boolean(),
        (threshold, first, rest, asStrings) => {
          const val = (n: number): JsonValue => (asStrings ? String(n) : n);
          const img = (s: { onHand: number; reserved: number }): Stock => ({
            on_hand: val(s.onHand),
            reserved: val(s.reserved),
            low_stock_threshold: val(threshold),
          });
          const seq = [first, ...rest];
          // Insert of the first state, then each next state as an update from the previous one.
          let alerts = inventoryAlerts(change('c', null, img(first), { index: 0 }));
          for (let i = 1; i < seq.length; i++) {
            alerts = alerts.concat(
              inventoryAlerts(change('u', img(seq[i - 1]!), img(seq[i]!), { index: i })),
            );
          }
          const avail = seq.map((s) => s.onHand - s.reserved);
          let crossings = avail[0]! < threshold ? 1 : 0;
          for (let i = 1; i < avail.length; i++)
            if (avail[i - 1]! >= threshold && avail[i]! < threshold) crossings++;
          const low = lowStock(alerts);
          assert.equal(low.length, crossings);
          assert.equal(new Set(low.map((a) => a.alertId)).size, low.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('deadLetterAlert', () => {
  const d = {
    stream: 'cdc-changes',
    shardId: 'shardId-000000000002',
    sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
    category: 'POISON',
    reason: 'unsupported record format',
    at: '2024-01-15T10:00:00.000Z',
  };

  it('describes the parked record, with a deterministic ID', () => {
    const a = deadLetterAlert(d);
    assert.equal(a.kind, 'DEAD_LETTER');
    assert.equal(a.detailType, 'alert.dead_letter');
    assert.equal(a.entityId, `cdc-changes#shardId-000000000002#${d.sequenceNumber}`);
    assert.equal(a.occurredAt, d.at);
    assert.equal(a.sourceEventId, undefined);
    assert.deepEqual(a.details, {
      stream: d.stream,
      shardId: d.shardId,
      sequenceNumber: d.sequenceNumber,
      category: 'POISON',
      reason: 'unsupported record format',
    });
    assert.match(a.alertId, ALERT_ID_PATTERN);
    assert.ok(a.alertId.startsWith(`alt_${Date.parse(d.at)}_`));
    assert.equal(deadLetterAlert({ ...d, reason: 'other', category: 'X' }).alertId, a.alertId);
    assert.notEqual(deadLetterAlert({ ...d, sequenceNumber: '1' }).alertId, a.alertId);
    assert.notEqual(deadLetterAlert({ ...d, shardId: 'shardId-000000000003' }).alertId, a.alertId);
  });

  it('bounds the reason and masks e-mail addresses in it', () => {
    const a = deadLetterAlert({ ...d, reason: `bad row for ann.lee@example.com: ${'x'.repeat(2000)}` });
    const reason = String(a.details.reason);
    assert.ok(reason.length <= 500);
    assert.ok(!reason.includes('ann.lee@example.com'));
    assert.ok(reason.startsWith('bad row for <redacted>:'));
  });

  it('refuses an invalid time', () => {
    assert.throws(() => deadLetterAlert({ ...d, at: 'later' }), RangeError);
  });
});

describe('alertEntry', () => {
  it('builds the EventBridge entry matched by the alert. detail-type rule', () => {
    const a = inventoryAlerts(
      change('u', { on_hand: 30, reserved: 20, low_stock_threshold: 10 }, { on_hand: 30, reserved: 25 }),
    )[0]!;
    const entry = alertEntry(a, 'cdc-bus');
    assert.equal(entry.Source, 'cdc-pipeline.alerts');
    assert.equal(entry.DetailType, 'alert.low_stock');
    assert.equal(entry.EventBusName, 'cdc-bus');
    assert.equal(entry.Time.toISOString(), COMMIT);
    assert.deepEqual(JSON.parse(entry.Detail), {
      alertId: a.alertId,
      kind: 'LOW_STOCK',
      entityId: 'SKU-101#7',
      occurredAt: COMMIT,
      sourceEventId: a.sourceEventId,
      version: a.version,
      details: a.details,
    });
    assert.deepEqual(validateAlertDetail(entry.Detail), { ok: true });
  });

  it('omits sourceEventId and version for a dead letter', () => {
    const entry = alertEntry(
      deadLetterAlert({
        stream: 's',
        shardId: 'sh',
        sequenceNumber: '1',
        category: 'C',
        reason: 'r',
        at: COMMIT,
      }),
      'bus',
    );
    const detail = JSON.parse(entry.Detail) as Record<string, unknown>;
    assert.ok(!('sourceEventId' in detail) && !('version' in detail));
    assert.equal(entry.DetailType, 'alert.dead_letter');
    assert.deepEqual(validateAlertDetail(detail), { ok: true });
  });

  it('shard retention alerts: valid details; a retention gap is one alert per checkpoint', () => {
    const base = {
      stream: 's',
      consumer: 'c',
      shardId: 'shardId-1',
      checkpoint: '4960',
      lagMs: 60_000,
      retentionMs: 86_400_000,
    };
    for (const kind of ['SHARD_LAG', 'RETENTION_GAP'] as const) {
      const entry = alertEntry(shardRetentionAlert({ kind, ...base, at: COMMIT }), 'bus');
      assert.equal(entry.DetailType, kind === 'SHARD_LAG' ? 'alert.shard_lag' : 'alert.retention_gap');
      assert.deepEqual(validateAlertDetail(entry.Detail), { ok: true });
    }
    const later = new Date(Date.parse(COMMIT) + 3_600_000).toISOString();
    assert.equal(
      shardRetentionAlert({ kind: 'RETENTION_GAP', ...base, at: COMMIT }).alertId,
      shardRetentionAlert({ kind: 'RETENTION_GAP', ...base, at: later }).alertId,
    );
  });
});
