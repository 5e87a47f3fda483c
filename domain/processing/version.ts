import { lsnSortable } from '../core/lsn';

/**
 * The source version of a change: (commit LSN, index within the transaction), encoded so that
 * string order equals version order: 16 hex digits of LSN, a dot, 10 decimal digits of index.
 * Backfill rows use the LSN read in the same snapshot as the rows.
 */
export function sourceVersion(lsn: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 9_999_999_999)
    throw new RangeError(`index out of range: ${index}`);
  return `${lsnSortable(lsn)}.${String(index).padStart(10, '0')}`;
}

export const VERSION_PATTERN = /^[0-9A-F]{16}\.[0-9]{10}$/;

export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
