import { lsnSortable } from '../core/lsn';

/**
 * The source version of a change: (commit LSN, index within the transaction), encoded so that
 * string order equals version order: 16 hex digits of LSN, a dot, 10 decimal digits of index.
 * Formats that carry only a timestamp (DMS, the documents' formats) use it as the LSN and add a
 * tie-break, the Kinesis sequence number (64 digits), so two changes of one key in the same
 * microsecond keep their stream order instead of the second looking like a duplicate.
 * Backfill rows use the LSN read in the same snapshot as the rows.
 */
export function sourceVersion(lsn: string, index: number, tieBreak?: string): string {
  if (!Number.isInteger(index) || index < 0 || index > 9_999_999_999)
    throw new RangeError(`index out of range: ${index}`);
  const base = `${lsnSortable(lsn)}.${String(index).padStart(10, '0')}`;
  if (tieBreak === undefined) return base;
  if (!/^\d{1,64}$/.test(tieBreak)) throw new RangeError(`tie-break must be a sequence number: ${tieBreak}`);
  return `${base}.${tieBreak.padStart(64, '0')}`;
}

export const VERSION_PATTERN = /^[0-9A-F]{16}\.[0-9]{10}(\.[0-9]{64})?$/;

export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
