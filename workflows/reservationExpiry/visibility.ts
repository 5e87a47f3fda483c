/**
 * What the Web UI shows of a hold: search attributes `CdcState` and `CdcExpiresAt` (to list holds
 * about to expire) and current details with SKU, warehouse, quantity, deadline and state. No row
 * values beyond these (they bypass the payload codec): no order id.
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { SA } from '../names';
import type { ReservationExpiryStatus } from './definitions';

const shown = new WeakMap<ReservationExpiryStatus, string>();

export function showHold(s: ReservationExpiryStatus): void {
  const key = `${s.state}|${s.expiresAt ?? ''}`;
  if (shown.get(s) !== key) {
    shown.set(s, key);
    upsertSearchAttributes([
      { key: SA.state, value: s.state },
      ...(s.expiresAt ? [{ key: SA.expiresAt, value: new Date(s.expiresAt) }] : []),
    ]);
  }
  const what =
    s.sku !== undefined
      ? `${s.quantity} × \`${s.sku}\` at warehouse ${s.warehouseId}`
      : '(waiting for the hold)';
  setCurrentDetails(
    [
      `**Hold ${s.state}**: ${what}`,
      `- deadline: ${s.expiresAt ?? '-'}`,
      s.releasedAt ? `- released at ${s.releasedAt} (${s.lateMs} ms after the deadline)` : '',
      `- changes received: ${s.signalsSeen}${s.version ? `, last version ${s.version}` : ''}`,
      ...s.notes.slice(-3).map((n) => `- ${n}`),
    ]
      .filter(Boolean)
      .join('\n'),
  );
}
