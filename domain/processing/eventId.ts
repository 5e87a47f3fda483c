import { createHash } from 'node:crypto';
import { stableStringify, type Row } from '../core/json';

/**
 * Deterministic event ID `evt_<commitMillis>_<hash>`: the same change (table, key, version,
 * op) always gets the same ID, so at-least-once delivery can give consumers exactly-once effects.
 */
export function eventId(p: {
  table: string;
  key: Row;
  version: string;
  op: string;
  commitTs: string;
}): string {
  const millis = Date.parse(p.commitTs);
  if (Number.isNaN(millis)) throw new RangeError(`invalid commit timestamp: ${p.commitTs}`);
  const digest = createHash('sha256')
    .update(`${p.table}\u0000${stableStringify(p.key)}\u0000${p.version}\u0000${p.op}`)
    .digest();
  // 16 bytes of the digest, base36: ~25 characters of [0-9a-z].
  const hash = BigInt(`0x${digest.subarray(0, 16).toString('hex')}`).toString(36);
  return `evt_${millis}_${hash}`;
}

export const EVENT_ID_PATTERN = /^evt_[0-9]+_[a-z0-9]+$/;
