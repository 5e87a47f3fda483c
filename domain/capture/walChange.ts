import type { ChangeEvent } from '../core/changeEvent';
import type { Row } from '../core/json';
import { pgEpochMicrosToIso, type PgoutputMessage, type RelationColumn, type TupleValue } from './pgoutput';
import { convertPgText, pgTypeName } from './pgTypes';
import { PgTypeError } from '../core/errors';
import { configuredTables } from '../core/tables';
import { bigIntToLsn } from '../core/lsn';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;

/** Table the capture workflow writes to keep the slot moving on a quiet database; never put on the stream. */
export const HEARTBEAT_TABLE = 'cdc_heartbeat';

/** What capture knows of the transaction being decoded. */
export interface TxContext {
  db: string;
  finalLsn: bigint;
  commitTimeMicros: bigint;
  xid: number;
  /** Next index within the transaction. */
  index: number;
  /** The source epoch of the capture run (domain/capture/sourceEpoch.ts); 0 or absent: none written. */
  epoch?: number;
}

function tupleToRow(
  rel: Relation,
  tuple: TupleValue[],
  fallback?: Row | null,
): { row: Row; toast: string[] } {
  const row: Row = {};
  const toast: string[] = [];
  rel.columns.forEach((col, i) => {
    const v = tuple[i];
    if (v === undefined) return;
    if (v.kind === 'null') row[col.name] = null;
    else if (v.kind === 'text') row[col.name] = convertColumn(rel, col, v.value);
    else if (fallback && col.name in fallback) row[col.name] = fallback[col.name];
    else toast.push(col.name); // unchanged TOAST value not sent: left out, never written as null
  });
  return { row, toast };
}

/** One column's value; a value the decoder refuses is named by table, column and type, never shown. */
function convertColumn(rel: Relation, col: RelationColumn, text: string) {
  try {
    return convertPgText(col.typeOid, text);
  } catch (err) {
    const why =
      err instanceof PgTypeError ? err.message : `${(err as Error)?.name ?? 'Error'} while converting`;
    throw new PgTypeError(
      `column ${rel.schema}.${rel.name}.${col.name} (${pgTypeName(col.typeOid)}): ${why}`,
    );
  }
}

/** Primary-key columns: from the table configuration, else the replica-identity columns PostgreSQL flags. */
export function keyColumns(rel: Relation): string[] {
  const cfg = configuredTables().get(rel.name);
  if (cfg) return cfg.primaryKey;
  return rel.replicaIdentity === 'f' ? [] : rel.columns.filter((c) => c.isKey).map((c) => c.name);
}

function pick(row: Row | null, cols: string[]): Row {
  const out: Row = {};
  if (row) for (const c of cols) if (c in row) out[c] = row[c];
  return out;
}

/** One pgoutput row change (insert/update/delete) → canonical change event. */
export function buildChangeEvent(
  msg: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
  rel: Relation,
  tx: TxContext,
): ChangeEvent {
  // A full old tuple ('O', REPLICA IDENTITY FULL) is the before image. A key tuple ('K') carries
  // only the replica-identity columns (the others come as NULL), so only those are kept.
  let before: Row | null = null;
  if (msg.tag !== 'insert' && msg.oldTuple) before = tupleToRow(rel, msg.oldTuple).row;
  else if (msg.tag !== 'insert' && msg.keyTuple) {
    const keyNames = new Set(rel.columns.filter((c) => c.isKey).map((c) => c.name));
    before = pick(tupleToRow(rel, msg.keyTuple).row, [...keyNames]);
  }
  const afterResult =
    msg.tag === 'delete'
      ? null
      : tupleToRow(rel, msg.newTuple, msg.tag === 'update' && msg.oldTuple ? before : null);
  const after = afterResult?.row ?? null;
  const keyCols = keyColumns(rel);
  const op = msg.tag === 'insert' ? 'c' : msg.tag === 'update' ? 'u' : 'd';
  return {
    source: {
      db: tx.db,
      schema: rel.schema,
      table: rel.name,
      lsn: bigIntToLsn(tx.finalLsn),
      txId: tx.xid,
      commitTs: pgEpochMicrosToIso(tx.commitTimeMicros),
      index: tx.index,
      ...(tx.epoch ? { epoch: tx.epoch } : {}),
      ...(afterResult?.toast.length ? { unchangedToast: afterResult.toast } : {}),
    },
    op,
    key: pick(after ?? before, keyCols),
    before,
    after,
  };
}
