import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';
import { alertEntry, deadLetterAlert, inventoryAlerts } from '../../../domain/publishing/alerts';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import { Board, PendingChanges, parseMessage, type BoardSnapshot } from '../../../domain/wallboard/board';

/**
 * The wallboard's state (issue 14, part 3). Messages are built the way the pipeline builds them
 * (transform → redact → toEventEntry, and alertEntry for alerts) and wrapped in the EventBridge
 * envelope an SQS target receives.
 */
const NOW = new Date('2024-01-15T10:00:01.000Z');
const POS = { shardId: 'shardId-000000000001', sequenceNumber: '4959' };

function envelope(entry: { Source: string; DetailType: string; Detail: string }): string {
  return JSON.stringify({
    version: '0',
    id: 'f3c5a1e2-0000-4000-8000-000000000000',
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '123456789012',
    time: '2024-01-15T10:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: JSON.parse(entry.Detail) as unknown,
  });
}

/** The pipeline event of one change; `lsn` orders changes (one transaction per LSN here). */
function event(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  before: Row | null,
  after: Row | null,
  lsn: number,
  commitTs = new Date(Date.parse('2024-01-15T10:00:00.000Z') + lsn).toISOString(),
): PipelineEvent {
  return redactEvent(
    transformChange(
      {
        source: {
          db: 'app',
          schema: 'public',
          table,
          lsn: `0/${(0x1000 + lsn).toString(16)}`,
          commitTs,
          index: 0,
        },
        op,
        key,
        before,
        after,
      },
      POS,
    ),
    { secret: 'wallboard-test-secret', keyId: 'test' },
  );
}

const message = (e: PipelineEvent) => envelope(toEventEntry(e, 'cdc-bus', '2024-01-15T10:00:00.900Z'));

const stockKey = (sku: string, wh = 1) => ({ sku, warehouse_id: wh });
const inv = (
  sku: string,
  onHand: number,
  reserved: number,
  threshold: number | null = null,
  wh = 1,
): Row => ({
  ...stockKey(sku, wh),
  on_hand: onHand,
  reserved,
  low_stock_threshold: threshold,
});
const insertStock = (r: Row, lsn: number) =>
  message(event('inventory', 'c', stockKey(String(r.sku), Number(r.warehouse_id)), null, r, lsn));
const updateStock = (before: Row, after: Row, lsn: number) =>
  message(
    event('inventory', 'u', stockKey(String(after.sku), Number(after.warehouse_id)), before, after, lsn),
  );
const deleteStock = (before: Row, lsn: number) =>
  message(
    event('inventory', 'd', stockKey(String(before.sku), Number(before.warehouse_id)), before, null, lsn),
  );

const order = (id: string, status: string, amount = '10.00') => ({
  order_id: id,
  status,
  total_amount: amount,
  currency: 'EUR',
  payment_details: { card: '4111111111111111' },
  shipping_address: '1 Main St',
});
const insertOrder = (id: string, lsn: number, status = 'new') =>
  message(event('orders', 'c', { order_id: id }, null, order(id, status), lsn));
const updateOrder = (id: string, from: string, to: string, lsn: number) =>
  message(event('orders', 'u', { order_id: id }, order(id, from), order(id, to), lsn));

function applyAll(board: Board, bodies: string[]) {
  return bodies.map((b) => board.apply(b, NOW));
}

/** The snapshot without what depends on arrival (revision, counts, apply times). */
function content(s: BoardSnapshot) {
  const strip = <T extends { appliedAt: string }>({ appliedAt: _, ...rest }: T) => rest;
  return {
    stock: s.stock.map(strip),
    orders: s.orders.map(strip),
    alerts: s.alerts.map(strip),
    activity: s.activity.map(strip),
  };
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('wallboard board: stock', () => {
  it('shows a new row with on hand, reserved, available, the default threshold and the low flag', () => {
    const board = new Board();
    const [r] = applyAll(board, [insertStock(inv('SKU-A', 100, 5), 1)]);
    assert.equal(r.outcome, 'applied');
    assert.deepEqual(r.touched.stock, ['SKU-A#1']);
    const row = board.stockRow('SKU-A#1');
    assert.ok(row);
    assert.deepEqual(
      [row.sku, row.warehouseId, row.onHand, row.reserved, row.available, row.threshold, row.low],
      ['SKU-A', '1', 100, 5, 95, 10, false],
    );
    assert.equal(row.lastEventType, 'inventory.created');
    assert.equal(row.changedAt, '2024-01-15T10:00:00.001Z');
    assert.equal(row.publishedAt, '2024-01-15T10:00:00.900Z');
    assert.equal(row.appliedAt, NOW.toISOString());
  });

  it('merges an update that carries only the changed columns, and flags low stock by the row’s own threshold', () => {
    const board = new Board();
    applyAll(board, [
      insertStock(inv('SKU-A', 100, 5, 50), 1),
      updateStock(inv('SKU-A', 100, 5, 50), inv('SKU-A', 100, 60, 50), 2),
    ]);
    const row = board.stockRow('SKU-A#1');
    assert.deepEqual(
      [row?.onHand, row?.reserved, row?.available, row?.threshold, row?.low],
      [100, 60, 40, 50, true],
    );
    assert.equal(row?.lastEventType, 'inventory.updated');
  });

  it('ends in the same state whatever order the changes arrive in, duplicates included', () => {
    const a0 = inv('SKU-A', 100, 0);
    const a1 = inv('SKU-A', 100, 30); // reserved only
    const a2 = inv('SKU-A', 8, 0, 5); // every quantity, and a threshold of its own
    const a3 = inv('SKU-A', 40, 0, 5); // on hand only
    const bodies = [
      insertStock(a0, 1),
      updateStock(a0, a1, 2),
      updateStock(a1, a2, 3),
      updateStock(a2, a3, 4),
    ];
    const inOrder = new Board();
    applyAll(inOrder, bodies);
    const expected = content(inOrder.snapshot());
    assert.deepEqual(
      [
        expected.stock[0].onHand,
        expected.stock[0].reserved,
        expected.stock[0].threshold,
        expected.stock[0].low,
      ],
      [40, 0, 5, false],
    );
    for (const order of permutations(bodies)) {
      const board = new Board();
      applyAll(board, [...order, ...order.slice(0, 2)]);
      assert.deepEqual(content(board.snapshot()).stock, expected.stock, 'same rows in any order');
    }
  });

  it('counts a redelivered message as a duplicate and changes nothing', () => {
    const board = new Board();
    const body = insertStock(inv('SKU-A', 10, 0), 1);
    const [first, again] = applyAll(board, [body, body]);
    assert.equal(first.outcome, 'applied');
    assert.equal(again.outcome, 'duplicate');
    assert.deepEqual(again.touched.stock, []);
    const { stats } = board.snapshot();
    assert.deepEqual([stats.received, stats.applied, stats.duplicates], [2, 1, 1]);
  });

  it('ignores a change older than the row even when its event ID was forgotten (stale)', () => {
    const board = new Board({ seenIds: 1 });
    const old = updateStock(inv('SKU-A', 10, 0), inv('SKU-A', 9, 0), 2);
    applyAll(board, [old, updateStock(inv('SKU-A', 9, 0), inv('SKU-A', 7, 0), 3)]);
    const [r] = applyAll(board, [old]);
    assert.equal(r.outcome, 'stale');
    assert.equal(board.stockRow('SKU-A#1')?.onHand, 7);
    assert.equal(board.snapshot().stats.stale, 1);
  });

  it('removes a deleted row; an older change arriving later does not bring it back, a newer insert does', () => {
    const board = new Board();
    const a = inv('SKU-A', 10, 0);
    applyAll(board, [insertStock(a, 1), deleteStock(a, 3)]);
    assert.equal(board.stockRow('SKU-A#1'), undefined);
    assert.deepEqual(board.snapshot().stock, []);
    const [late] = applyAll(board, [updateStock(a, inv('SKU-A', 11, 0), 2)]);
    assert.equal(late.outcome, 'stale');
    assert.equal(board.stockRow('SKU-A#1'), undefined);
    applyAll(board, [insertStock(inv('SKU-A', 3, 0), 4)]);
    assert.deepEqual([board.stockRow('SKU-A#1')?.onHand, board.stockRow('SKU-A#1')?.low], [3, true]);
  });

  it('takes an update that changed no column as a newer version, and its redelivery as a duplicate', () => {
    const board = new Board();
    const a = inv('SKU-A', 10, 0);
    const same = updateStock(a, a, 2);
    const results = applyAll(board, [insertStock(a, 1), same, same]);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['applied', 'applied', 'duplicate'],
    );
    assert.deepEqual(
      [board.stockRow('SKU-A#1')?.onHand, board.stockRow('SKU-A#1')?.lastEventType],
      [10, 'inventory.updated'],
    );
  });

  it('shows what an update alone tells when the row’s insert was never seen (unknown, not 0)', () => {
    const board = new Board();
    applyAll(board, [updateStock(inv('SKU-B', 10, 2, null, 7), inv('SKU-B', 10, 4, null, 7), 9)]);
    const row = board.stockRow('SKU-B#7');
    assert.deepEqual(
      [row?.sku, row?.warehouseId, row?.onHand, row?.reserved, row?.available, row?.low],
      ['SKU-B', '7', null, 4, null, null],
    );
  });

  it('keeps at most `stockRows` rows, forgetting the least recently changed, and reports them removed', () => {
    const board = new Board({ stockRows: 2 });
    applyAll(board, [insertStock(inv('A', 1, 0), 1), insertStock(inv('B', 1, 0), 2)]);
    applyAll(board, [updateStock(inv('A', 1, 0), inv('A', 2, 0), 3)]); // A is now the most recent
    const [r] = applyAll(board, [insertStock(inv('C', 1, 0), 4)]);
    assert.deepEqual(r.touched.stock, ['C#1', 'B#1']);
    assert.deepEqual(
      board.snapshot().stock.map((s) => s.key),
      ['A#1', 'C#1'],
    );
  });

  it('builds updates from pending changes: changed rows, removed keys, and only the lists that changed', () => {
    const board = new Board();
    const pending = new PendingChanges();
    const a = inv('SKU-A', 10, 0);
    for (const r of applyAll(board, [
      insertStock(a, 1),
      insertStock(inv('SKU-B', 5, 0), 2),
      deleteStock(a, 3),
    ]))
      pending.add(r.touched);
    const update = board.update(pending);
    assert.deepEqual(
      update.stock.map((s) => s.key),
      ['SKU-B#1'],
    );
    assert.deepEqual(update.removed, ['SKU-A#1']);
    assert.equal(update.orders, undefined);
    assert.equal(update.alerts, undefined);
    assert.equal(update.revision, 3);
    pending.clear();
    assert.equal(pending.dirty, false);
    pending.add(board.apply(insertOrder('o-1', 4), NOW).touched);
    const next = board.update(pending);
    assert.deepEqual(next.stock, []);
    assert.deepEqual(
      next.orders?.map((o) => o.orderId),
      ['o-1'],
    );
  });
});

describe('wallboard board: orders, alerts, activity', () => {
  it('lists recent orders newest first, one line per order with its newest status, without payment or address', () => {
    const board = new Board();
    applyAll(board, [
      insertOrder('o-1', 1),
      insertOrder('o-3', 5),
      updateOrder('o-1', 'new', 'paid', 7),
      insertOrder('o-2', 3),
      updateOrder('o-1', 'new', 'paid', 7), // redelivered
    ]);
    const { orders, stats } = board.snapshot();
    assert.deepEqual(
      orders.map((o) => [o.orderId, o.status, o.totalAmount, o.currency, o.lastEventType]),
      [
        ['o-1', 'paid', '10.00', 'EUR', 'order.updated'],
        ['o-3', 'new', '10.00', 'EUR', 'order.created'],
        ['o-2', 'new', '10.00', 'EUR', 'order.created'],
      ],
    );
    assert.equal(stats.duplicates, 1);
    const json = JSON.stringify(board.snapshot());
    assert.ok(!json.includes('4111111111111111') && !json.includes('1 Main St'));
    assert.ok(!json.includes('hash:'), 'the hashed address is not shown either');
  });

  it('keeps at most `orders` orders: the oldest leave, an order older than all of them is ignored', () => {
    const board = new Board({ orders: 3 });
    applyAll(
      board,
      [2, 4, 6, 8].map((lsn) => insertOrder(`o-${lsn}`, lsn)),
    );
    assert.deepEqual(
      board.snapshot().orders.map((o) => o.orderId),
      ['o-8', 'o-6', 'o-4'],
    );
    const [late] = applyAll(board, [insertOrder('o-1', 1)]);
    assert.equal(late.outcome, 'ignored');
    applyAll(board, [insertOrder('o-5', 5)]);
    assert.deepEqual(
      board.snapshot().orders.map((o) => o.orderId),
      ['o-8', 'o-6', 'o-5'],
    );
  });

  it('lists alerts newest first, once per alert ID, bounded', () => {
    const board = new Board({ alerts: 2 });
    const low = inventoryAlerts(
      event('inventory', 'u', stockKey('SKU-A'), inv('SKU-A', 50, 0), inv('SKU-A', 4, 0), 3),
    );
    assert.deepEqual(
      low.map((a) => a.kind),
      ['LOW_STOCK', 'STOCK_ANOMALY'],
    );
    const bodies = low.map((a) => envelope(alertEntry(a, 'cdc-bus')));
    const results = applyAll(board, [...bodies, bodies[0]]);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['applied', 'applied', 'duplicate'],
    );
    const { alerts } = board.snapshot();
    const lowLine = alerts.find((a) => a.kind === 'LOW_STOCK');
    assert.deepEqual(
      [lowLine?.sku, lowLine?.warehouseId, lowLine?.available, lowLine?.threshold],
      ['SKU-A', '1', 4, 10],
    );
    assert.match(lowLine?.reason ?? '', /available 4 fell below threshold 10/);
    const dead = deadLetterAlert({
      stream: 's',
      shardId: 'shardId-000000000000',
      sequenceNumber: '1',
      category: 'poison',
      reason: 'bad record',
      at: '2024-01-15T11:00:00.000Z',
    });
    applyAll(board, [envelope(alertEntry(dead, 'cdc-bus'))]);
    assert.equal(board.snapshot().alerts.length, 2);
    assert.equal(board.snapshot().alerts[0].kind, 'DEAD_LETTER', 'the newest first');
  });

  it('shows reservations and users as one line of activity, users without any column value', () => {
    const board = new Board();
    const hold = {
      reservation_id: 'r-1',
      sku: 'SKU-A',
      warehouse_id: 1,
      order_id: 'o-1',
      quantity: 2,
      status: 'HELD',
      expires_at: '2024-01-15T10:15:00.000Z',
    };
    const user = {
      id: 'u-1',
      email: 'Ann@Example.com',
      phone: '+1-555-123-4567',
      full_name: 'Ann Lee',
      status: 'active',
    };
    applyAll(board, [
      message(event('reservations', 'c', { reservation_id: 'r-1' }, null, hold, 1)),
      message(event('reservations', 'u', { reservation_id: 'r-1' }, hold, { ...hold, status: 'EXPIRED' }, 2)),
      message(event('users', 'c', { id: 'u-1' }, null, user, 3)),
      message(event('users', 'u', { id: 'u-1' }, user, { ...user, email: 'b@example.com', status: 'x' }, 4)),
    ]);
    const { activity } = board.snapshot();
    assert.deepEqual(
      activity.map((a) => [a.eventType, a.entityId, a.summary]),
      [
        ['user.updated', 'u-1', 'changed: email, status'],
        ['user.created', 'u-1', ''],
        ['reservation.expired', 'r-1', 'EXPIRED'],
        ['reservation.created', 'r-1', 'HELD · SKU-A @ 1 · qty 2'],
      ],
    );
    const json = JSON.stringify(board.snapshot());
    for (const value of ['Ann', 'b@', '555', 'tok_', 'o-1'])
      assert.ok(!json.includes(value), `${value} shown`);
  });

  it('ignores valid events of tables it does not show', () => {
    const board = new Board();
    const product = { product_id: 'p-1', name: 'Widget', price: '1.00' };
    const [r] = applyAll(board, [message(event('products', 'c', { product_id: 'p-1' }, null, product, 1))]);
    assert.equal(r.outcome, 'ignored');
    assert.equal(board.snapshot().stats.ignored, 1);
  });
});

describe('wallboard board: malformed messages', () => {
  const valid = JSON.parse(insertStock(inv('SKU-A', 1, 0), 1)) as Record<string, unknown>;
  const detail = valid.detail as Record<string, unknown>;
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', '{"detail-type":', /not JSON/],
    ['JSON null', 'null', /not an EventBridge event/],
    ['an array', '[1,2]', /not an EventBridge event/],
    ['no detail', JSON.stringify({ ...valid, detail: undefined }), /not an EventBridge event: detail/],
    ['detail as a string', JSON.stringify({ ...valid, detail: 'x' }), /not an EventBridge event: detail/],
    ['an unknown source', JSON.stringify({ ...valid, source: 'other.app' }), /unknown source other\.app/],
    [
      'a source of another table',
      JSON.stringify({ ...valid, source: 'cdc-pipeline.orders' }),
      /source cdc-pipeline\.orders does not match table inventory/,
    ],
    [
      'a detail-type that is not the event type',
      JSON.stringify({ ...valid, 'detail-type': 'inventory.deleted' }),
      /detail-type inventory\.deleted does not match eventType inventory\.created/,
    ],
    [
      'an unknown field in the detail (the contract is strict)',
      JSON.stringify({ ...valid, detail: { ...detail, ssn: '123-45-6789' } }),
      /detail: \(root\): Unrecognized key/,
    ],
    [
      'a bad version',
      JSON.stringify({
        ...valid,
        detail: { ...detail, metadata: { ...(detail.metadata as object), version: 'v1' } },
      }),
      /detail: metadata\.version/,
    ],
    [
      'an alert of an unknown kind',
      JSON.stringify({ 'detail-type': 'alert.x', source: 'cdc-pipeline.alerts', detail: { kind: 'X' } }),
      /alert detail: kind/,
    ],
  ];
  for (const [what, body, reason] of cases)
    it(`counts and drops ${what}, with a reason`, () => {
      const board = new Board();
      const r = board.apply(body, NOW);
      assert.equal(r.outcome, 'malformed');
      assert.match(r.reason ?? '', reason);
      assert.ok(!(r.reason ?? '').includes('123-45-6789'), 'a reason names fields, not values');
      const { stats } = board.snapshot();
      assert.deepEqual([stats.malformed, stats.lastMalformed[0]?.reason], [1, r.reason]);
    });

  it('keeps the last reasons only', () => {
    const board = new Board({ malformedReasons: 2 });
    applyAll(board, ['a', 'b', 'null']);
    const { stats } = board.snapshot();
    assert.equal(stats.malformed, 3);
    assert.equal(stats.lastMalformed.length, 2, 'newest first, at most 2');
    assert.match(stats.lastMalformed[0].reason, /not an EventBridge event/);
    assert.match(stats.lastMalformed[1].reason, /body is not JSON/);
    assert.equal(parseMessage('b').kind, 'malformed');
  });

  it('never throws, whatever the body', () => {
    const board = new Board();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc
            .record({
              'detail-type': fc.string(),
              source: fc.constantFrom('cdc-pipeline.inventory', 'cdc-pipeline.alerts'),
              detail: fc.jsonValue(),
            })
            .map((o) => JSON.stringify(o)),
        ),
        (body) => {
          const r = board.apply(body, NOW);
          assert.ok(['malformed', 'applied', 'duplicate', 'stale', 'ignored'].includes(r.outcome));
        },
      ),
      { numRuns: 300 },
    );
  });
});
