/**
 * Pure decoders for PostgreSQL logical replication (no I/O).
 *
 * Two layers, per the PostgreSQL 15 docs:
 *  - "Streaming Replication Protocol": the CopyData payloads exchanged during
 *    START_REPLICATION (XLogData 'w', primary keepalive 'k', standby status 'r').
 *  - "Logical Replication Message Formats": the pgoutput plugin messages carried
 *    inside XLogData, protocol version 1, text-format tuple values.
 *
 * All integers on the wire are big-endian (network order). Strings are
 * NUL-terminated UTF-8. Anything malformed, truncated or unsupported raises
 * PgoutputDecodeError naming the message tag and byte offset; the decoder never
 * returns a partially decoded message.
 */

import { PgoutputDecodeError } from '../core/errors';
import { U64_MAX } from '../core/lsn';

/**
 * Bounds-checked big-endian cursor over a buffer. Every read checks the
 * remaining length first, so truncation surfaces as a PgoutputDecodeError with
 * the offending offset instead of a RangeError or a silently wrong value.
 */
class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string, // e.g. "pgoutput 'R'" for error messages
  ) {}

  fail(reason: string, at = this.pos): never {
    throw new PgoutputDecodeError(`${this.what} at offset ${at}: ${reason}`);
  }
  private need(n: number, field: string): void {
    const have = this.buf.length - this.pos;
    if (have < n) this.fail(`truncated reading ${field} (need ${n} bytes, have ${have})`);
  }
  u8(field: string): number {
    this.need(1, field);
    return this.buf.readUInt8(this.pos++);
  }
  i16(field: string): number {
    this.need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  i32(field: string): number {
    this.need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** OIDs and xids are unsigned 32-bit even though the docs call them Int32. */
  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** LSNs are unsigned 64-bit. */
  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  /** Timestamps (micros since 2000-01-01) are signed 64-bit. */
  i64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(n: number, field: string): Buffer {
    if (n < 0) this.fail(`negative length ${n} for ${field}`);
    this.need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** NUL-terminated string; must be valid UTF-8. */
  cstring(field: string): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) this.fail(`unterminated string for ${field}`);
    const s = utf8(this.buf.subarray(this.pos, end), () => this.fail(`invalid UTF-8 in ${field}`));
    this.pos = end + 1;
    return s;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return b;
  }
  /** A message must be consumed exactly; trailing bytes mean we misread the format. */
  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} unexpected trailing bytes`);
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function utf8(b: Buffer, onError: () => never): string {
  try {
    return strictUtf8.decode(b);
  } catch {
    return onError();
  }
}

function tagName(t: number): string {
  return t >= 0x20 && t < 0x7f ? `'${String.fromCharCode(t)}'` : `0x${t.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------
// Streaming replication framing (CopyData payloads)
// ---------------------------------------------------------------------------

export type ReplicationFrame =
  | { kind: 'xlogdata'; walStart: bigint; walEnd: bigint; serverTimeMicros: bigint; data: Buffer }
  | { kind: 'keepalive'; walEnd: bigint; serverTimeMicros: bigint; replyRequested: boolean };

/**
 * Parse one CopyData payload sent by the server during START_REPLICATION.
 *   'w' XLogData:  Int64 walStart, Int64 walEnd (server's current end of WAL), Int64 sendTime, Byte[n] data
 *   'k' Keepalive: Int64 walEnd, Int64 sendTime, Byte1 replyRequested (1 = reply ASAP)
 * `data` is a view into `chunk` (not a copy).
 */
export function parseReplicationFrame(chunk: Buffer): ReplicationFrame {
  if (chunk.length === 0) throw new PgoutputDecodeError('replication frame at offset 0: empty frame');
  const tag = chunk[0]!;
  const r = new Reader(chunk, `replication frame ${tagName(tag)}`);
  r.pos = 1;
  switch (tag) {
    case 0x77 /* w */: {
      const walStart = r.u64('walStart');
      const walEnd = r.u64('walEnd');
      const serverTimeMicros = r.i64('serverTime');
      return { kind: 'xlogdata', walStart, walEnd, serverTimeMicros, data: r.rest() };
    }
    case 0x6b /* k */: {
      const walEnd = r.u64('walEnd');
      const serverTimeMicros = r.i64('serverTime');
      const reply = r.u8('replyRequested');
      r.end();
      return { kind: 'keepalive', walEnd, serverTimeMicros, replyRequested: reply === 1 };
    }
    default:
      return r.fail('unknown replication frame tag', 0);
  }
}

/** Unix epoch millis of the PostgreSQL epoch 2000-01-01T00:00:00Z. */
const PG_EPOCH_UNIX_MILLIS = 946_684_800_000n;

/**
 * Standby status update ('r'): written/flushed/applied LSN, client clock (micros since 2000-01-01 UTC), reply flag.
 * Layout (34 bytes): Byte1 'r', Int64 written, Int64 flushed, Int64 applied, Int64 clientTime, Byte1 reply.
 * We report the same LSN for all three positions: a CDC consumer "applies" a change exactly when it has
 * durably handled it, and the server only uses `flushed` to advance the slot's confirmed_flush_lsn.
 */
export function encodeStandbyStatus(flushed: bigint, nowMillis: number, replyRequested = false): Buffer {
  if (flushed < 0n || flushed > U64_MAX) throw new RangeError(`LSN out of range: ${flushed}`);
  const micros = (BigInt(Math.floor(nowMillis)) - PG_EPOCH_UNIX_MILLIS) * 1000n;
  const b = Buffer.alloc(34);
  b.write('r', 0, 'latin1');
  b.writeBigUInt64BE(flushed, 1); // written
  b.writeBigUInt64BE(flushed, 9); // flushed
  b.writeBigUInt64BE(flushed, 17); // applied
  b.writeBigInt64BE(micros, 25);
  b.writeUInt8(replyRequested ? 1 : 0, 33);
  return b;
}

/** micros since 2000-01-01T00:00:00Z -> ISO-8601 string with microseconds dropped to millis, e.g. "2026-11-23T01:02:03.456Z" */
export function pgEpochMicrosToIso(micros: bigint): string {
  // Floor (not truncate) so pre-2000 instants round toward the past like the positive case.
  let ms = micros / 1000n;
  if (micros % 1000n < 0n) ms -= 1n;
  return new Date(Number(ms + PG_EPOCH_UNIX_MILLIS)).toISOString();
}

// ---------------------------------------------------------------------------
// pgoutput messages (protocol version 1)
// ---------------------------------------------------------------------------

export type TupleValue = { kind: 'null' } | { kind: 'unchanged-toast' } | { kind: 'text'; value: string };
export interface RelationColumn {
  isKey: boolean;
  name: string;
  typeOid: number;
  typeMod: number;
}
export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: bigint; commitTimeMicros: bigint; xid: number }
  | { tag: 'commit'; flags: number; commitLsn: bigint; endLsn: bigint; commitTimeMicros: bigint }
  | { tag: 'origin'; originLsn: bigint; name: string }
  | {
      tag: 'relation';
      relationId: number;
      schema: string;
      name: string;
      replicaIdentity: 'd' | 'n' | 'f' | 'i';
      columns: RelationColumn[];
    }
  | { tag: 'type'; typeOid: number; schema: string; name: string }
  | { tag: 'insert'; relationId: number; newTuple: TupleValue[] }
  | {
      tag: 'update';
      relationId: number;
      keyTuple?: TupleValue[];
      oldTuple?: TupleValue[];
      newTuple: TupleValue[];
    }
  | { tag: 'delete'; relationId: number; keyTuple?: TupleValue[]; oldTuple?: TupleValue[] }
  | { tag: 'truncate'; relationIds: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: bigint; prefix: string; content: Buffer };

const NULL_VALUE: TupleValue = Object.freeze({ kind: 'null' });
const TOAST_VALUE: TupleValue = Object.freeze({ kind: 'unchanged-toast' });

/**
 * TupleData: Int16 ncols, then per column a Byte1 kind:
 *   'n' NULL; 'u' unchanged TOASTed value (UPDATE new tuple only: value not sent, keep the old one);
 *   't' text: Int32 len + bytes; 'b' binary: Int32 len + bytes.
 * Binary values only appear when the subscriber asked for `binary 'true'`. We never do, and a binary value
 * cannot be represented as TupleValue without losing its type-specific encoding, so 'b' is rejected.
 */
function readTuple(r: Reader): TupleValue[] {
  const n = r.i16('tuple column count');
  if (n < 0) r.fail(`negative tuple column count ${n}`, r.pos - 2);
  const out: TupleValue[] = [];
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const kind = r.u8(`tuple column ${i} kind`);
    switch (kind) {
      case 0x6e /* n */:
        out.push(NULL_VALUE);
        break;
      case 0x75 /* u */:
        out.push(TOAST_VALUE);
        break;
      case 0x74 /* t */: {
        const len = r.i32(`tuple column ${i} length`);
        const bytes = r.bytes(len, `tuple column ${i} value`);
        out.push({
          kind: 'text',
          value: utf8(bytes, () => r.fail(`invalid UTF-8 in tuple column ${i}`, at)),
        });
        break;
      }
      case 0x62 /* b */:
        return r.fail(`binary tuple value in column ${i} is not supported (use text format)`, at);
      default:
        return r.fail(`unknown tuple column kind ${tagName(kind)} in column ${i}`, at);
    }
  }
  return out;
}

const REPLICA_IDENTITIES = new Set(['d', 'n', 'f', 'i']);

/**
 * Decode one pgoutput message (the `data` of an XLogData frame).
 * Streaming (protocol v2: 'S','E','c','A') and two-phase (v3) messages are rejected as unsupported tags.
 */
export function decodePgoutput(data: Buffer): PgoutputMessage {
  if (data.length === 0) throw new PgoutputDecodeError('pgoutput message at offset 0: empty message');
  const tag = data[0]!;
  const r = new Reader(data, `pgoutput ${tagName(tag)}`);
  r.pos = 1;
  const msg = decodeBody(tag, r);
  r.end();
  return msg;
}

function decodeBody(tag: number, r: Reader): PgoutputMessage {
  switch (tag) {
    case 0x42 /* B: Begin */: {
      const finalLsn = r.u64('final LSN');
      const commitTimeMicros = r.i64('commit timestamp');
      const xid = r.u32('xid');
      return { tag: 'begin', finalLsn, commitTimeMicros, xid };
    }
    case 0x43 /* C: Commit */: {
      const flags = r.u8('flags'); // currently always 0
      const commitLsn = r.u64('commit LSN');
      const endLsn = r.u64('end LSN');
      const commitTimeMicros = r.i64('commit timestamp');
      return { tag: 'commit', flags, commitLsn, endLsn, commitTimeMicros };
    }
    case 0x4f /* O: Origin */: {
      const originLsn = r.u64('origin LSN');
      const name = r.cstring('origin name');
      return { tag: 'origin', originLsn, name };
    }
    case 0x52 /* R: Relation */: {
      const relationId = r.u32('relation OID');
      const schema = r.cstring('namespace'); // '' means pg_catalog
      const name = r.cstring('relation name');
      const identAt = r.pos;
      const ident = String.fromCharCode(r.u8('replica identity'));
      if (!REPLICA_IDENTITIES.has(ident))
        r.fail(`unknown replica identity ${JSON.stringify(ident)}`, identAt);
      const n = r.i16('column count');
      if (n < 0) r.fail(`negative column count ${n}`, r.pos - 2);
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8(`column ${i} flags`); // bit 1 = part of the key
        const colName = r.cstring(`column ${i} name`);
        const typeOid = r.u32(`column ${i} type OID`);
        const typeMod = r.i32(`column ${i} type modifier`); // -1 = none
        columns.push({ isKey: (flags & 1) === 1, name: colName, typeOid, typeMod });
      }
      return {
        tag: 'relation',
        relationId,
        schema,
        name,
        replicaIdentity: ident as 'd' | 'n' | 'f' | 'i',
        columns,
      };
    }
    case 0x59 /* Y: Type */: {
      const typeOid = r.u32('type OID');
      const schema = r.cstring('namespace');
      const name = r.cstring('type name');
      return { tag: 'type', typeOid, schema, name };
    }
    case 0x49 /* I: Insert */: {
      const relationId = r.u32('relation OID');
      expectByte(r, 0x4e, "'N' (new tuple)");
      return { tag: 'insert', relationId, newTuple: readTuple(r) };
    }
    case 0x55 /* U: Update */: {
      // Optional 'K' (old key columns, when the key changed under REPLICA IDENTITY DEFAULT/INDEX)
      // or 'O' (whole old row, REPLICA IDENTITY FULL), then mandatory 'N'.
      const relationId = r.u32('relation OID');
      const msg: Extract<PgoutputMessage, { tag: 'update' }> = { tag: 'update', relationId, newTuple: [] };
      let sub = r.u8('tuple kind');
      if (sub === 0x4b /* K */ || sub === 0x4f /* O */) {
        if (sub === 0x4b) msg.keyTuple = readTuple(r);
        else msg.oldTuple = readTuple(r);
        sub = r.u8('tuple kind');
      }
      if (sub !== 0x4e /* N */) r.fail(`expected 'K', 'O' or 'N' tuple, got ${tagName(sub)}`, r.pos - 1);
      msg.newTuple = readTuple(r);
      return msg;
    }
    case 0x44 /* D: Delete */: {
      // Exactly one of 'K' (key columns) or 'O' (whole old row, REPLICA IDENTITY FULL).
      const relationId = r.u32('relation OID');
      const at = r.pos;
      const sub = r.u8('tuple kind');
      if (sub === 0x4b) return { tag: 'delete', relationId, keyTuple: readTuple(r) };
      if (sub === 0x4f) return { tag: 'delete', relationId, oldTuple: readTuple(r) };
      return r.fail(`expected 'K' or 'O' (old tuple), got ${tagName(sub)}`, at);
    }
    case 0x54 /* T: Truncate */: {
      const n = r.i32('relation count');
      if (n < 0) r.fail(`negative relation count ${n}`, r.pos - 4);
      const options = r.u8('options'); // bit 1 = CASCADE, bit 2 = RESTART IDENTITY
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.u32(`relation OID ${i}`));
      return {
        tag: 'truncate',
        relationIds,
        cascade: (options & 1) !== 0,
        restartIdentity: (options & 2) !== 0,
      };
    }
    case 0x4d /* M: logical decoding message (pg_logical_emit_message) */: {
      const flags = r.u8('flags'); // bit 1 = transactional
      const lsn = r.u64('message LSN');
      const prefix = r.cstring('prefix');
      const len = r.i32('content length');
      const content = r.bytes(len, 'content');
      return { tag: 'message', transactional: (flags & 1) !== 0, lsn, prefix, content };
    }
    default:
      return r.fail('unknown or unsupported pgoutput message tag', 0);
  }
}

function expectByte(r: Reader, want: number, what: string): void {
  const at = r.pos;
  const got = r.u8(what);
  if (got !== want) r.fail(`expected ${what}, got ${tagName(got)}`, at);
}
