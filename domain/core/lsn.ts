/** WAL positions (LSNs): parsing, printing and a sortable form. Shared by capture, record formats and versions. */

/** A WAL position as PostgreSQL prints it: "X/Y", upper-case hex of the high and low 32 bits. */
export type Lsn = string;

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
export const U64_MAX = (1n << 64n) - 1n;

export function lsnToBigInt(lsn: Lsn): bigint {
  const m = LSN_RE.exec(lsn);
  if (!m) throw new RangeError(`invalid LSN ${JSON.stringify(lsn)}: expected "X/Y" with 1-8 hex digits each`);
  return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2]);
}

export function bigIntToLsn(v: bigint): Lsn {
  if (v < 0n || v > U64_MAX) throw new RangeError(`LSN out of range: ${v}`);
  const hi = (v >> 32n).toString(16).toUpperCase();
  const lo = (v & 0xffffffffn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

/** Fixed-width, zero-padded form of an LSN whose string order equals LSN order: 16 upper-case hex digits. */
export function lsnSortable(lsn: Lsn): string {
  return lsnToBigInt(lsn).toString(16).toUpperCase().padStart(16, '0');
}
