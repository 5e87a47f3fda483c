import assert from 'node:assert/strict';
import { ChangeBuffer } from '../../../activities/capture/changeBuffer';
import type { PgoutputMessage, RelationColumn, TupleValue } from '../../../domain/capture/pgoutput';
import type { OutgoingRecord } from '../../../domain/capture/producerBatches';
import { HEARTBEAT_TABLE } from '../../../domain/capture/walChange';
import { bigIntToLsn } from '../../../domain/core/lsn';

const col = (name: string, typeOid: number): RelationColumn => ({ name, typeOid, isKey: false, typeMod: -1 });
const text = (value: string): TupleValue => ({ kind: 'text', value });
const INT4 = 23;
const TEXT = 25;

const inventory: PgoutputMessage = {
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  name: 'inventory',
  replicaIdentity: 'd',
  columns: [col('sku', TEXT), col('warehouse_id', INT4), col('on_hand', INT4), col('reserved', INT4)],
};
const heartbeat: PgoutputMessage = {
  tag: 'relation',
  relationId: 2,
  schema: 'public',
  name: HEARTBEAT_TABLE,
  replicaIdentity: 'd',
  columns: [col('slot', TEXT)],
};

/** One transaction of `rows` inserts into inventory (or a heartbeat), committed at `endLsn`. */
function transaction(endLsn: bigint, rows: number, relationId = 1): PgoutputMessage[] {
  const inserts = Array.from({ length: rows }, (_, i): PgoutputMessage => ({
    tag: 'insert',
    relationId,
    newTuple:
      relationId === 1 ? [text(`SKU-${endLsn}-${i}`), text('1'), text('5'), text('0')] : [text('slot')],
  }));
  return [
    { tag: 'begin', finalLsn: endLsn - 1n, commitTimeMicros: 0n, xid: Number(endLsn) },
    ...inserts,
    { tag: 'commit', flags: 0, commitLsn: endLsn - 1n, endLsn, commitTimeMicros: 0n },
  ];
}

function buffer(flushEvery: number) {
  const puts: OutgoingRecord[][] = [];
  const acks: bigint[] = [];
  let putDone: Promise<void> = Promise.resolve();
  const changes = new ChangeBuffer({
    db: 'inventory',
    startLsn: '0/100',
    flushEvery,
    put: async (records) => {
      await putDone;
      puts.push(records);
    },
    acknowledge: (lsn) => acks.push(lsn),
    deadLetter: () => Promise.reject(new Error('no dead letters expected')),
    warn: () => undefined,
  });
  const handleAll = async (msgs: PgoutputMessage[]) => {
    for (const m of msgs) await changes.handle(m);
  };
  return {
    changes,
    puts,
    acks,
    handleAll,
    holdPuts: (p: Promise<void>) => {
      putDone = p;
    },
  };
}

describe('capture change buffer (group commit, acknowledge after the put)', () => {
  it('acknowledges nothing until a flush put the committed transactions on the stream', async () => {
    const { changes, puts, acks, handleAll } = buffer(500);
    await handleAll([inventory, ...transaction(0x200n, 2), ...transaction(0x300n, 1)]);

    assert.equal(puts.length, 0, 'small transactions wait for a group flush');
    assert.equal(acks.length, 0);
    assert.equal(changes.hasUnacknowledgedCommit, true);
    assert.equal(changes.ackedLsn, 0x100n);

    await changes.flushAndAck();
    assert.deepEqual(
      puts.map((p) => p.length),
      [3],
    );
    assert.deepEqual(acks, [0x300n]);
    assert.deepEqual(changes.progress, { ackedLsn: bigIntToLsn(0x300n), changes: 3, transactions: 2 });
    assert.equal(changes.hasUnacknowledgedCommit, false);
  });

  it('acknowledges only once the put resolved', async () => {
    const { changes, acks, handleAll, holdPuts } = buffer(500);
    let release!: () => void;
    holdPuts(new Promise((r) => (release = r)));
    await handleAll([inventory, ...transaction(0x200n, 1)]);

    const flushing = changes.flushAndAck();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(acks, [], 'Kinesis has not accepted the records yet');
    release();
    await flushing;
    assert.deepEqual(acks, [0x200n]);
  });

  it('flushes a full buffer in the middle of a transaction without acknowledging it', async () => {
    const { changes, puts, acks, handleAll } = buffer(2);
    const [begin, ...rest] = transaction(0x200n, 5);
    const commit = rest.pop()!;
    await handleAll([inventory, begin, ...rest]);

    assert.deepEqual(
      puts.map((p) => p.length),
      [2, 2],
    );
    assert.deepEqual(acks, []);
    await changes.handle(commit);
    assert.deepEqual(acks, [], 'one record waiting: acknowledged with the next group flush');
    await changes.flushAndAck();
    assert.deepEqual(
      puts.map((p) => p.length),
      [2, 2, 1],
    );
    assert.deepEqual(acks, [0x200n]);
  });

  it('never streams heartbeat-table changes, but acknowledges their commit', async () => {
    const { changes, puts, acks, handleAll } = buffer(500);
    await handleAll([heartbeat, ...transaction(0x200n, 1, 2)]);
    await changes.flushAndAck();
    assert.deepEqual(puts, []);
    assert.deepEqual(acks, [0x200n]);
    assert.equal(changes.progress.changes, 0);
  });

  it('keys each record by table and primary key, in decode order', async () => {
    const { changes, puts, handleAll } = buffer(500);
    await handleAll([inventory, ...transaction(0x200n, 2)]);
    await changes.flushAndAck();
    const events = puts[0].map(
      (r) => JSON.parse(Buffer.from(r.data).toString()) as { source: { index: number } },
    );
    assert.deepEqual(
      events.map((e) => e.source.index),
      [0, 1],
    );
    assert.match(puts[0][0].partitionKey, /^inventory/);
  });

  it('refuses a change outside a transaction or for an unknown relation', async () => {
    const { changes } = buffer(500);
    await assert.rejects(
      changes.handle({ tag: 'insert', relationId: 9, newTuple: [] }),
      /unknown relation 9 or outside a transaction/,
    );
  });
});
