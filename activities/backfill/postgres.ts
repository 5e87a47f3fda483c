/**
 * PostgreSQL for the backfill: a connection with the capture decoder's session settings (so a
 * value reads as the stream would carry it), the table's columns, the watermark wait, and rows
 * as the text PostgreSQL prints (converted by the capture's own type decoder).
 */
import { Context } from '@temporalio/activity';
import type { Client, FieldDef } from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigurationError } from '../../domain/core/errors';
import type { Row } from '../../domain/core/json';
import { convertPgText, DECODER_SESSION_SETTINGS } from '../../domain/capture/pgTypes';
import type { SqlQuery } from '../../domain/backfill/sql';
import type { ActivityDeps } from '../deps';

/** How long a chunk waits for the transactions in flight at its watermark before this attempt gives up. */
export const WATERMARK_WAIT_MS = 30_000;
const WATERMARK_POLL_MS = 5;
const WATERMARK_MAX_POLL_MS = 100;

/** Heartbeats when running as an activity (a no-op in tests that call the functions directly). */
export function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not in an activity
  }
}

/** Opens a connection with the decoder's session settings; `fn` runs with it, the connection is closed after. */
export async function withPg<T>(deps: ActivityDeps, fn: (pg: Client) => Promise<T>): Promise<T> {
  const pg = deps.pg();
  pg.on('error', () => undefined); // a dropped connection fails the query, not the worker
  await pg.connect();
  try {
    const settings = Object.entries(DECODER_SESSION_SETTINGS)
      .map(([name, value]) => `SET ${name} = '${value}'`)
      .join('; ');
    await pg.query(settings);
    return await fn(pg);
  } finally {
    await pg.end().catch(() => undefined);
  }
}

/** The table's columns in order (generated columns left out: the stream does not carry them either). */
export async function tableColumns(pg: Client, schema: string, table: string): Promise<string[]> {
  const out = await pg.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = $2 AND is_generated = 'NEVER'
      ORDER BY ordinal_position`,
    [schema, table],
  );
  if (!out.rows.length) throw new ConfigurationError(`table ${schema}.${table} does not exist in PostgreSQL`);
  return out.rows.map((r) => r.column_name);
}

/** A chunk's watermark could not be taken in time: a long transaction holds it. Retried (transient). */
export class WatermarkWaitTimeout extends Error {
  override readonly name = 'WatermarkWaitTimeout';
}

export interface Watermark {
  /** L = pg_current_wal_insert_lsn() read before the wait. */
  lsn: string;
  db: string;
  waitedMs: number;
}

/**
 * Reads L = pg_current_wal_insert_lsn(), then the transactions in progress (pg_current_snapshot),
 * and waits until none of them is in progress any more. After that, every transaction whose
 * commit record precedes L is visible to any snapshot taken later: PostgreSQL writes the commit
 * record before the transaction leaves the ProcArray, so without the wait a transaction that
 * committed (in WAL) before L could still be invisible to the chunk's snapshot.
 */
export async function waitForWatermark(pg: Client, timeoutMs = WATERMARK_WAIT_MS): Promise<Watermark> {
  const started = Date.now();
  const l = await pg.query<{ lsn: string; db: string }>(
    'SELECT pg_current_wal_insert_lsn()::text AS lsn, current_database() AS db',
  );
  const { lsn, db } = l.rows[0];
  const xs = await pg.query<{ xid: string }>('SELECT pg_snapshot_xip(pg_current_snapshot())::text AS xid');
  let pending = xs.rows.map((r) => r.xid);
  let delay = WATERMARK_POLL_MS;
  while (pending.length) {
    const st = await pg.query<{ xid: string }>(
      `SELECT x AS xid FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'`,
      [pending],
    );
    pending = st.rows.map((r) => r.xid);
    if (!pending.length) break;
    if (Date.now() - started > timeoutMs)
      throw new WatermarkWaitTimeout(
        `transactions ${pending.slice(0, 10).join(', ')}${pending.length > 10 ? ` (+${pending.length - 10})` : ''} ` +
          `still in progress ${Math.round((Date.now() - started) / 1000)} s after watermark ${lsn}: ` +
          'a long-running transaction delays this chunk (it cannot make it wrong); retried',
      );
    heartbeat();
    await sleep(delay);
    delay = Math.min(delay * 2, WATERMARK_MAX_POLL_MS);
  }
  return { lsn, db, waitedMs: Date.now() - started };
}

/** Values as PostgreSQL prints them (no parsing by `pg`), to be converted like the stream's. */
const RAW_TEXT = { getTypeParser: () => (text: string) => text };

export interface RawRows {
  fields: FieldDef[];
  rows: (string | null)[][];
}

export async function queryRaw(pg: Client, q: SqlQuery): Promise<RawRows> {
  const out = await pg.query<(string | null)[]>({
    text: q.text,
    values: q.values,
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return { fields: out.fields, rows: out.rows };
}

/** Names of the non-built-in types among the fields (enums, domains, their arrays), as capture learns them. */
export async function typeNames(pg: Client, fields: FieldDef[]): Promise<Map<number, string>> {
  const oids = [...new Set(fields.map((f) => f.dataTypeID).filter((oid) => oid >= 10_000))];
  if (!oids.length) return new Map();
  const out = await pg.query<{ oid: number; typname: string }>(
    'SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])',
    [oids],
  );
  return new Map(out.rows.map((r) => [Number(r.oid), r.typname]));
}

/** A raw row as the stream carries it: each value converted by type OID (capture's decoder). */
export function rowOf(fields: FieldDef[], raw: (string | null)[], names: Map<number, string>): Row {
  const row: Row = {};
  fields.forEach((f, i) => {
    const text = raw[i];
    row[f.name] = text === null ? null : convertPgText(f.dataTypeID, text, names.get(f.dataTypeID));
  });
  return row;
}
