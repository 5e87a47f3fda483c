import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Client } from 'pg';
import { ChangeBuffer } from '../../../activities/capture/changeBuffer';
import { captureChanges } from '../../../activities/capture/captureChanges';
import { SOURCE_IDENTITY_SQL } from '../../../activities/capture/sourceEpoch';
import { sourceEpochKey } from '../../../domain/capture/sourceEpoch';
import type { PgClientFactory } from '../../../activities/deps';
import type { AlertPublisher } from '../../../activities/publishing/alertPublisher';
import type { CaptureDeadLetter } from '../../../domain/capture/captureDeadLetter';
import type { CaptureProgress } from '../../../domain/capture/captureTypes';
import type { PgoutputMessage, RelationColumn, TupleValue } from '../../../domain/capture/pgoutput';
import { convertPgText, DECODER_SESSION_SETTINGS, PG_TYPE } from '../../../domain/capture/pgTypes';
import { RECORD_MAX_BYTES, type OutgoingRecord } from '../../../domain/capture/producerBatches';
import { PgTypeError } from '../../../domain/core/errors';
import { bigIntToLsn } from '../../../domain/core/lsn';
import { loadConfig } from '../../../infra/config';
import { fakes, FakeKinesis } from '../activities/fakes';

const col = (name: string, typeOid: number): RelationColumn => ({ name, typeOid, isKey: false, typeMod: -1 });
const text = (value: string): TupleValue => ({ kind: 'text', value });

const inventory: PgoutputMessage = {
  tag: 'relation',
  relationId: 1,
  schema: 'public',
  name: 'inventory',
  replicaIdentity: 'f',
  columns: [
    col('sku', PG_TYPE.TEXT),
    col('warehouse_id', PG_TYPE.INT4),
    col('on_hand', PG_TYPE.INT4),
    col('updated_at', PG_TYPE.TIMESTAMPTZ),
  ],
};
const ISO_TS = '2026-01-02 03:04:05.123456+00';

const insert = (sku: string, updatedAt = ISO_TS, onHand = '5'): PgoutputMessage => ({
  tag: 'insert',
  relationId: 1,
  newTuple: [text(sku), text('1'), text(onHand), text(updatedAt)],
});

/** One transaction of the given changes, committed at `endLsn`. */
function tx(endLsn: bigint, changes: PgoutputMessage[]): PgoutputMessage[] {
  return [
    { tag: 'begin', finalLsn: endLsn - 1n, commitTimeMicros: 0n, xid: Number(endLsn) },
    ...changes,
    { tag: 'commit', flags: 0, commitLsn: endLsn - 1n, endLsn, commitTimeMicros: 0n },
  ];
}

function buffer(flushEvery: number) {
  const puts: OutgoingRecord[][] = [];
  const acks: bigint[] = [];
  const letters: CaptureDeadLetter[] = [];
  const changes = new ChangeBuffer({
    db: 'inventory',
    startLsn: '0/100',
    flushEvery,
    put: async (records) => {
      puts.push(records);
    },
    acknowledge: (lsn) => acks.push(lsn),
    deadLetter: async (l) => {
      letters.push(l);
    },
    warn: () => undefined,
  });
  const handleAll = async (msgs: PgoutputMessage[]) => {
    for (const m of msgs) await changes.handle(m);
  };
  const indexes = () =>
    puts.flat().map((r) => (JSON.parse(r.data.toString()) as { source: { index: number } }).source.index);
  return { changes, puts, acks, letters, handleAll, indexes };
}

describe('capture: acknowledge while busy', () => {
  it('acknowledges the last complete commit at a flush in the middle of a later transaction', async () => {
    const { puts, acks, handleAll } = buffer(3);
    // Two rows of the first transaction, then the third record (the second transaction's first)
    // fills the buffer: the flush puts every record of the first transaction on the stream.
    await handleAll([inventory, ...tx(0x200n, [insert('A'), insert('B')])]);
    await handleAll(tx(0x300n, [insert('C'), insert('D'), insert('E'), insert('F')]).slice(0, 3));
    assert.deepEqual(
      puts.map((p) => p.length),
      [3],
    );
    assert.deepEqual(acks, [0x200n], 'the first transaction is acknowledged by the flush');
  });

  it('keeps acknowledging through a backlog without ever being idle', async () => {
    const { acks, handleAll } = buffer(10);
    const msgs: PgoutputMessage[] = [inventory];
    for (let t = 1; t <= 100; t++)
      msgs.push(...tx(0x1000n + BigInt(t) * 0x100n, [insert(`S${t}a`), insert(`S${t}b`)]));
    await handleAll(msgs); // never flushAndAck: the decode queue never drains
    assert.ok(acks.length >= 15, `acknowledged ${acks.length} times during 100 transactions`);
    assert.ok(
      acks.every((a, i) => i === 0 || a > acks[i - 1]!),
      'acknowledgements only move forward',
    );
    assert.ok(acks.at(-1)! >= 0x1000n + 95n * 0x100n, 'up to one of the last transactions');
  });
});

describe('capture: a change that cannot go on the stream is dead-lettered, capture moves on', () => {
  it('parks a value the type decoder refuses (poison), naming table, column, type and LSN, never the value', async () => {
    const { changes, letters, acks, handleAll, indexes } = buffer(500);
    const sqlStyle = '02/01/2026 03:04:05.123456 UTC'; // DateStyle 'SQL, DMY'
    await handleAll([inventory, ...tx(0x200n, [insert('A'), insert('SECRET-SKU', sqlStyle), insert('C')])]);
    await changes.flushAndAck();

    assert.equal(letters.length, 1);
    const [l] = letters;
    assert.equal(l.category, 'poison');
    assert.equal(l.index, 1);
    assert.equal(l.lsn, bigIntToLsn(0x1ffn));
    assert.equal(`${l.schema}.${l.table}`, 'public.inventory');
    assert.match(l.reason, /public\.inventory/);
    assert.match(l.reason, /updated_at/);
    assert.match(l.reason, /timestamptz/);
    assert.match(l.reason, /0\/1FF/);
    assert.doesNotMatch(l.reason, /2026|SECRET/, 'the reason never echoes a value');
    const raw = JSON.parse(l.raw.toString()) as { newTuple: string[]; columns: { name: string }[] };
    assert.deepEqual(raw.newTuple, ['SECRET-SKU', '1', '5', sqlStyle], 'the raw data keeps the change');
    assert.deepEqual(indexes(), [0, 2], 'the others go on, each keeping its index in the transaction');
    assert.deepEqual(acks, [0x200n], 'the transaction is acknowledged past the parked change');
    assert.equal(changes.progress.deadLettered, 1);
  });

  it('parks a change whose record is over the Kinesis record limit (permanent), with the encoded event', async () => {
    const { changes, letters, puts, acks, handleAll } = buffer(500);
    const products: PgoutputMessage = {
      tag: 'relation',
      relationId: 2,
      schema: 'public',
      name: 'products',
      replicaIdentity: 'f',
      columns: [col('product_id', PG_TYPE.TEXT), col('description', PG_TYPE.TEXT)],
    };
    const big = 'x'.repeat(600_000);
    const update: PgoutputMessage = {
      tag: 'update',
      relationId: 2,
      oldTuple: [text('P-1'), text(big)],
      newTuple: [text('P-1'), text(`${big}y`)],
    };
    await handleAll([products, ...tx(0x200n, [update]), ...tx(0x300n, [{ ...update }])]);
    await changes.flushAndAck();
    assert.equal(puts.flat().length, 0);
    assert.equal(letters.length, 2);
    const [l] = letters;
    assert.equal(l.category, 'permanent');
    assert.ok(l.raw.length > RECORD_MAX_BYTES);
    assert.equal(JSON.parse(l.raw.toString()).after.product_id, 'P-1', 'the raw data is the encoded event');
    assert.match(l.partitionKey!, /^products:/);
    assert.match(l.reason, /public\.products at commit LSN 0\/1FF, index 0: the stream record is \d+ bytes/);
    assert.doesNotMatch(l.reason, /xxxx|P-1/);
    assert.deepEqual(acks, [0x300n]);
  });

  it('type errors never carry the value', () => {
    for (const [oid, value] of [
      [PG_TYPE.TIMESTAMPTZ, '02/01/2026 03:04:05 UTC'],
      [PG_TYPE.INT4, 'secret-42'],
      [PG_TYPE.JSONB, '{"ssn":"123-45-6789"'],
      [PG_TYPE.INT4_ARRAY, '{1,"secret}'],
    ] as const)
      assert.throws(
        () => convertPgText(oid, value),
        (e: Error) => e instanceof PgTypeError && !/2026|secret|ssn|6789/.test(e.message),
      );
  });
});

/**
 * A replication connection in memory: START_REPLICATION queues the given copy data at once; the
 * standby status updates sent back are kept.
 */
function fakeReplication(chunks: Buffer[]) {
  const startups: ({ replication: 'database'; options?: string } | undefined)[] = [];
  const flushed: bigint[] = [];
  const pg: PgClientFactory = (options) => {
    startups.push(options);
    if (!options)
      return {
        connect: async () => undefined,
        query: async () => ({
          rowCount: 1,
          rows: [{ confirmed_flush_lsn: '0/100', wal_status: 'reserved' }],
        }),
        end: async () => undefined,
      } as unknown as Client;
    let onCopyData: (m: { chunk: Buffer }) => void = () => undefined;
    return {
      database: 'inventory',
      connect: async () => undefined,
      on: () => undefined,
      end: async () => undefined,
      query: (sql: string) => {
        // The source's identity, read before START_REPLICATION (the source epoch).
        if (sql === SOURCE_IDENTITY_SQL)
          return Promise.resolve({ rows: [{ system_id: '7316660269188125790', timeline: 1 }] });
        for (const chunk of chunks) onCopyData({ chunk });
        return undefined;
      },
      connection: {
        on: (_event: string, listener: typeof onCopyData) => (onCopyData = listener),
        sendCopyFromChunk: (b: Buffer) => flushed.push(b.readBigUInt64BE(9)),
        stream: { pause: () => undefined, resume: () => undefined },
      },
    } as unknown as Client;
  };
  return { pg, startups, flushed };
}

/** XLogData frames of pgoutput messages (only what these tests send). */
const frame = (data: Buffer) => {
  const head = Buffer.alloc(25);
  head.write('w', 0, 'latin1');
  return Buffer.concat([head, data]);
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const i16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const relationFrame = frame(
  Buffer.concat([
    Buffer.from('R'),
    u32(1),
    cstr('public'),
    cstr('inventory'),
    Buffer.from('d'),
    i16(3),
    ...[
      ['sku', PG_TYPE.TEXT],
      ['warehouse_id', PG_TYPE.INT4],
      ['on_hand', PG_TYPE.INT4],
    ].flatMap(([name, oid]) => [Buffer.from([1]), cstr(name as string), u32(oid as number), u32(0xffffffff)]),
  ]),
);
const txFrames = (endLsn: bigint, sku: string) => {
  const values = [sku, '1', '5'].map((v) => Buffer.concat([Buffer.from('t'), u32(v.length), Buffer.from(v)]));
  return [
    frame(Buffer.concat([Buffer.from('B'), u64(endLsn - 1n), u64(0n), u32(7)])),
    frame(Buffer.concat([Buffer.from('I'), u32(1), Buffer.from('N'), i16(3), ...values])),
    frame(Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(endLsn - 1n), u64(endLsn), u64(0n)])),
  ];
};

describe('capture activity: session settings and leaving the loop', () => {
  const noAlerts: AlertPublisher = { publishAlerts: () => Promise.reject(new Error('no alerts expected')) };
  const kinesis = () =>
    new FakeKinesis((c) => ({
      FailedRecordCount: 0,
      Records: (c.input.Records as unknown[]).map((_, i) => ({ SequenceNumber: String(i), ShardId: 's' })),
    }));

  it('pins the session settings the type decoder depends on, after any PGOPTIONS', async () => {
    const { pg, startups } = fakeReplication([]);
    const f = fakes(kinesis());
    const saved = process.env.PGOPTIONS;
    process.env.PGOPTIONS = '-c statement_timeout=0';
    try {
      await new MockActivityEnvironment().run(
        captureChanges,
        { config: loadConfig({}), ...f.io, pg },
        noAlerts,
        { slot: 'slot', publication: 'pub', maxRunMs: 10 },
      );
    } finally {
      if (saved === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = saved;
    }
    const replication = startups.find((s) => s?.replication === 'database');
    assert.ok(replication?.options, 'the replication connection has startup options');
    assert.ok(replication.options.startsWith('-c statement_timeout=0 '), 'PGOPTIONS first, ours win');
    for (const [name, value] of Object.entries(DECODER_SESSION_SETTINGS))
      assert.ok(replication.options.includes(`-c ${name}=${value}`), `${name}=${value}`);
    assert.deepEqual(DECODER_SESSION_SETTINGS, {
      DateStyle: 'ISO',
      IntervalStyle: 'postgres',
      extra_float_digits: '3',
      bytea_output: 'hex',
      TimeZone: 'UTC',
    });
  });

  it('a source whose timeline differs from the recorded one starts a new epoch; its changes carry it', async () => {
    const { pg } = fakeReplication([relationFrame, ...txFrames(0x2000n, 'EPOCH')]);
    const k = kinesis();
    const f = fakes(k);
    const config = loadConfig({});
    // Recorded by an earlier run on the old primary (timeline 1 there; the fake source says 1 too,
    // so make the record say another system): the source changed.
    f.doc.table(config.tables.state).set(sourceEpochKey('slot'), {
      pk: sourceEpochKey('slot'),
      systemId: '1111',
      timeline: 3,
      epoch: 2,
      since: '2026-01-01T00:00:00.000Z',
      reason: 'first-seen',
    });
    const progress: CaptureProgress = await new MockActivityEnvironment().run(
      captureChanges,
      { config, ...f.io, pg },
      noAlerts,
      { slot: 'slot', publication: 'pub', maxRunMs: 50 },
    );
    assert.equal(progress.epoch, 3);
    const item = f.doc.item(config.tables.state, sourceEpochKey('slot'));
    assert.equal(item?.epoch, 3);
    assert.equal(item?.systemId, '7316660269188125790');
    assert.deepEqual(item?.previous, { systemId: '1111', timeline: 3, epoch: 2 });
    const records = k.sent.flatMap((c) => c.input.Records as { Data: Uint8Array }[]);
    assert.equal(records.length, 1);
    const event = JSON.parse(Buffer.from(records[0]!.Data).toString('utf8'));
    assert.equal(event.source.epoch, 3);
  });

  it('refuses (retryably) a source that is the one of the epoch before, and writes nothing', async () => {
    const { pg } = fakeReplication([relationFrame, ...txFrames(0x2000n, 'BACK')]);
    const k = kinesis();
    const f = fakes(k);
    const config = loadConfig({});
    // Epoch 1 is the promoted replica (timeline 2); the fake source is the old primary (timeline 1).
    const record = {
      pk: sourceEpochKey('slot'),
      systemId: '7316660269188125790',
      timeline: 2,
      epoch: 1,
      since: '2026-01-01T00:00:00.000Z',
      reason: 'identity-changed',
      previous: { systemId: '7316660269188125790', timeline: 1, epoch: 0 },
    };
    f.doc.table(config.tables.state).set(sourceEpochKey('slot'), record);
    await assert.rejects(
      new MockActivityEnvironment().run(captureChanges, { config, ...f.io, pg }, noAlerts, {
        slot: 'slot',
        publication: 'pub',
        maxRunMs: 50,
      }),
      (err: Error) =>
        err.name === 'SourceEpochMismatchError' && /the source of epoch 0 before/.test(err.message),
    );
    assert.deepEqual(f.doc.item(config.tables.state, sourceEpochKey('slot')), record, 'the epoch stays');
    assert.equal(k.sent.length, 0, 'nothing streamed');
  });

  it('ends its run when the recorded epoch moves under it (an operator bump), acknowledging nothing more', async () => {
    const { pg } = fakeReplication([relationFrame, ...txFrames(0x2000n, 'BUMP')]);
    const k = kinesis();
    const f = fakes(k);
    const config = loadConfig({});
    const lines: string[] = [];
    const started = Date.now();
    const bump = setTimeout(() => {
      const item = f.doc.item(config.tables.state, sourceEpochKey('slot'))!;
      f.doc.table(config.tables.state).set(sourceEpochKey('slot'), { ...item, epoch: 1, reason: 'operator' });
    }, 300);
    const logger = {
      warn: (m: string) => lines.push(m),
      info: () => undefined,
      debug: () => undefined,
      error: () => undefined,
      trace: () => undefined,
      log: () => undefined,
    };
    let progress: CaptureProgress;
    try {
      progress = await new MockActivityEnvironment(undefined, { logger: logger as never }).run(
        captureChanges,
        { config, ...f.io, pg },
        noAlerts,
        { slot: 'slot', publication: 'pub', maxRunMs: 20_000, statusIntervalMs: 100 },
      );
    } finally {
      clearTimeout(bump);
    }
    const took = Date.now() - started;
    assert.ok(took < 5_000, `the run ended soon after the bump, not at its deadline: ${took} ms`);
    assert.equal(progress.epoch ?? 0, 0, 'this run stamped epoch 0');
    assert.ok(
      lines.some((l) =>
        /source epoch of slot slot is now 1 \(operator\), this capture run stamps 0: ending the run/.test(l),
      ),
      `logged: ${JSON.stringify(lines)}`,
    );
  });

  it('puts what is buffered on the stream and acknowledges it when the deadline comes while busy', async () => {
    const transactions = 20_000;
    const chunks = [relationFrame];
    for (let t = 1; t <= transactions; t++) chunks.push(...txFrames(0x1000n + BigInt(t) * 0x100n, `S${t}`));
    const { pg, flushed } = fakeReplication(chunks);
    const k = kinesis();
    const f = fakes(k);
    const progress: CaptureProgress = await new MockActivityEnvironment().run(
      captureChanges,
      { config: loadConfig({}), ...f.io, pg },
      noAlerts,
      // No flush by count before the deadline; the queue is far from drained at 30 ms.
      { slot: 'slot', publication: 'pub', maxRunMs: 30, flushEvery: 1_000_000 },
    );
    assert.ok(progress.transactions > 0 && progress.transactions < transactions, 'left while busy');
    const expected = 0x1000n + BigInt(progress.transactions) * 0x100n;
    assert.equal(progress.ackedLsn, bigIntToLsn(expected), 'the last commit processed is acknowledged');
    assert.equal(flushed.at(-1), expected, 'and PostgreSQL was told before the connection closed');
    const put = k.sent.flatMap((c) => c.input.Records as unknown[]).length;
    assert.ok(put >= progress.transactions, `every record up to it is on the stream (${put})`);
  });

  it('keeps telling PostgreSQL its status and Temporal its heartbeat while a PutRecords takes long', async () => {
    const { pg, flushed } = fakeReplication([relationFrame, ...txFrames(0x2000n, 'SLOW')]);
    let duringPut = -1;
    let heartbeats = 0;
    let heartbeatsDuringPut = -1;
    const slow = new FakeKinesis(async (c) => {
      const before = flushed.length;
      const beats = heartbeats;
      await new Promise((r) => setTimeout(r, 2_500));
      duringPut = flushed.length - before;
      heartbeatsDuringPut = heartbeats - beats;
      return {
        FailedRecordCount: 0,
        Records: (c.input.Records as unknown[]).map((_, i) => ({ SequenceNumber: String(i), ShardId: 's' })),
      };
    });
    const env = new MockActivityEnvironment();
    env.on('heartbeat', () => heartbeats++);
    await env.run(captureChanges, { config: loadConfig({}), ...fakes(slow).io, pg }, noAlerts, {
      slot: 'slot',
      publication: 'pub',
      maxRunMs: 3_000,
      statusIntervalMs: 200,
    });
    assert.ok(duringPut >= 8, `standby status updates sent during a 2.5 s PutRecords: ${duringPut}`);
    assert.ok(heartbeatsDuringPut >= 1, `heartbeats during it: ${heartbeatsDuringPut}`);
  });
});
