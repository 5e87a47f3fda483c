import assert from 'node:assert/strict';
import {
  decodePgoutput,
  encodeStandbyStatus,
  parseReplicationFrame,
  pgEpochMicrosToIso,
  type TupleValue,
} from '../../../domain/capture/pgoutput';
import { PgoutputDecodeError } from '../../../domain/core/errors';
import { bigIntToLsn, lsnSortable, lsnToBigInt } from '../../../domain/core/lsn';

/** Tiny big-endian message builder. */
class B {
  private parts: Buffer[] = [];
  tag(c: string): this {
    return this.raw(Buffer.from(c, 'latin1'));
  }
  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.raw(b);
  }
  i16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    return this.raw(b);
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return this.raw(b);
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return this.raw(b);
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.raw(b);
  }
  i64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return this.raw(b);
  }
  str(s: string): this {
    return this.raw(Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]));
  }
  /** TupleData: null -> 'n', undefined -> 'u', string -> 't' */
  tuple(values: (string | null | undefined)[]): this {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.tag('n');
      else if (v === undefined) this.tag('u');
      else {
        const bytes = Buffer.from(v, 'utf8');
        this.tag('t').i32(bytes.length).raw(bytes);
      }
    }
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const t = (value: string): TupleValue => ({ kind: 'text', value });
const NULL: TupleValue = { kind: 'null' };
const TOAST: TupleValue = { kind: 'unchanged-toast' };

function assertDecodeError(buf: Buffer, pattern: RegExp): void {
  assert.throws(
    () => decodePgoutput(buf),
    (e: unknown) => {
      assert.ok(e instanceof PgoutputDecodeError, `expected PgoutputDecodeError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('LSN helpers', () => {
  it('parses and formats X/Y', () => {
    assert.equal(lsnToBigInt('0/16C4460'), 0x16c4460n);
    assert.equal(lsnToBigInt('1/0'), 1n << 32n);
    assert.equal(lsnToBigInt('a/b'), 0xa0000000bn);
    assert.equal(bigIntToLsn(0x16c4460n), '0/16C4460');
    assert.equal(bigIntToLsn(0n), '0/0');
    assert.equal(bigIntToLsn((1n << 64n) - 1n), 'FFFFFFFF/FFFFFFFF');
  });

  it('round-trips', () => {
    for (const lsn of ['0/0', '0/16C4460', '1/0', 'DEADBEEF/1', 'FFFFFFFF/FFFFFFFF']) {
      assert.equal(bigIntToLsn(lsnToBigInt(lsn)), lsn);
    }
    for (const v of [0n, 1n, 0xffffffffn, 0x100000000n, 0x123456789abcdefn]) {
      assert.equal(lsnToBigInt(bigIntToLsn(v)), v);
    }
  });

  it('rejects malformed LSNs and out-of-range values', () => {
    for (const bad of ['', '0', '0/', '/0', 'G/0', '0/123456789', '0x1/0', ' 0/0']) {
      assert.throws(() => lsnToBigInt(bad), RangeError, bad);
    }
    assert.throws(() => bigIntToLsn(-1n), RangeError);
    assert.throws(() => bigIntToLsn(1n << 64n), RangeError);
  });

  it('lsnSortable is 16 hex digits whose string order equals LSN order', () => {
    assert.equal(lsnSortable('0/16C4460'), '00000000016C4460');
    assert.equal(lsnSortable('a/b'), '0000000A0000000B');
    const lsns = ['1/0', '0/FFFFFFFF', '0/9', '0/10', 'A/1', '9/FFFFFFFF', '0/0', '10/0'];
    const byValue = [...lsns].sort((a, b) => (lsnToBigInt(a) < lsnToBigInt(b) ? -1 : 1));
    const byString = [...lsns].sort((a, b) => (lsnSortable(a) < lsnSortable(b) ? -1 : 1));
    assert.deepEqual(byString, byValue);
    assert.deepEqual(byValue, ['0/0', '0/9', '0/10', '0/FFFFFFFF', '1/0', '9/FFFFFFFF', 'A/1', '10/0']);
  });
});

describe('replication frames', () => {
  it('parses XLogData', () => {
    const payload = Buffer.from([0x42, 1, 2, 3]);
    const f = parseReplicationFrame(
      new B().tag('w').u64(0x16c4460n).u64(0x16c5000n).i64(800000000123456n).raw(payload).build(),
    );
    assert.deepEqual(f, {
      kind: 'xlogdata',
      walStart: 0x16c4460n,
      walEnd: 0x16c5000n,
      serverTimeMicros: 800000000123456n,
      data: payload,
    });
  });

  it('parses XLogData with empty data', () => {
    const f = parseReplicationFrame(new B().tag('w').u64(1n).u64(2n).i64(3n).build());
    assert.equal(f.kind, 'xlogdata');
    assert.equal(f.kind === 'xlogdata' && f.data.length, 0);
  });

  it('parses keepalive with and without reply request', () => {
    assert.deepEqual(
      parseReplicationFrame(new B().tag('k').u64(0xffffffff00000001n).i64(-5n).u8(1).build()),
      {
        kind: 'keepalive',
        walEnd: 0xffffffff00000001n,
        serverTimeMicros: -5n,
        replyRequested: true,
      },
    );
    const f = parseReplicationFrame(new B().tag('k').u64(7n).i64(8n).u8(0).build());
    assert.equal(f.kind === 'keepalive' && f.replyRequested, false);
  });

  it('rejects unknown tags, empty and truncated frames', () => {
    const isErr = (re: RegExp) => (e: unknown) => e instanceof PgoutputDecodeError && re.test(e.message);
    assert.throws(() => parseReplicationFrame(Buffer.from('x')), isErr(/unknown replication frame tag/));
    assert.throws(() => parseReplicationFrame(Buffer.alloc(0)), isErr(/empty/));
    assert.throws(
      () => parseReplicationFrame(new B().tag('w').u64(1n).u64(2n).build()),
      isErr(/'w' at offset 17: truncated/),
    );
    assert.throws(
      () => parseReplicationFrame(new B().tag('k').u64(1n).i64(2n).build()),
      isErr(/truncated reading replyRequested/),
    );
    assert.throws(
      () => parseReplicationFrame(new B().tag('k').u64(1n).i64(2n).u8(0).u8(0).build()),
      isErr(/trailing/),
    );
  });
});

describe('encodeStandbyStatus', () => {
  it('lays out 34 bytes: r, written, flushed, applied, client time, reply', () => {
    const now = Date.UTC(2026, 10, 23, 1, 2, 3, 456);
    const b = encodeStandbyStatus(0x16c4460n, now, true);
    assert.equal(b.length, 34);
    assert.equal(b.toString('latin1', 0, 1), 'r');
    assert.equal(b.readBigUInt64BE(1), 0x16c4460n);
    assert.equal(b.readBigUInt64BE(9), 0x16c4460n);
    assert.equal(b.readBigUInt64BE(17), 0x16c4460n);
    const micros = b.readBigInt64BE(25);
    assert.equal(micros, BigInt(now - Date.UTC(2000, 0, 1)) * 1000n);
    assert.equal(pgEpochMicrosToIso(micros), '2026-11-23T01:02:03.456Z');
    assert.equal(b[33], 1);
  });

  it('defaults reply flag to 0 and encodes the PG epoch as 0', () => {
    const b = encodeStandbyStatus(0n, Date.UTC(2000, 0, 1));
    assert.equal(b.toString('hex'), '72' + '00'.repeat(33));
  });
});

describe('pgEpochMicrosToIso', () => {
  it('converts and drops sub-millisecond digits', () => {
    assert.equal(pgEpochMicrosToIso(0n), '2000-01-01T00:00:00.000Z');
    assert.equal(pgEpochMicrosToIso(1999n), '2000-01-01T00:00:00.001Z');
    assert.equal(pgEpochMicrosToIso(-1n), '1999-12-31T23:59:59.999Z');
    // 2026-11-23T01:02:03.456789Z
    const micros = BigInt(Date.UTC(2026, 10, 23, 1, 2, 3, 456) - Date.UTC(2000, 0, 1)) * 1000n + 789n;
    assert.equal(pgEpochMicrosToIso(micros), '2026-11-23T01:02:03.456Z');
  });
});

describe('decodePgoutput', () => {
  it('Begin', () => {
    const m = decodePgoutput(new B().tag('B').u64(0x16c4460n).i64(123456789n).u32(0xfffffff0).build());
    assert.deepEqual(m, {
      tag: 'begin',
      finalLsn: 0x16c4460n,
      commitTimeMicros: 123456789n,
      xid: 0xfffffff0,
    });
  });

  it('Commit', () => {
    const m = decodePgoutput(new B().tag('C').u8(0).u64(10n).u64(20n).i64(30n).build());
    assert.deepEqual(m, { tag: 'commit', flags: 0, commitLsn: 10n, endLsn: 20n, commitTimeMicros: 30n });
  });

  it('Origin', () => {
    const m = decodePgoutput(new B().tag('O').u64(0xabcn).str('node_ä').build());
    assert.deepEqual(m, { tag: 'origin', originLsn: 0xabcn, name: 'node_ä' });
  });

  it('Relation', () => {
    const buf = new B()
      .tag('R')
      .u32(16385)
      .str('inventory')
      .str('stock')
      .tag('f')
      .i16(3)
      .u8(1)
      .str('sku')
      .u32(25)
      .i32(-1)
      .u8(0)
      .str('qty')
      .u32(23)
      .i32(-1)
      .u8(0)
      .str('price')
      .u32(1700)
      .i32(((12 << 16) | 2) + 4)
      .build();
    assert.deepEqual(decodePgoutput(buf), {
      tag: 'relation',
      relationId: 16385,
      schema: 'inventory',
      name: 'stock',
      replicaIdentity: 'f',
      columns: [
        { isKey: true, name: 'sku', typeOid: 25, typeMod: -1 },
        { isKey: false, name: 'qty', typeOid: 23, typeMod: -1 },
        { isKey: false, name: 'price', typeOid: 1700, typeMod: 786438 },
      ],
    });
  });

  it('Relation with zero columns and empty (pg_catalog) namespace', () => {
    const m = decodePgoutput(new B().tag('R').u32(1).str('').str('x').tag('n').i16(0).build());
    assert.deepEqual(m, {
      tag: 'relation',
      relationId: 1,
      schema: '',
      name: 'x',
      replicaIdentity: 'n',
      columns: [],
    });
  });

  it('Type', () => {
    const m = decodePgoutput(new B().tag('Y').u32(16400).str('public').str('mood').build());
    assert.deepEqual(m, { tag: 'type', typeOid: 16400, schema: 'public', name: 'mood' });
  });

  it('Insert with text, null, empty and multi-byte values', () => {
    const m = decodePgoutput(new B().tag('I').u32(16385).tag('N').tuple(['1', null, '', 'crème €']).build());
    assert.deepEqual(m, { tag: 'insert', relationId: 16385, newTuple: [t('1'), NULL, t(''), t('crème €')] });
  });

  it('Update without old tuple', () => {
    const m = decodePgoutput(new B().tag('U').u32(5).tag('N').tuple(['1', undefined]).build());
    assert.deepEqual(m, { tag: 'update', relationId: 5, newTuple: [t('1'), TOAST] });
  });

  it("Update with 'K' key tuple", () => {
    const m = decodePgoutput(
      new B().tag('U').u32(5).tag('K').tuple(['1', null]).tag('N').tuple(['2', 'b']).build(),
    );
    assert.deepEqual(m, {
      tag: 'update',
      relationId: 5,
      keyTuple: [t('1'), NULL],
      newTuple: [t('2'), t('b')],
    });
  });

  it("Update with 'O' old tuple", () => {
    const m = decodePgoutput(
      new B().tag('U').u32(5).tag('O').tuple(['1', 'a']).tag('N').tuple(['1', 'b']).build(),
    );
    assert.deepEqual(m, {
      tag: 'update',
      relationId: 5,
      oldTuple: [t('1'), t('a')],
      newTuple: [t('1'), t('b')],
    });
  });

  it("Delete with 'K' and with 'O'", () => {
    assert.deepEqual(decodePgoutput(new B().tag('D').u32(7).tag('K').tuple(['9', null]).build()), {
      tag: 'delete',
      relationId: 7,
      keyTuple: [t('9'), NULL],
    });
    assert.deepEqual(decodePgoutput(new B().tag('D').u32(7).tag('O').tuple(['9', 'x']).build()), {
      tag: 'delete',
      relationId: 7,
      oldTuple: [t('9'), t('x')],
    });
  });

  it('Truncate with option bits', () => {
    const mk = (opts: number) =>
      decodePgoutput(new B().tag('T').i32(2).u8(opts).u32(16385).u32(0x80000000).build());
    assert.deepEqual(mk(0), {
      tag: 'truncate',
      relationIds: [16385, 0x80000000],
      cascade: false,
      restartIdentity: false,
    });
    assert.deepEqual(mk(1), {
      tag: 'truncate',
      relationIds: [16385, 0x80000000],
      cascade: true,
      restartIdentity: false,
    });
    assert.deepEqual(mk(3), {
      tag: 'truncate',
      relationIds: [16385, 0x80000000],
      cascade: true,
      restartIdentity: true,
    });
  });

  it('Message (transactional and not)', () => {
    const content = Buffer.from([0, 0xff, 0x41]);
    const m = decodePgoutput(new B().tag('M').u8(1).u64(0x99n).str('inv').i32(3).raw(content).build());
    assert.deepEqual(m, { tag: 'message', transactional: true, lsn: 0x99n, prefix: 'inv', content });
    const m2 = decodePgoutput(new B().tag('M').u8(0).u64(1n).str('p').i32(0).build());
    assert.deepEqual(m2, {
      tag: 'message',
      transactional: false,
      lsn: 1n,
      prefix: 'p',
      content: Buffer.alloc(0),
    });
  });

  describe('real PostgreSQL 15 pgoutput bytes', () => {
    // Captured with pg_logical_slot_peek_binary_changes(..., 'proto_version','1', 'messages','true') for
    // table t (id int primary key, name text, big text, n numeric, j jsonb).
    const hex = (s: string) => Buffer.from(s, 'hex');

    it('Begin / Commit', () => {
      assert.deepEqual(decodePgoutput(hex('420000000001926b80000303e69284fc5d000002d9')), {
        tag: 'begin',
        finalLsn: lsnToBigInt('0/1926B80'),
        commitTimeMicros: 0x303e69284fc5dn,
        xid: 729,
      });
      assert.deepEqual(decodePgoutput(hex('43000000000001926b800000000001926bb0000303e69284fc5d')), {
        tag: 'commit',
        flags: 0,
        commitLsn: lsnToBigInt('0/1926B80'),
        endLsn: lsnToBigInt('0/1926BB0'),
        commitTimeMicros: 0x303e69284fc5dn,
      });
    });

    it('Relation', () => {
      const m = decodePgoutput(
        hex(
          '52000040017075626c69630074006400050169640000000017ffffffff006e616d650000000019ffffffff00626967000000' +
            '0019ffffffff006e00000006a4ffffffff006a0000000edaffffffff',
        ),
      );
      assert.deepEqual(m, {
        tag: 'relation',
        relationId: 16385,
        schema: 'public',
        name: 't',
        replicaIdentity: 'd',
        columns: [
          { isKey: true, name: 'id', typeOid: 23, typeMod: -1 },
          { isKey: false, name: 'name', typeOid: 25, typeMod: -1 },
          { isKey: false, name: 'big', typeOid: 25, typeMod: -1 },
          { isKey: false, name: 'n', typeOid: 1700, typeMod: -1 },
          { isKey: false, name: 'j', typeOid: 3802, typeMod: -1 },
        ],
      });
    });

    it('Update with unchanged TOAST value, Update with key change, Delete, Truncate, Message', () => {
      assert.deepEqual(
        decodePgoutput(
          hex('55000040014e0005740000000131740000000162757400000004312e353074000000087b226b223a20317d'),
        ),
        { tag: 'update', relationId: 16385, newTuple: [t('1'), t('b'), TOAST, t('1.50'), t('{"k": 1}')] },
      );
      assert.deepEqual(
        decodePgoutput(
          hex(
            '55000040014b00057400000001316e6e6e6e4e0005740000000132740000000162757400000004312e353074000000087b226b223a20317d',
          ),
        ),
        {
          tag: 'update',
          relationId: 16385,
          keyTuple: [t('1'), NULL, NULL, NULL, NULL],
          newTuple: [t('2'), t('b'), TOAST, t('1.50'), t('{"k": 1}')],
        },
      );
      assert.deepEqual(decodePgoutput(hex('44000040014b00057400000001326e6e6e6e')), {
        tag: 'delete',
        relationId: 16385,
        keyTuple: [t('2'), NULL, NULL, NULL, NULL],
      });
      assert.deepEqual(decodePgoutput(hex('54000000010000004001')), {
        tag: 'truncate',
        relationIds: [16385],
        cascade: false,
        restartIdentity: false,
      });
      assert.deepEqual(decodePgoutput(hex('4d010000000001927bd8706678000000000568656c6c6f')), {
        tag: 'message',
        transactional: true,
        lsn: lsnToBigInt('0/1927BD8'),
        prefix: 'pfx',
        content: Buffer.from('hello'),
      });
    });
  });

  describe('malformed input', () => {
    it('empty buffer', () => assertDecodeError(Buffer.alloc(0), /empty/));

    it('unknown and unsupported (streaming) tags', () => {
      assertDecodeError(Buffer.from('Z'), /pgoutput 'Z' at offset 0: unknown/);
      assertDecodeError(
        new B().tag('S').u32(1).u8(1).build(),
        /pgoutput 'S' at offset 0: unknown or unsupported/,
      );
      assertDecodeError(Buffer.from([0x00]), /pgoutput 0x00 at offset 0/);
    });

    it('every truncation of every message type fails cleanly', () => {
      const samples = [
        new B().tag('B').u64(1n).i64(2n).u32(3).build(),
        new B().tag('C').u8(0).u64(1n).u64(2n).i64(3n).build(),
        new B().tag('O').u64(1n).str('o').build(),
        new B().tag('R').u32(1).str('s').str('n').tag('d').i16(1).u8(1).str('c').u32(23).i32(-1).build(),
        new B().tag('Y').u32(1).str('s').str('n').build(),
        new B().tag('I').u32(1).tag('N').tuple(['abc', null, undefined]).build(),
        new B().tag('U').u32(1).tag('O').tuple(['a']).tag('N').tuple(['b']).build(),
        new B().tag('D').u32(1).tag('K').tuple(['a']).build(),
        new B().tag('T').i32(2).u8(0).u32(1).u32(2).build(),
        new B().tag('M').u8(1).u64(1n).str('p').i32(2).raw(Buffer.from('hi')).build(),
      ];
      for (const full of samples) {
        assert.doesNotThrow(() => decodePgoutput(full));
        for (let len = 1; len < full.length; len++) {
          assert.throws(
            () => decodePgoutput(full.subarray(0, len)),
            PgoutputDecodeError,
            `${full.toString('latin1', 0, 1)} truncated to ${len}`,
          );
        }
        assertDecodeError(Buffer.concat([full, Buffer.from([0])]), /unexpected trailing bytes/);
      }
    });

    it('reports the tag and offset of a truncated field', () => {
      assertDecodeError(
        new B().tag('B').u64(1n).i64(2n).u8(0).build(),
        /^pgoutput 'B' at offset 17: truncated reading xid \(need 4 bytes, have 1\)$/,
      );
      assertDecodeError(
        new B().tag('I').u32(1).tag('N').i16(1).tag('t').i32(10).raw(Buffer.from('abc')).build(),
        /'I' at offset 13: truncated reading tuple column 0 value \(need 10 bytes, have 3\)/,
      );
      assertDecodeError(
        new B().tag('Y').u32(1).str('s').raw(Buffer.from('noterm')).build(),
        /unterminated string for type name/,
      );
    });

    it('rejects binary and unknown tuple kinds, bad sub-tags and bad values', () => {
      assertDecodeError(
        new B().tag('I').u32(1).tag('N').i16(1).tag('b').i32(1).u8(0).build(),
        /offset 8: binary tuple value/,
      );
      assertDecodeError(
        new B().tag('I').u32(1).tag('N').i16(1).tag('x').build(),
        /unknown tuple column kind 'x'/,
      );
      assertDecodeError(
        new B().tag('I').u32(1).tag('K').tuple([]).build(),
        /expected 'N' \(new tuple\), got 'K'/,
      );
      assertDecodeError(
        new B().tag('U').u32(1).tag('K').tuple([]).tag('O').tuple([]).build(),
        /expected 'K', 'O' or 'N' tuple, got 'O'/,
      );
      assertDecodeError(new B().tag('D').u32(1).tag('N').tuple([]).build(), /expected 'K' or 'O'/);
      assertDecodeError(
        new B().tag('R').u32(1).str('s').str('n').tag('z').i16(0).build(),
        /unknown replica identity "z"/,
      );
      assertDecodeError(new B().tag('I').u32(1).tag('N').i16(-1).build(), /negative tuple column count/);
      assertDecodeError(
        new B().tag('I').u32(1).tag('N').i16(1).tag('t').i32(-2).build(),
        /negative length -2/,
      );
      assertDecodeError(new B().tag('T').i32(-1).u8(0).build(), /negative relation count/);
      assertDecodeError(
        new B().tag('I').u32(1).tag('N').i16(1).tag('t').i32(1).u8(0xff).build(),
        /invalid UTF-8 in tuple column 0/,
      );
      assertDecodeError(
        new B()
          .tag('O')
          .u64(1n)
          .raw(Buffer.from([0xc3, 0x28, 0]))
          .build(),
        /invalid UTF-8 in origin name/,
      );
    });
  });
});
