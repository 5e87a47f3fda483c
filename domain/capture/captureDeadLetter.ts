/**
 * Changes capture cannot put on the stream: a value the type decoder refuses (poison), or a
 * record larger than Kinesis takes (permanent). Such a change goes to the dead-letter table with
 * its raw data, an `alert.dead_letter` is raised, and capture moves on (acknowledging past it), so
 * one bad row never stops capture while WAL grows. Reasons name table, column, type and position,
 * never a column value (row data is PII); the raw data is kept in the DLQ item (or its claim check).
 */
import type { DeadLetterCategory } from '../core/errors';
import { PipelineError } from '../core/errors';
import { captureDeadLetterKey } from '../core/itemKeys';
import type { JsonValue } from '../core/json';
import { bigIntToLsn } from '../core/lsn';
import { deadLetterAlert, type Alert } from '../publishing/alerts';
import { pgEpochMicrosToIso, type PgoutputMessage, type TupleValue } from './pgoutput';
import { pgTypeName } from './pgTypes';
import type { TxContext } from './walChange';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;
type RowChange = Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>;

/** One change capture parks instead of putting it on the stream. */
export interface CaptureDeadLetter {
  /** Commit LSN of the transaction and the change's index within it: its position in the WAL. */
  lsn: string;
  index: number;
  txId: number;
  commitTs: string;
  schema: string;
  table: string;
  op: 'c' | 'u' | 'd';
  category: Extract<DeadLetterCategory, 'poison' | 'permanent'>;
  /** Why, without any column value. */
  reason: string;
  /** The raw data: the encoded change event, or (when it could not be built) the undecoded change. */
  raw: Buffer;
  /** The Kinesis partition key the record would have had, when it was built. */
  partitionKey?: string;
}

const opOf = (msg: RowChange): CaptureDeadLetter['op'] =>
  msg.tag === 'insert' ? 'c' : msg.tag === 'update' ? 'u' : 'd';

function position(msg: RowChange, rel: Relation, tx: TxContext) {
  let commitTs: string;
  try {
    commitTs = pgEpochMicrosToIso(tx.commitTimeMicros);
  } catch {
    commitTs = new Date(0).toISOString();
  }
  return {
    lsn: bigIntToLsn(tx.finalLsn),
    index: tx.index,
    txId: tx.xid,
    commitTs,
    schema: rel.schema,
    table: rel.name,
    op: opOf(msg),
  };
}

/**
 * A change whose canonical event could not be built (a value the type decoder refuses): parked
 * as poison with the undecoded change as raw data (column names and types, values as PostgreSQL
 * sent their text). `err` is ours (PgTypeError: its message names column and type, never the
 * value); any other error is named by its class only, since its message may quote a value.
 */
export function undecodableChange(
  msg: RowChange,
  rel: Relation,
  tx: TxContext,
  err: unknown,
): CaptureDeadLetter {
  const at = position(msg, rel, tx);
  const why =
    err instanceof PipelineError
      ? err.message
      : `${(err as Error)?.name ?? 'Error'} while decoding the change`;
  const raw = {
    source: {
      db: tx.db,
      schema: at.schema,
      table: at.table,
      lsn: at.lsn,
      txId: at.txId,
      commitTs: at.commitTs,
      index: at.index,
      ...(tx.epoch ? { epoch: tx.epoch } : {}),
    },
    op: at.op,
    undecoded: true,
    columns: rel.columns.map((c) => ({ name: c.name, type: pgTypeName(c.typeOid), typeOid: c.typeOid })),
    ...(msg.tag !== 'insert' && msg.oldTuple ? { oldTuple: tupleText(msg.oldTuple) } : {}),
    ...(msg.tag !== 'insert' && msg.keyTuple ? { keyTuple: tupleText(msg.keyTuple) } : {}),
    ...(msg.tag !== 'delete' ? { newTuple: tupleText(msg.newTuple) } : {}),
  };
  return {
    ...at,
    category: 'poison',
    reason: `${describe(at)}: ${why}`,
    raw: Buffer.from(JSON.stringify(raw)),
  };
}

/** A change whose stream record is larger than Kinesis takes: parked as permanent with the encoded event. */
export function oversizeChange(
  msg: RowChange,
  rel: Relation,
  tx: TxContext,
  record: { partitionKey: string; data: Buffer },
  size: number,
  maxBytes: number,
): CaptureDeadLetter {
  const at = position(msg, rel, tx);
  return {
    ...at,
    category: 'permanent',
    reason: `${describe(at)}: the stream record is ${size} bytes; Kinesis takes at most ${maxBytes} per record`,
    raw: record.data,
    partitionKey: record.partitionKey,
  };
}

const describe = (at: { op: string; schema: string; table: string; lsn: string; index: number }) =>
  `change (${at.op}) of ${at.schema}.${at.table} at commit LSN ${at.lsn}, index ${at.index}`;

const tupleText = (tuple: TupleValue[]): JsonValue[] =>
  tuple.map((v) => (v.kind === 'text' ? v.value : v.kind === 'null' ? null : { unchangedToast: true }));

/** The DLQ key of a capture dead letter (`CAPTURE#<slot>#<lsn>#<index>`). */
export const captureDeadLetterItemKey = (slot: string, l: Pick<CaptureDeadLetter, 'lsn' | 'index'>) =>
  captureDeadLetterKey(slot, l.lsn, l.index);

/**
 * The `alert.dead_letter` of a capture dead letter, in the shape consumers validate
 * (domain/publishing/eventSchema.ts): `shardId` is `capture:<slot>`, `sequenceNumber` is
 * `<commit LSN>#<index>`, the reason names the table; its entity is the DLQ key. The ID derives
 * from slot, position and `at` (pass when the letter was first parked, so a retry raises the same
 * alert).
 */
export function captureDeadLetterAlert(
  d: { stream: string; slot: string; letter: CaptureDeadLetter },
  at: string,
): Alert {
  const l = d.letter;
  const alert = deadLetterAlert({
    stream: d.stream,
    shardId: `capture:${d.slot}`,
    sequenceNumber: `${l.lsn}#${l.index}`,
    category: l.category,
    reason: l.reason,
    at,
  });
  return { ...alert, entityId: captureDeadLetterItemKey(d.slot, l) };
}
