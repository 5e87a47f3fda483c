import assert from 'node:assert/strict';
import { transformRecords } from '../../../activities/processing';
import type { StreamRecord } from '../../../domain/shards/shardTypes';

const rec = (sequenceNumber: string, data: unknown): StreamRecord => ({
  sequenceNumber,
  partitionKey: 'inventory:x',
  data: JSON.stringify(data),
  encoding: 'utf8',
  arrivalMs: 0,
});

const canonical = (index: number) => ({
  source: {
    db: 'inventory',
    schema: 'public',
    table: 'inventory',
    lsn: '0/16C4460',
    commitTs: '2024-01-15T10:00:00Z',
    index,
  },
  op: 'c',
  key: { sku: 'SKU-1', warehouse_id: 1 },
  before: null,
  after: { sku: 'SKU-1', warehouse_id: 1, on_hand: 5, reserved: 0 },
});

describe('transformRecords (the transform step)', () => {
  it('any exception while transforming one record makes it poison, never a failure of the batch', () => {
    // An index beyond the version encoding (10 digits) throws a RangeError inside the transform.
    const out = transformRecords({
      shardId: 's',
      records: [rec('1', canonical(1e11)), rec('2', canonical(1))],
    });
    assert.equal(out.events.length, 1);
    assert.equal(out.deadLetters.length, 1);
    assert.equal(out.deadLetters[0].record.sequenceNumber, '1');
    assert.equal(out.deadLetters[0].category, 'poison');
    assert.match(out.deadLetters[0].reason, /RangeError: index out of range/);
  });

  it('a record of any format for a table not in the table file is a configuration dead letter', () => {
    const nope = { before: null, after: { id: 1 }, op: 'c' };
    const records = [
      rec('1', canonical(1)),
      rec('2', { ...nope, source: { db: 'app', schema: 'public', table: 'nope', lsn: 1, ts_ms: 1 } }),
      rec('3', {
        data: { id: 1 },
        metadata: {
          timestamp: '2026-01-02T03:04:05.123456Z',
          'record-type': 'data',
          operation: 'insert',
          'table-name': 'nope',
        },
      }),
      rec('4', { ...canonical(2), source: { ...canonical(2).source, table: 'nope' } }),
      rec('5', { ...nope, op: 'x' }),
    ];
    const out = transformRecords({ shardId: 's', records });
    assert.equal(out.events.length, 1);
    assert.deepEqual(
      out.deadLetters.map((d) => [d.record.sequenceNumber, d.category]),
      [
        ['2', 'configuration'],
        ['3', 'configuration'],
        ['4', 'configuration'],
        ['5', 'poison'],
      ],
    );
    for (const d of out.deadLetters.slice(0, 3)) assert.match(d.reason, /table 'nope' is not configured/);
  });

  it('timestamp-only formats keep two changes of one key in one microsecond, in stream order', () => {
    const flat = (qty: number) => ({
      op: 'UPDATE',
      sku: 'SKU-1',
      wh: 1,
      qty,
      ts: '2024-01-15T10:00:00.123456Z',
    });
    const out = transformRecords({
      shardId: 's',
      records: [
        rec('49650000000000000000000000000000000000000000000000000001', flat(5)),
        rec('49650000000000000000000000000000000000000000000000000002', flat(4)),
      ],
    });
    assert.equal(out.events.length, 2);
    const [first, second] = out.events;
    assert.ok(first.version < second.version, `${first.version} < ${second.version}`);
    assert.notEqual(first.eventId, second.eventId);
  });

  it('LSN-ordered formats keep the plain (LSN, index) version', () => {
    const out = transformRecords({ shardId: 's', records: [rec('1', canonical(2))] });
    assert.equal(out.events[0].version, '00000000016C4460.0000000002');
  });
});
