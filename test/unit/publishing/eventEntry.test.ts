import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import {
  chunkEntries,
  entrySize,
  PUT_EVENTS_MAX_BYTES,
  PUT_EVENTS_MAX_ENTRIES,
  toEventEntry,
  type EventEntry,
} from '../../../domain/publishing/eventEntry';
import type { Row } from '../../../domain/core/json';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';

const SECRET = 's3cret';
const POS = {
  shardId: 'shardId-000000000002',
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
};
const PROCESSED_AT = '2024-01-15T10:00:05.000Z';

function pipelineEvent(
  table: string,
  op: ChangeEvent['op'],
  key: Row,
  before: Row | null,
  after: Row | null,
): PipelineEvent {
  return transformChange(
    {
      source: {
        db: 'app',
        schema: 'public',
        table,
        lsn: '0/16C4460',
        txId: 741,
        commitTs: '2024-01-15T12:00:00.250+02:00',
        index: 4,
      },
      op,
      key,
      before,
      after,
    },
    POS,
  );
}

describe('toEventEntry', () => {
  const user = { id: 'u1', email: 'Ann@Example.com', phone: '5551234567', ssn: '123-45-6789' };

  it('refuses an event that has not been through redaction', () => {
    const e = pipelineEvent('users', 'c', { id: 'u1' }, null, user);
    assert.throws(
      () => toEventEntry(e, 'bus', PROCESSED_AT),
      (err: unknown) =>
        err instanceof Error && /unredacted/.test(err.message) && err.message.includes(e.eventId),
    );
    assert.throws(() => toEventEntry({ ...e, redactionPolicy: '' }, 'bus', PROCESSED_AT), /unredacted/);
  });

  it('builds Source, DetailType, bus, Time and the Detail of the contract', () => {
    const e = redactEvent(pipelineEvent('users', 'c', { id: 'u1' }, null, user), {
      secret: SECRET,
      keyId: 'test',
    });
    const entry = toEventEntry(e, 'cdc-bus', PROCESSED_AT);
    assert.equal(entry.Source, 'cdc-pipeline.users');
    assert.equal(entry.DetailType, 'user.created');
    assert.equal(entry.EventBusName, 'cdc-bus');
    assert.ok(entry.Time instanceof Date);
    assert.equal(entry.Time.toISOString(), '2024-01-15T10:00:00.250Z');
    assert.deepEqual(Object.keys(entry).sort(), ['Detail', 'DetailType', 'EventBusName', 'Source', 'Time']);

    const detail: unknown = JSON.parse(entry.Detail);
    assert.deepEqual(detail, {
      eventId: e.eventId,
      eventType: 'user.created',
      entityId: 'u1',
      entityType: 'user',
      operation: 'INSERT',
      timestamp: '2024-01-15T10:00:00.250Z',
      changes: {
        id: { old: null, new: 'u1' },
        email: { old: null, new: 'A**@Example.com' },
        phone: { old: null, new: '******4567' },
      },
      metadata: {
        sourceTable: 'users',
        sequenceNumber: POS.sequenceNumber,
        sourcePosition: '0/16C4460',
        processedAt: PROCESSED_AT,
        version: '00000000016C4460.0000000004',
        redactionPolicy: 'pii-policy-v2@test',
      },
    });
    assert.match(e.eventId, /^evt_[0-9]+_[a-z0-9]+$/);
    assert.ok(
      !entry.Detail.includes('123-45-6789') &&
        !entry.Detail.includes('5551234567') &&
        !/ann@example/i.test(entry.Detail),
    );
  });

  it('maps each op to its operation and event type', () => {
    const row = { sku: 'A', warehouse_id: 1, on_hand: 2 };
    const key = { sku: 'A', warehouse_id: 1 };
    const cases = [
      ['c', null, row, 'INSERT', 'inventory.created'],
      ['u', row, { ...row, on_hand: 3 }, 'UPDATE', 'inventory.updated'],
      ['d', row, null, 'DELETE', 'inventory.deleted'],
      ['r', null, row, 'SNAPSHOT', 'inventory.snapshot'],
    ] as const;
    for (const [op, before, after, operation, type] of cases) {
      const entry = toEventEntry(
        redactEvent(pipelineEvent('inventory', op, key, before, after), { secret: SECRET, keyId: 'test' }),
        'b',
        PROCESSED_AT,
      );
      const d = JSON.parse(entry.Detail) as { operation: string; eventType: string; entityId: string };
      assert.equal(d.operation, operation);
      assert.equal(d.eventType, type);
      assert.equal(entry.DetailType, type);
      assert.equal(d.entityId, 'A#1');
    }
  });

  it('publishes only the changed fields of an update', () => {
    const before = { sku: 'A', warehouse_id: 1, on_hand: 5, reserved: 1 };
    const e = redactEvent(
      pipelineEvent('inventory', 'u', { sku: 'A', warehouse_id: 1 }, before, { ...before, reserved: 2 }),
      { secret: SECRET, keyId: 'test' },
    );
    const d = JSON.parse(toEventEntry(e, 'b', PROCESSED_AT).Detail) as { changes: unknown };
    assert.deepEqual(d.changes, { reserved: { old: 1, new: 2 } });
  });
});

/** An entry whose entrySize is exactly `size` bytes. */
function entryOfSize(size: number, tag: string | number): EventEntry {
  const base: EventEntry = {
    Source: 'cdc-pipeline.t',
    DetailType: 't.updated',
    Detail: '',
    EventBusName: 'bus',
    Time: new Date(0),
  };
  const fixed = entrySize(base) + String(tag).length + 1;
  assert.ok(size >= fixed);
  return { ...base, Detail: `${tag}:${'x'.repeat(size - fixed)}` };
}

describe('entrySize', () => {
  it('counts UTF-8 bytes of Source, DetailType, Detail and bus plus 14 for Time', () => {
    const e: EventEntry = {
      Source: 'abc',
      DetailType: 'de',
      Detail: '€',
      EventBusName: 'b',
      Time: new Date(0),
    };
    assert.equal(entrySize(e), 14 + 3 + 2 + 3 + 1);
    assert.equal(entrySize(entryOfSize(1000, 1)), 1000);
  });
});

describe('chunkEntries', () => {
  it('has the PutEvents limits', () => {
    assert.equal(PUT_EVENTS_MAX_ENTRIES, 10);
    assert.equal(PUT_EVENTS_MAX_BYTES, 256 * 1024);
  });

  it('returns no chunks for no entries', () => {
    assert.deepEqual(chunkEntries([]), { chunks: [], oversized: [] });
  });

  it('splits by count: at most 10 entries per chunk, in order', () => {
    const entries = Array.from({ length: 25 }, (_, i) => entryOfSize(200, i));
    const { chunks, oversized } = chunkEntries(entries);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [10, 10, 5],
    );
    assert.deepEqual(chunks.flat(), entries);
    assert.deepEqual(oversized, []);
  });

  it('splits by size: a chunk never exceeds 256 KiB', () => {
    const entries = Array.from({ length: 7 }, (_, i) => entryOfSize(100 * 1024, i));
    const { chunks } = chunkEntries(entries);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [2, 2, 2, 1],
    );
    assert.deepEqual(chunks.flat(), entries);
  });

  it('fills a chunk to exactly 256 KiB but not one byte more', () => {
    const half = PUT_EVENTS_MAX_BYTES / 2;
    const exact = chunkEntries([entryOfSize(half, 'a'), entryOfSize(half, 'b')]);
    assert.deepEqual(
      exact.chunks.map((c) => c.length),
      [2],
    );
    const over = chunkEntries([entryOfSize(half, 'a'), entryOfSize(half + 1, 'b')]);
    assert.deepEqual(
      over.chunks.map((c) => c.length),
      [1, 1],
    );
  });

  it('reports entries too large alone and keeps the others in order', () => {
    const a = entryOfSize(100, 'a');
    const max = entryOfSize(PUT_EVENTS_MAX_BYTES, 'max');
    const big = entryOfSize(PUT_EVENTS_MAX_BYTES + 1, 'big');
    const b = entryOfSize(100, 'b');
    const { chunks, oversized } = chunkEntries([a, big, max, b]);
    assert.deepEqual(oversized, [big]);
    assert.deepEqual(chunks, [[a], [max], [b]]);
  });

  it('measures multi-byte characters in bytes, not characters', () => {
    const base = entryOfSize(100, 'm');
    const euro = { ...base, Detail: '€'.repeat(90 * 1024) }; // 92,160 chars, 276,480 bytes
    assert.ok(euro.Detail.length < PUT_EVENTS_MAX_BYTES);
    const { chunks, oversized } = chunkEntries([euro, base]);
    assert.deepEqual(oversized, [euro]);
    assert.deepEqual(chunks, [[base]]);
  });

  it('keeps every chunk within limits and the order of entries, for random sizes', () => {
    const sizes = fc.array(
      fc.oneof(
        fc.integer({ min: 60, max: 2000 }),
        fc.integer({ min: 20_000, max: 140_000 }),
        fc.integer({ min: PUT_EVENTS_MAX_BYTES - 10, max: PUT_EVENTS_MAX_BYTES + 10 }),
      ),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(sizes, (ss) => {
        const entries = ss.map((s, i) => entryOfSize(s, i));
        const { chunks, oversized } = chunkEntries(entries);
        for (const c of chunks) {
          assert.ok(c.length >= 1 && c.length <= PUT_EVENTS_MAX_ENTRIES);
          assert.ok(c.reduce((n, e) => n + entrySize(e), 0) <= PUT_EVENTS_MAX_BYTES);
        }
        assert.deepEqual(
          oversized,
          entries.filter((e) => entrySize(e) > PUT_EVENTS_MAX_BYTES),
        );
        assert.deepEqual(
          chunks.flat(),
          entries.filter((e) => entrySize(e) <= PUT_EVENTS_MAX_BYTES),
        );
      }),
      { numRuns: 100 },
    );
  });
});
