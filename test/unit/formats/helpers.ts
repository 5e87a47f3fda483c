import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { decodeChange, type SourceFormat } from '../../../domain/formats/decodeChange';
import { sourceVersion } from '../../../domain/processing/version';

/** Shared by the `decodeChange` tests, one file per record format. */

export const ctx = { sequenceNumber: '49590338271490256608559692538361571095921575989136588898' };

export function decoded(input: unknown, format: SourceFormat): ChangeEvent {
  const data = typeof input === 'string' ? input : JSON.stringify(input);
  const r = decodeChange(data, ctx);
  assert.ok(r.ok, `expected ${format} to decode, got: ${r.ok ? '' : r.reason}`);
  assert.equal(r.format, format);
  return r.event;
}

export function reasonOf(input: unknown): string {
  const data = typeof input === 'string' ? input : JSON.stringify(input);
  const r = decodeChange(data, ctx);
  assert.equal(r.ok, false, `expected a poison record for ${data.slice(0, 200)}`);
  return r.ok ? '' : r.reason;
}

export function omit<T extends object, K extends keyof T>(o: T, ...keys: K[]): Omit<T, K> {
  const copy: Partial<T> = { ...o };
  for (const k of keys) delete copy[k];
  return copy as Omit<T, K>;
}

export const versionOf = (e: ChangeEvent) =>
  sourceVersion(e.source.lsn, e.source.index, { epoch: e.source.epoch ?? 0 });

// 2026-01-02T03:04:05.123456Z = 1767323045123456 µs since the epoch = 0x6475E_F64ED580
export const TS = '2026-01-02T03:04:05.123456Z';
export const TS_LSN = '6475E/F64ED580';
export const TS_COMMIT = '2026-01-02T03:04:05.123Z';

// Minimal valid records, varied by the poison-record tests.
export const flat = { op: 'INSERT', sku: 'A1', wh: 101, qty: 100, ts: TS };
export const dms = {
  data: { order_id: 1 },
  metadata: {
    timestamp: TS,
    'record-type': 'data',
    operation: 'insert',
    'schema-name': 'public',
    'table-name': 'orders',
  },
};
export const debezium = {
  before: null,
  after: { order_id: 1 },
  op: 'c',
  source: { db: 'app', schema: 'public', table: 'orders', lsn: 1, ts_ms: 1767323045123 },
};
