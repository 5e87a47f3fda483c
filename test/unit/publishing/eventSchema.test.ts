import assert from 'node:assert/strict';
import fc from 'fast-check';
import { alertEntry, deadLetterAlert, inventoryAlerts } from '../../../domain/publishing/alerts';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { toEventEntry } from '../../../domain/publishing/eventEntry';
import type { Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import {
  AlertDetailSchema,
  PublishedEventDetailSchema,
  validateAlertDetail,
  validatePublishedDetail,
} from '../../../domain/publishing/eventSchema';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';
import { parseTableFile, tableRegistry, useTables, type TableRegistry } from '../../../domain/core/tables';

const SECRET = 'schema-test-secret';
const POS = {
  shardId: 'shardId-000000000003',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
};
const PROCESSED_AT = '2024-01-15T10:00:05.000Z';

function published(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  before: Row | null,
  after: Row | null,
  source: Partial<ChangeEvent['source']> = {},
): { event: PipelineEvent; detail: Record<string, unknown>; raw: string } {
  const event = redactEvent(
    transformChange(
      {
        source: {
          db: 'app',
          schema: 'public',
          table,
          lsn: '1/A0B1C2D3',
          txId: 77,
          commitTs: '2024-01-15T12:00:00.250+02:00',
          index: 3,
          ...source,
        },
        op,
        key,
        before,
        after,
      },
      POS,
    ),
    { secret: SECRET, keyId: 'test' },
  );
  const raw = toEventEntry(event, 'cdc-bus', PROCESSED_AT).Detail;
  return { event, detail: JSON.parse(raw) as Record<string, unknown>, raw };
}

const user = {
  id: 'u1',
  email: 'Ann@Example.com',
  phone: '+1-555-123-4567',
  full_name: 'Ann Lee',
  ssn: '123-45-6789',
  date_of_birth: '1990-04-01',
  updated_at: '2024-01-01T00:00:00Z',
};
const inv = { sku: 'sku-1', warehouse_id: 101, on_hand: 50, reserved: 5, low_stock_threshold: 10 };

/** Events of several tables and every operation, built through transform → redact → toEventEntry. */
const CASES: Array<[string, ReturnType<typeof published>]> = [
  ['users INSERT', published('users', 'c', { id: 'u1' }, null, user)],
  [
    'users UPDATE',
    published('users', 'u', { id: 'u1' }, user, { ...user, email: 'b@example.com', ssn: '999-99-9999' }),
  ],
  ['users DELETE', published('users', 'd', { id: 'u1' }, user, null)],
  ['users SNAPSHOT', published('users', 'r', { id: 'u1' }, null, user, { snapshot: true })],
  ['inventory INSERT', published('inventory', 'c', { sku: 'sku-1', warehouse_id: 101 }, null, inv)],
  [
    'inventory UPDATE',
    published('inventory', 'u', { sku: 'sku-1', warehouse_id: 101 }, inv, { ...inv, on_hand: 40 }),
  ],
  [
    'orders UPDATE',
    published(
      'orders',
      'u',
      { order_id: 'o-9' },
      { order_id: 'o-9', status: 'new', total_amount: '10.50', shipping_address: '1 Main St' },
      { order_id: 'o-9', status: 'paid', total_amount: 12, shipping_address: '2 Side St' },
    ),
  ],
  [
    'order_items DELETE (composite key)',
    published(
      'order_items',
      'd',
      { order_id: 'o-9', line_no: 2 },
      { order_id: 'o-9', line_no: 2, qty: 1 },
      null,
    ),
  ],
  [
    'configurations UPDATE (REMOVE column)',
    published(
      'configurations',
      'u',
      { config_key: 'feature.x' },
      { config_key: 'feature.x', value: 'on', secret_value: 'a' },
      { config_key: 'feature.x', value: 'off', secret_value: 'b' },
    ),
  ],
  [
    'audit_logs INSERT, lower-case LSN, index 0',
    published(
      'audit_logs',
      'c',
      { log_id: 1 },
      null,
      { log_id: 1, action: 'login', ip_address: '10.0.0.1', details: { nested: [1, true, null] } },
      { lsn: '0/16c4460', index: 0, commitTs: '2024-02-29T23:59:59Z' },
    ),
  ],
];

// Test-only: mutate arbitrarily deep fields of a parsed Detail.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

function mutated(detail: Record<string, unknown>, f: (d: Loose) => void): unknown {
  const copy = JSON.parse(JSON.stringify(detail)) as Loose;
  f(copy);
  return copy;
}

function assertInvalid(detail: unknown, pathPrefix: string): void {
  const r = validatePublishedDetail(detail);
  assert.equal(r.ok, false, `expected invalid (${pathPrefix})`);
  if (!r.ok)
    assert.ok(
      r.issues.some((i) => i.startsWith(pathPrefix)),
      `expected an issue at ${pathPrefix}, got ${JSON.stringify(r.issues)}`,
    );
}

describe('PublishedEventDetailSchema', () => {
  for (const [name, c] of CASES) {
    it(`accepts the Detail toEventEntry builds: ${name}`, () => {
      assert.deepEqual(validatePublishedDetail(c.detail), { ok: true });
      // The Detail string as it sits in the entry is accepted too.
      assert.deepEqual(validatePublishedDetail(c.raw), { ok: true });
    });
  }

  it('accepts events built from random inventory changes (property)', () => {
    const qty = fc.oneof(fc.integer({ min: -1000, max: 100_000 }), fc.constant(null));
    fc.assert(
      fc.property(
        fc.constantFrom<ChangeEvent['op']>('c', 'u', 'd', 'r'),
        fc.stringMatching(/^[a-z0-9-]{1,12}$/),
        fc.integer({ min: 1, max: 999 }),
        qty,
        qty,
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 9_999_999_999 }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        (op, sku, wh, a, b, hi, lo, index, ms) => {
          const before = { sku, warehouse_id: wh, on_hand: a, reserved: 0 };
          const after = { sku, warehouse_id: wh, on_hand: b, reserved: 0 };
          const { detail } = published(
            'inventory',
            op,
            { sku, warehouse_id: wh },
            op === 'u' || op === 'd' ? before : null,
            op === 'd' ? null : after,
            {
              lsn: `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`,
              index,
              commitTs: new Date(ms).toISOString(),
            },
          );
          assert.deepEqual(validatePublishedDetail(detail), { ok: true });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps exactly the documented shape (no unknown or missing keys)', () => {
    const { detail } = CASES[1]![1];
    assert.deepEqual(Object.keys(detail).sort(), [
      'changes',
      'entityId',
      'entityType',
      'eventId',
      'eventType',
      'metadata',
      'operation',
      'timestamp',
    ]);
    const parsed = PublishedEventDetailSchema.parse(detail);
    assert.deepEqual(parsed, detail);
  });

  const base = CASES[1]![1].detail;

  it('rejects a malformed eventId', () => {
    for (const bad of [
      'evt_abc_xyz',
      'evt_1705312800250_ABC',
      'event_1705312800250_abc',
      'evt_1705312800250_',
      42,
    ]) {
      assertInvalid(
        mutated(base, (d) => (d.eventId = bad)),
        'eventId',
      );
    }
  });

  it('rejects an eventId whose millis are not the commit timestamp', () => {
    assertInvalid(
      mutated(
        base,
        (d) => (d.eventId = String(d.eventId).replace(/^evt_(\d+)_/, (_m, n) => `evt_${Number(n) + 1}_`)),
      ),
      'eventId',
    );
  });

  it('rejects unknown keys at the top level, in metadata and in a change', () => {
    assertInvalid(
      mutated(base, (d) => (d.extra = 1)),
      '(root)',
    );
    assertInvalid(
      mutated(base, (d) => (d.metadata.shardId = 'shardId-1')),
      'metadata',
    );
    assertInvalid(
      mutated(base, (d) => {
        const col = Object.keys(d.changes)[0]!;
        d.changes[col].extra = 'x';
      }),
      'changes',
    );
  });

  it('rejects missing fields', () => {
    for (const field of [
      'eventId',
      'eventType',
      'entityId',
      'entityType',
      'operation',
      'timestamp',
      'changes',
      'metadata',
    ]) {
      assertInvalid(
        mutated(base, (d) => delete d[field]),
        field,
      );
    }
    for (const field of [
      'sourceTable',
      'sequenceNumber',
      'sourcePosition',
      'processedAt',
      'version',
      'redactionPolicy',
    ]) {
      assertInvalid(
        mutated(base, (d) => delete d.metadata[field]),
        `metadata.${field}`,
      );
    }
    assertInvalid(
      mutated(base, (d) => {
        const col = Object.keys(d.changes)[0]!;
        delete d.changes[col].old;
      }),
      'changes',
    );
  });

  it('rejects bad formats and values', () => {
    const bad: Array<[string, (d: Loose) => void]> = [
      ['eventType', (d) => (d.eventType = 'inventory.modified')],
      ['eventType', (d) => (d.eventType = 'Inventory.updated')],
      ['eventType', (d) => (d.eventType = 'product.updated')], // not the entityType
      ['eventType', (d) => (d.operation = 'INSERT')], // operation disagrees with eventType
      ['operation', (d) => (d.operation = 'UPSERT')],
      ['entityId', (d) => (d.entityId = '')],
      ['timestamp', (d) => (d.timestamp = '15/01/2024')],
      ['timestamp', (d) => (d.timestamp = 1705312800250)],
      ['changes', (d) => (d.changes = [])],
      ['metadata.sequenceNumber', (d) => (d.metadata.sequenceNumber = '4959x')],
      ['metadata.sequenceNumber', (d) => (d.metadata.sequenceNumber = 4959)],
      ['metadata.sourcePosition', (d) => (d.metadata.sourcePosition = '16C4460')],
      ['metadata.processedAt', (d) => (d.metadata.processedAt = 'yesterday')],
      ['metadata.version', (d) => (d.metadata.version = '1A0B1C2D3.3')],
      ['metadata.version', (d) => (d.metadata.version = String(d.metadata.version).toLowerCase())],
      ['metadata.version', (d) => (d.metadata.version = '00000000DEADBEEF.0000000003')], // not the LSN
      ['metadata.redactionPolicy', (d) => (d.metadata.redactionPolicy = '')],
      ['metadata.sourceTable', (d) => (d.metadata.sourceTable = 'Inventory')],
    ];
    for (const [path, f] of bad) assertInvalid(mutated(base, f), path);
  });

  it('rejects old values on an INSERT and new values on a DELETE', () => {
    const insert = CASES[0]![1].detail;
    assertInvalid(
      mutated(insert, (d) => (d.changes.id.old = 'u0')),
      'changes.id.old',
    );
    const del = CASES[2]![1].detail;
    assertInvalid(
      mutated(del, (d) => (d.changes.id.new = 'u1')),
      'changes.id.new',
    );
  });

  it('rejects non-objects and a Detail string that is not JSON', () => {
    assert.equal(validatePublishedDetail(null).ok, false);
    assert.equal(validatePublishedDetail([]).ok, false);
    assert.deepEqual(validatePublishedDetail('{not json'), {
      ok: false,
      issues: ['Detail is not valid JSON'],
    });
  });
});

describe('PublishedEventDetailSchema: the event type is the table file’s name for the operation', () => {
  let shipped: TableRegistry;
  before(() => {
    shipped = tableRegistry();
    useTables(
      parseTableFile(
        {
          version: 1,
          tables: {
            orders: {
              entity: 'order',
              key: ['order_id'],
              operations: ['INSERT', 'UPDATE'],
              eventTypes: { INSERT: 'order.placed', UPDATE: 'commerce.order.changed' },
            },
          },
        },
        'test/orders.yaml',
      ),
    );
  });
  after(() => useTables(shipped));

  const order = { order_id: 'o-1', status: 'new' };

  it('accepts the configured names, including dotted ones of more than two parts', () => {
    const placed = published('orders', 'c', { order_id: 'o-1' }, null, order);
    assert.equal(placed.detail.eventType, 'order.placed');
    assert.deepEqual(validatePublishedDetail(placed.detail), { ok: true });
    const changed = published('orders', 'u', { order_id: 'o-1' }, order, { ...order, status: 'paid' });
    assert.equal(changed.detail.eventType, 'commerce.order.changed');
    assert.deepEqual(validatePublishedDetail(changed.detail), { ok: true });
  });

  it('rejects the default name where the file names another, and another operation’s name', () => {
    const { detail } = published('orders', 'c', { order_id: 'o-1' }, null, order);
    assertInvalid(
      mutated(detail, (d) => (d.eventType = 'order.created')),
      'eventType',
    );
    assertInvalid(
      mutated(detail, (d) => (d.eventType = 'commerce.order.changed')),
      'eventType',
    );
  });
});

describe('AlertDetailSchema', () => {
  const low = inventoryAlerts(
    published('inventory', 'c', { sku: 'sku-1', warehouse_id: 101 }, null, { ...inv, on_hand: 8 }).event,
  );
  const anomaly = inventoryAlerts(
    published('inventory', 'u', { sku: 'sku-1', warehouse_id: 101 }, inv, {
      ...inv,
      on_hand: 20,
      reserved: 0,
    }).event,
  );
  const dead = deadLetterAlert({
    stream: 'cdc-changes',
    shardId: 'shardId-000000000000',
    sequenceNumber: '4959',
    category: 'POISON',
    reason: 'unsupported record format',
    at: '2024-01-15T10:00:00.000Z',
  });

  it('accepts the Detail alertEntry builds for every kind', () => {
    assert.deepEqual(
      low.map((a) => a.kind),
      ['LOW_STOCK'],
    );
    assert.deepEqual(
      anomaly.map((a) => a.kind),
      ['STOCK_ANOMALY'],
    );
    for (const a of [...low, ...anomaly, dead]) {
      const detail = alertEntry(a, 'cdc-bus').Detail;
      assert.deepEqual(validateAlertDetail(detail), { ok: true }, a.kind);
      assert.equal(AlertDetailSchema.parse(JSON.parse(detail)).kind, a.kind);
    }
  });

  it('rejects unknown keys, a bad alertId and details of another kind', () => {
    const d = JSON.parse(alertEntry(low[0]!, 'bus').Detail) as Loose;
    assert.equal(validateAlertDetail({ ...d, extra: true }).ok, false);
    assert.equal(validateAlertDetail({ ...d, alertId: 'evt_1_abc' }).ok, false);
    assert.equal(validateAlertDetail({ ...d, details: { ...d.details, email: 'a@b.c' } }).ok, false);
    assert.equal(validateAlertDetail({ ...d, kind: 'STOCK_ANOMALY' }).ok, false);
    const withoutSource = { ...d };
    delete withoutSource.sourceEventId;
    assert.equal(validateAlertDetail(withoutSource).ok, false);
    assert.equal(validateAlertDetail({ ...d, kind: 'FIRE' }).ok, false);
  });
});
