import { createHash } from 'node:crypto';
import type { ChangeEvent } from '../core/changeEvent';
import { stableStringify, type Row } from '../core/json';

/** Kinesis partition key: table and primary key, so every change of one row lands on one shard, in order. */
export function partitionKey(table: string, key: Row): string {
  const pk = `${table}:${stableStringify(key)}`;
  // Kinesis allows 256 Unicode characters; longer keys are replaced by a stable digest.
  return pk.length <= 256
    ? pk
    : `${table}:sha256:${createHash('sha256').update(pk).digest('hex')}`.slice(0, 256);
}

export function encodeChangeEvent(event: ChangeEvent): string {
  return JSON.stringify(event);
}
