import assert from 'node:assert/strict';
import { createActivities } from '../../../activities';
import { deliver as deliverChunk } from '../../../activities/backfill/deliver';
import { consumerDelivery } from '../../../activities/delivery/consumerDelivery';
import { deliver, type DeliveryPorts } from '../../../activities/delivery/deliver';
import type { PooledDeps } from '../../../activities/deps';
import { createAlertPublisher } from '../../../activities/publishing/alertPublisher';
import type { ApplyResult } from '../../../activities/sinks/changeSink';
import type { PublishResult } from '../../../activities/sinks/publisher';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import { loadConfig } from '../../../infra/config';
import type { PgPools } from '../../../infra/pgPools';
import { fakes, inventoryChange } from './fakes';

/** A sink that answers what it is told to, and a publisher and listener that record what they get, in order. */
function recordingPorts(answer: (events: PipelineEvent[]) => Partial<ApplyResult>) {
  const calls: { step: string; ids: string[] }[] = [];
  const ids = (events: PipelineEvent[]) => events.map((e) => e.eventId);
  const ports: DeliveryPorts = {
    sink: {
      name: 'test',
      apply: async (events) => {
        calls.push({ step: 'apply', ids: ids(events) });
        return { applied: events.length, stale: 0, coalesced: 0, rejected: [], ...answer(events) };
      },
    },
    publisher: {
      name: 'Test',
      publish: async (events): Promise<PublishResult> => {
        calls.push({ step: 'publish', ids: ids(events) });
        return { published: events.length, alerts: 0, rejected: [] };
      },
    },
    notify: async (news) => {
      calls.push({ step: 'notify', ids: ids(news) });
      return { delivered: news.length, ignored: 0 };
    },
  };
  return { ports, calls };
}

describe('the one delivery path (activities/delivery/deliver.ts)', () => {
  const a = inventoryChange({ op: 'u', sku: 'A', lsn: 0x100 });
  const b = inventoryChange({ op: 'u', sku: 'B', lsn: 0x101 });
  const c = inventoryChange({ op: 'u', sku: 'C', lsn: 0x102 });

  it('applies, then tells and publishes only the news: an outdated change is neither', async () => {
    const { ports, calls } = recordingPorts(() => ({ applied: 2, stale: 1, outdated: [b.eventId] }));
    const d = await deliver([a, b, c], ports);
    assert.deepEqual(calls, [
      { step: 'apply', ids: [a.eventId, b.eventId, c.eventId] },
      { step: 'notify', ids: [a.eventId, c.eventId] },
      { step: 'publish', ids: [a.eventId, c.eventId] },
    ]);
    assert.deepEqual(
      [d.news.length, d.published.published, d.notified.delivered, d.stopped],
      [2, 2, 2, false],
    );
  });

  it('leaves out exactly the rejected change, also when changes share a sequence number (a backfill chunk)', async () => {
    const chunk = [a, b, c].map((e) => ({ ...e, position: { shardId: 'backfill:x', sequenceNumber: '0' } }));
    const { ports, calls } = recordingPorts(() => ({
      applied: 2,
      rejected: [{ sequenceNumber: '0', category: 'permanent', reason: 'too large', eventId: b.eventId }],
    }));
    await deliver(chunk, ports);
    assert.deepEqual(calls.at(-1), { step: 'publish', ids: [a.eventId, c.eventId] });
  });

  it('a rejection without an event id leaves out its whole record (by sequence number)', async () => {
    const { ports, calls } = recordingPorts(() => ({
      applied: 2,
      rejected: [{ sequenceNumber: b.position.sequenceNumber, category: 'poison', reason: 'x' }],
    }));
    await deliver([a, b, c], ports);
    assert.deepEqual(calls.at(-1), { step: 'publish', ids: [a.eventId, c.eventId] });
  });

  it('`all` publishes outdated changes too (a replay, a redrive of what was applied but never published)', async () => {
    const { ports, calls } = recordingPorts(() => ({
      applied: 0,
      stale: 3,
      outdated: [a.eventId, b.eventId],
    }));
    await deliver([a, b, c], ports, { all: true });
    assert.deepEqual(calls.at(-1), { step: 'publish', ids: [a.eventId, b.eventId, c.eventId] });
  });

  it('nothing new: nobody is told and nothing is published; beforeAnnounce can stop the rest', async () => {
    const none = recordingPorts(() => ({ applied: 0, stale: 1, outdated: [a.eventId] }));
    const d = await deliver([a], none.ports);
    assert.deepEqual(
      none.calls.map((x) => x.step),
      ['apply'],
    );
    assert.deepEqual([d.news.length, d.published.published], [0, 0]);

    const stop = recordingPorts(() => ({}));
    const seen: number[] = [];
    const stopped = await deliver([a, b], stop.ports, {
      beforeAnnounce: async (applied, news) => {
        seen.push(applied.applied, news.length);
        return false;
      },
    });
    assert.deepEqual(seen, [2, 2]);
    assert.equal(stopped.stopped, true);
    assert.deepEqual(
      stop.calls.map((x) => x.step),
      ['apply'],
    );
  });
});

describe('backfill through the consumer’s delivery path (fake DynamoDB and EventBridge)', () => {
  const config = loadConfig({ ...process.env, CDC_RESERVATION_EXPIRY: 'off' });

  function operational() {
    const f = fakes();
    const pools = {} as PgPools;
    const deps: PooledDeps = { ...f.io, config, pools };
    return { f, ports: consumerDelivery(deps, createAlertPublisher(deps)) };
  }

  /** Snapshot-like events: one per key, all at sequence number '0'. */
  const rows = (n: number, lsn = 0x1000) =>
    Array.from({ length: n }, (_, i) => ({
      ...inventoryChange({ op: 'r', sku: `BF-${i}`, lsn }),
      position: { shardId: 'backfill:t', sequenceNumber: '0' },
    }));

  it('applies a chunk in slices and publishes in requests of at most 10 entries, a refused entry counted with its reason', async () => {
    const { f, ports } = operational();
    const events = rows(25);
    const refused = events[7]!.eventId;
    f.events.failEntry = (e) =>
      (JSON.parse(e.Detail) as { eventId: string }).eventId === refused ? 'MalformedDetail' : undefined;
    const d = await deliverChunk(ports, events, 'news');
    assert.deepEqual(
      { applied: d.applied, stale: d.stale, published: d.published, rejected: d.rejected },
      { applied: 25, stale: 0, published: 24, rejected: 1 },
    );
    assert.match(d.reasons[0]!, /^EventBridge: PutEvents MalformedDetail/);
    assert.ok(f.events.requests.every((r) => r.length <= 10));
    assert.equal(f.events.requests.length, 3);
    // Published in key order, as read.
    const order = f.events.accepted.map((e) => (JSON.parse(e.Detail) as { eventId: string }).eventId);
    assert.deepEqual(
      order,
      events.map((e) => e.eventId).filter((id) => id !== refused),
    );
  });

  it('a retried chunk: rows an earlier attempt wrote count as applied and are published again under their ids; older ones are stale', async () => {
    const { f, ports } = operational();
    const events = rows(3);
    await deliverChunk(ports, events, 'news');
    const again = await deliverChunk(ports, events, 'news');
    assert.deepEqual([again.applied, again.stale, again.published], [3, 0, 3]);
    // A chunk with an older watermark meets the newer rows: stale, neither published nor counted.
    const older = await deliverChunk(ports, rows(3, 0x800), 'news');
    assert.deepEqual([older.applied, older.stale, older.published], [0, 3, 0]);
    assert.equal(f.events.accepted.length, 6);
  });
});

describe('PostgreSQL pools come with the other clients', () => {
  /** A pool that answers every query with no rows and records the statements. */
  function fakePool(sql: string[], rows: (text: string, values?: unknown[]) => unknown[] = () => []) {
    return {
      query: async (text: string, values?: unknown[]) => {
        sql.push(text);
        return { rows: rows(text, values), rowCount: 0 };
      },
    };
  }

  it('the analytics sink writes through the analytics pool it is given', async () => {
    const f = fakes();
    const sql: string[] = [];
    const e = inventoryChange({ op: 'c', sku: 'P-1', lsn: 0x10 });
    const analytics = fakePool(sql, () => [{ event_id: e.eventId }]);
    const config = { ...loadConfig({ ...process.env }), consumer: 'analytics', sink: 'analytics' as const };
    const activities = createActivities(config, {
      ...f.io,
      pools: { analytics, source: fakePool([]) } as unknown as PgPools,
    });
    const r = await activities.applyEvents([e]);
    assert.deepEqual([r.applied, r.stale, r.rejected], [1, 0, []]);
    assert.equal(sql.length, 1);
    assert.match(sql[0]!, /cdc_changes/);
  });

  it('hold releases go through the source pool it is given', async () => {
    const f = fakes();
    const sql: string[] = [];
    const activities = createActivities(loadConfig({ ...process.env }), {
      ...f.io,
      pools: { source: fakePool(sql), analytics: fakePool([]) } as unknown as PgPools,
    });
    assert.equal((await activities.expireHold('no-such-hold')).outcome, 'missing');
    assert.ok(sql.length >= 1);
  });
});
