import assert from 'node:assert/strict';
import { ChangeEventSchema } from '../../../domain/core/changeEvent';
import { buildChangeEvent, keyColumns, type TxContext } from '../../../domain/capture/walChange';
import type { PgoutputMessage, RelationColumn, TupleValue } from '../../../domain/capture/pgoutput';
import { transformChange } from '../../../domain/processing/transform';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;
type RowMessage = Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>;

const INT4 = 23;
const TEXT = 25;
const NUMERIC = 1700;
const TIMESTAMPTZ = 1184;

const t = (value: string): TupleValue => ({ kind: 'text', value });
const NULL: TupleValue = { kind: 'null' };
const TOAST: TupleValue = { kind: 'unchanged-toast' };
const col = (name: string, typeOid: number, isKey = false): RelationColumn => ({
  name,
  typeOid,
  isKey,
  typeMod: -1,
});

// 2024-01-15T10:00:00.123456Z in microseconds since 2000-01-01.
const COMMIT_MICROS = (BigInt(Date.parse('2024-01-15T10:00:00.123Z')) - 946_684_800_000n) * 1000n + 456n;
const tx: TxContext = {
  db: 'app',
  finalLsn: 0x16c4460n,
  commitTimeMicros: COMMIT_MICROS,
  xid: 741,
  index: 3,
};

/** inventory with REPLICA IDENTITY FULL: pgoutput flags every column as part of the identity. */
const inventory: Relation = {
  tag: 'relation',
  relationId: 16400,
  schema: 'public',
  name: 'inventory',
  replicaIdentity: 'f',
  columns: [
    col('sku', TEXT, true),
    col('warehouse_id', INT4, true),
    col('on_hand', INT4, true),
    col('unit_cost', NUMERIC, true),
    col('notes', TEXT, true),
    col('updated_at', TIMESTAMPTZ, true),
  ],
};

const row1 = [
  t('sku-1'),
  t('101'),
  t('100'),
  t('12345678901234567890.12'),
  t('long notes'),
  t('2024-01-15 12:00:00.5+02'),
];
const row1Json = {
  sku: 'sku-1',
  warehouse_id: 101,
  on_hand: 100,
  unit_cost: '12345678901234567890.12',
  notes: 'long notes',
  updated_at: '2024-01-15T10:00:00.5Z',
};

function valid(e: unknown): void {
  const r = ChangeEventSchema.safeParse(e);
  assert.ok(r.success, JSON.stringify(r.error?.issues));
}

describe('keyColumns', () => {
  it('uses the table configuration, whatever the replica identity', () => {
    assert.deepEqual(keyColumns(inventory), ['sku', 'warehouse_id']);
    assert.deepEqual(
      keyColumns({
        ...inventory,
        replicaIdentity: 'd',
        columns: inventory.columns.map((c) => ({ ...c, isKey: c.name === 'on_hand' })),
      }),
      ['sku', 'warehouse_id'],
    );
  });

  it('for an unconfigured table uses the flagged key columns, none for REPLICA IDENTITY FULL', () => {
    const rel: Relation = {
      ...inventory,
      name: 'unmonitored',
      replicaIdentity: 'd',
      columns: [col('id', INT4, true), col('v', TEXT)],
    };
    assert.deepEqual(keyColumns(rel), ['id']);
    assert.deepEqual(keyColumns({ ...rel, replicaIdentity: 'f' }), []);
  });
});

describe('buildChangeEvent', () => {
  it('insert: op c, converted after image, key from the table configuration, commit position', () => {
    const e = buildChangeEvent({ tag: 'insert', relationId: 16400, newTuple: row1 }, inventory, tx);
    assert.deepEqual(e, {
      source: {
        db: 'app',
        schema: 'public',
        table: 'inventory',
        lsn: '0/16C4460',
        txId: 741,
        commitTs: '2024-01-15T10:00:00.123Z',
        index: 3,
      },
      op: 'c',
      key: { sku: 'sku-1', warehouse_id: 101 },
      before: null,
      after: row1Json,
    });
    valid(e);
  });

  it('converts NULL values to null', () => {
    const e = buildChangeEvent(
      { tag: 'insert', relationId: 1, newTuple: [t('s'), t('1'), NULL, NULL, NULL, NULL] },
      inventory,
      tx,
    );
    assert.deepEqual(e.after, {
      sku: 's',
      warehouse_id: 1,
      on_hand: null,
      unit_cost: null,
      notes: null,
      updated_at: null,
    });
  });

  it('uses finalLsn and index of the transaction context', () => {
    const e = buildChangeEvent({ tag: 'insert', relationId: 1, newTuple: row1 }, inventory, {
      ...tx,
      finalLsn: (0x1an << 32n) | 0xbn,
      index: 12,
    });
    assert.equal(e.source.lsn, '1A/B');
    assert.equal(e.source.index, 12);
  });

  it('update with a full old tuple: before and after images, key from the new row', () => {
    const newRow = [t('sku-1'), t('101'), t('99'), t('1.50'), t('long notes'), t('2024-01-15 10:05:00+00')];
    const e = buildChangeEvent(
      { tag: 'update', relationId: 1, oldTuple: row1, newTuple: newRow },
      inventory,
      tx,
    );
    assert.equal(e.op, 'u');
    assert.deepEqual(e.before, row1Json);
    assert.deepEqual(e.after, {
      ...row1Json,
      on_hand: 99,
      unit_cost: '1.50',
      updated_at: '2024-01-15T10:05:00Z',
    });
    assert.deepEqual(e.key, { sku: 'sku-1', warehouse_id: 101 });
    assert.equal(e.source.unchangedToast, undefined);
    valid(e);
  });

  it('update that moves the row: key is the new key', () => {
    const newRow = [t('sku-1'), t('202'), ...row1.slice(2)];
    const e = buildChangeEvent(
      { tag: 'update', relationId: 1, oldTuple: row1, newTuple: newRow },
      inventory,
      tx,
    );
    assert.deepEqual(e.key, { sku: 'sku-1', warehouse_id: 202 });
    assert.equal(e.before!.warehouse_id, 101);
  });

  it('update: an unchanged TOAST column is taken from the old tuple when present', () => {
    const newRow = [
      t('sku-1'),
      t('101'),
      t('98'),
      t('12345678901234567890.12'),
      TOAST,
      t('2024-01-15 12:00:00.5+02'),
    ];
    const e = buildChangeEvent(
      { tag: 'update', relationId: 1, oldTuple: row1, newTuple: newRow },
      inventory,
      tx,
    );
    assert.deepEqual(e.after, { ...row1Json, on_hand: 98 });
    assert.equal(e.after!.notes, 'long notes');
    assert.equal(e.source.unchangedToast, undefined);
  });

  it('update: an unchanged TOAST column without old value is left out of after and listed', () => {
    const newRow = [t('sku-1'), t('101'), t('98'), t('1.00'), TOAST, t('2024-01-15 12:00:00.5+02')];
    const e = buildChangeEvent(
      { tag: 'update', relationId: 1, newTuple: newRow },
      { ...inventory, replicaIdentity: 'd' },
      tx,
    );
    assert.equal(e.before, null);
    assert.equal('notes' in e.after!, false, 'never written as null');
    assert.deepEqual(e.source.unchangedToast, ['notes']);
    assert.deepEqual(e.after, {
      sku: 'sku-1',
      warehouse_id: 101,
      on_hand: 98,
      unit_cost: '1.00',
      updated_at: '2024-01-15T10:00:00.5Z',
    });
    valid(e);
    // Downstream, the absent column is not a change (and not nulled).
    const p = transformChange(e, { shardId: 's', sequenceNumber: '1' });
    assert.equal('notes' in p.changes, false);
  });

  // Regression (fixed): with the default replica identity, an update that changes the key sends a key tuple ('K')
  // in which PostgreSQL puts NULL ('n') for every non-key column. buildChangeEvent uses that tuple
  // as the TOAST fallback, so an unchanged TOAST column is written into `after` as null (the value
  // is really unchanged and non-null) instead of being left out and listed in unchangedToast.
  it('update with a key tuple: an unchanged TOAST column is not taken as null from it', () => {
    const products: Relation = {
      tag: 'relation',
      relationId: 16390,
      schema: 'public',
      name: 'products',
      replicaIdentity: 'd',
      columns: [
        col('product_id', TEXT, true),
        col('name', TEXT),
        col('description', TEXT),
        col('price', NUMERIC),
      ],
    };
    const msg: RowMessage = {
      tag: 'update',
      relationId: 16390,
      keyTuple: [t('p-old'), NULL, NULL, NULL],
      newTuple: [t('p-new'), t('Widget'), TOAST, t('9.99')],
    };
    const e = buildChangeEvent(msg, products, tx);
    assert.equal(
      'description' in e.after!,
      false,
      `after.description = ${JSON.stringify(e.after!.description)}`,
    );
    assert.deepEqual(e.source.unchangedToast, ['description']);
  });

  // Regression (fixed): the same key tuple also makes a before image that claims every non-key column was NULL,
  // so the published `changes` report e.g. name: {old: null, new: "Widget"} although the name did
  // not change. A key-only old tuple should give a before image of the key columns only.
  it('update with a key tuple: before holds only the key columns', () => {
    const products: Relation = {
      tag: 'relation',
      relationId: 16390,
      schema: 'public',
      name: 'products',
      replicaIdentity: 'd',
      columns: [col('product_id', TEXT, true), col('name', TEXT), col('price', NUMERIC)],
    };
    const e = buildChangeEvent(
      {
        tag: 'update',
        relationId: 16390,
        keyTuple: [t('p-old'), NULL, NULL],
        newTuple: [t('p-new'), t('Widget'), t('9.99')],
      },
      products,
      tx,
    );
    assert.deepEqual(e.before, { product_id: 'p-old' });
  });

  it('delete with the full old tuple: op d, before image, after null, key from before', () => {
    const e = buildChangeEvent({ tag: 'delete', relationId: 1, oldTuple: row1 }, inventory, tx);
    assert.equal(e.op, 'd');
    assert.deepEqual(e.before, row1Json);
    assert.equal(e.after, null);
    assert.deepEqual(e.key, { sku: 'sku-1', warehouse_id: 101 });
    assert.equal(e.source.unchangedToast, undefined);
    valid(e);
  });

  it('delete with a key tuple only: key from it', () => {
    const rel: Relation = { ...inventory, replicaIdentity: 'd' };
    const e = buildChangeEvent(
      { tag: 'delete', relationId: 1, keyTuple: [t('sku-2'), t('7'), NULL, NULL, NULL, NULL] },
      rel,
      tx,
    );
    assert.deepEqual(e.key, { sku: 'sku-2', warehouse_id: 7 });
    assert.equal(e.after, null);
    valid(e);
  });

  it('prefers the old tuple over the key tuple', () => {
    const e = buildChangeEvent(
      {
        tag: 'delete',
        relationId: 1,
        oldTuple: row1,
        keyTuple: [t('other'), t('1'), NULL, NULL, NULL, NULL],
      },
      inventory,
      tx,
    );
    assert.deepEqual(e.before, row1Json);
  });

  it("carries the run's source epoch; the version orders it before the LSN", () => {
    const e = buildChangeEvent({ tag: 'insert', relationId: 1, newTuple: row1 }, inventory, {
      ...tx,
      epoch: 3,
    });
    assert.equal(e.source.epoch, 3);
    valid(e);
    const p = transformChange(e, { shardId: 's', sequenceNumber: '1' });
    assert.equal(p.version, 'e000003.00000000016C4460.0000000003');
    // Epoch 0 writes no field: events (and versions) as they were before epochs.
    const zero = buildChangeEvent({ tag: 'insert', relationId: 1, newTuple: row1 }, inventory, {
      ...tx,
      epoch: 0,
    });
    assert.equal('epoch' in zero.source, false);
  });

  it('produces events the transform step accepts (inventory key sku + warehouse_id)', () => {
    const e = buildChangeEvent({ tag: 'insert', relationId: 1, newTuple: row1 }, inventory, tx);
    const p = transformChange(e, { shardId: 's', sequenceNumber: '1' });
    assert.equal(p.entityId, 'sku-1#101');
    assert.equal(p.version, '00000000016C4460.0000000003');
    assert.equal(p.eventType, 'inventory.created');
    assert.equal(p.after!.updated_at, '2024-01-15T10:00:00.500Z');
  });
});
