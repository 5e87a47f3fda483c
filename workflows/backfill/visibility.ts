/**
 * What the Web UI shows of a backfill: search attributes `CdcState` and `CdcTable` (upserted
 * when they change) and current details with the progress line. No row values: these bypass
 * the payload codec (the last key of a table with redaction rules is a keyed hash).
 */
import { setCurrentDetails, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import { SA } from '../names';
import { currentTable, progressOf, type BackfillRunState } from './state';

const shown = new WeakMap<BackfillRunState, string>();

export function show(s: BackfillRunState): void {
  const table =
    s.request.mode === 'replay'
      ? s.tables.length === 1
        ? s.tables[0].table
        : '*'
      : (currentTable(s)?.table ??
        s.tables.at(-1)?.table ??
        (Array.isArray(s.request.tables) ? s.request.tables[0] : '*'));
  const key = `${s.state}|${table}|${s.tables.length}`;
  if (shown.get(s) !== key) {
    if (shown.get(s)?.split('|')[2] !== String(s.tables.length) && s.tables.length)
      // Every table of the backfill, for the one-backfill-per-table check of the clients.
      upsertMemo({ tables: s.tables.map((t) => t.table), mode: s.request.mode });
    shown.set(s, key);
    upsertSearchAttributes([
      { key: SA.state, value: s.state },
      { key: SA.table, value: table },
    ]);
  }
  const p = progressOf(s);
  const c = p.counters;
  setCurrentDetails(
    [
      `**Backfill ${p.state}** (${p.mode}${p.current ? `, ${p.current}` : ''}): ${p.line}`,
      `- rows read ${c.read}, applied ${c.applied}, stale ${c.stale} (DynamoDB newer), published ${c.published}` +
        (c.tombstoned ? `, tombstoned ${c.tombstoned}` : '') +
        (c.rejected ? `, refused ${c.rejected}` : '') +
        (c.skipped ? `, skipped ${c.skipped}` : '') +
        `; ${p.chunks} chunks; rate limit ${p.rateLimit} rows/s`,
      p.lastKey !== undefined ? `- last key: \`${p.lastKey}\`` : '',
      p.pausedReason ? `- paused: ${p.pausedReason} (signal \`resume\`)` : '',
      p.lastError
        ? `- error (${p.lastError.type}, ${p.lastError.attempts} holds): ${p.lastError.message}; retried with backoff, signal \`cancel\` to stop`
        : '',
      p.cancelReason ? `- cancelled: ${p.cancelReason}` : '',
      `- tables: ${p.tables.join(', ') || '(planning)'}`,
    ]
      .filter(Boolean)
      .join('\n'),
  );
}
