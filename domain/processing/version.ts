import { lsnSortable } from '../core/lsn';

/**
 * The source version of a change: (source epoch, commit LSN, index within the transaction),
 * encoded so that string order equals version order.
 *
 *   epoch 0:  `<16 hex digits of LSN>.<10 digits of index>`             (the form before epochs)
 *   epoch ≥ 1: `e<6 digits of epoch>.<16 hex digits of LSN>.<10 digits of index>`
 *
 * The epoch counts the source's timelines (domain/capture/sourceEpoch.ts): it goes up when the
 * source database's identity changes (a promoted replica, a restore, a major-version upgrade, a
 * blue/green switch, or an operator's `cdc provision --bump-epoch`), where LSNs may start again
 * below the ones already stored. A version of a later epoch is newer whatever its LSN. Epoch 0
 * keeps the old form, so every version stored before epochs existed compares as epoch 0; the
 * prefix of a later epoch starts with a lower-case `e`, which sorts after every character an
 * old version starts with (0-9, A-F), in JavaScript and in DynamoDB (byte order) alike.
 *
 * Formats that carry only a timestamp (DMS, the documents' formats) use it as the LSN and add a
 * tie-break, the Kinesis sequence number (64 digits), so two changes of one key in the same
 * microsecond keep their stream order instead of the second looking like a duplicate.
 * Backfill rows use the LSN read in the same snapshot as the rows, and the epoch of that source.
 */
export interface VersionParts {
  /** Kinesis sequence number, for formats ordered by timestamp. */
  tieBreak?: string;
  /** Source epoch; 0 (the default) is the unprefixed form. */
  epoch?: number;
}

export const MAX_EPOCH = 999_999;
const EPOCH_DIGITS = 6;

export function sourceVersion(lsn: string, index: number, parts: VersionParts = {}): string {
  if (!Number.isInteger(index) || index < 0 || index > 9_999_999_999)
    throw new RangeError(`index out of range: ${index}`);
  const base = `${epochPrefix(parts.epoch ?? 0)}${lsnSortable(lsn)}.${String(index).padStart(10, '0')}`;
  const { tieBreak } = parts;
  if (tieBreak === undefined) return base;
  if (!/^\d{1,64}$/.test(tieBreak)) throw new RangeError(`tie-break must be a sequence number: ${tieBreak}`);
  return `${base}.${tieBreak.padStart(64, '0')}`;
}

/** `''` for epoch 0 (the old form), else `e<6 digits>.`. */
export function epochPrefix(epoch: number): string {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH)
    throw new RangeError(`source epoch out of range (0-${MAX_EPOCH}): ${epoch}`);
  return epoch === 0 ? '' : `e${String(epoch).padStart(EPOCH_DIGITS, '0')}.`;
}

/** Epoch 0 has no prefix: `e000000.` is refused, so one version has one spelling. */
export const VERSION_PATTERN = /^(?:e(?!0{6})[0-9]{6}\.)?[0-9A-F]{16}\.[0-9]{10}(?:\.[0-9]{64})?$/;

export interface ParsedVersion {
  epoch: number;
  /** The 16 hex digits of the LSN (`lsnSortable`). */
  lsn: string;
  index: number;
  tieBreak?: string;
}

/** The parts of a version; undefined when it does not match VERSION_PATTERN. */
export function parseVersion(version: string): ParsedVersion | undefined {
  if (!VERSION_PATTERN.test(version)) return undefined;
  const parts = version.split('.');
  const epoch = parts[0]!.startsWith('e') ? Number(parts.shift()!.slice(1)) : 0;
  const [lsn, index, tieBreak] = parts as [string, string, string | undefined];
  return { epoch, lsn, index: Number(index), ...(tieBreak !== undefined ? { tieBreak } : {}) };
}

export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
