import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../../activities';
import { readDeadLetterRaw } from '../../../activities/deadLetters';
import { alertMarkerKey, deadLetterKey } from '../../../domain/core/itemKeys';
import type { DeadLetter } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { fakes, inventoryChange, type Fakes } from './fakes';

const config = loadConfig({});

const lag = {
  slot: 'cdc_inventory_slot',
  lagBytes: 5_000_000,
  walRetainedBytes: 6_000_000,
  thresholdBytes: 1_000_000,
  at: '2026-11-23T10:00:00.000Z',
};

describe('alert publisher: each alert once per alertId (fake DynamoDB and EventBridge)', () => {
  let f: Fakes;
  let activities: ReturnType<typeof createActivities>;
  beforeEach(() => {
    f = fakes();
    activities = createActivities(config, f.io);
  });

  it('publishes a replication-lag alert once, however often it is raised, and marks it', async () => {
    const first = await activities.raiseReplicationLagAlert(lag);
    const again = await activities.raiseReplicationLagAlert(lag);

    assert.equal(again, first);
    assert.equal(f.events.alerts().length, 1);
    assert.equal(f.events.alerts()[0].DetailType, 'alert.replication_lag');
    const marker = f.doc.item(config.tables.state, alertMarkerKey(first));
    assert.equal(marker?.kind, 'REPLICATION_LAG');
    assert.ok(Number(marker?.ttl) > Date.now() / 1000);
  });

  it('a later crossing (another time) is another alert', async () => {
    await activities.raiseReplicationLagAlert(lag);
    await activities.raiseReplicationLagAlert({ ...lag, at: '2026-11-23T11:00:00.000Z' });
    assert.equal(f.events.alerts().length, 2);
  });

  it('marks an alert only after EventBridge took it, so a failed one goes out on the next try', async () => {
    f.events.failEntry = () => 'InvalidArgument';
    await assert.rejects(
      activities.raiseReplicationLagAlert(lag),
      (err) => err instanceof ApplicationFailure && /alerts rejected by EventBridge/.test(err.message),
    );
    assert.equal(f.doc.count('PutCommand'), 0, 'no marker for an alert that did not go out');

    f.events.failEntry = () => undefined;
    const alertId = await activities.raiseReplicationLagAlert(lag);
    assert.equal(f.events.alerts().length, 1);
    assert.ok(f.doc.item(config.tables.state, alertMarkerKey(alertId)));
  });

  it('publishes a replayed batch again, but its stock alert only once', async () => {
    const lowStock = inventoryChange({
      op: 'u',
      sku: 'SKU-1',
      lsn: 0x300,
      before: { on_hand: 20, reserved: 0 },
      after: { on_hand: 5, reserved: 0 },
    });
    const first = await activities.publishEvents([lowStock]);
    const replay = await activities.publishEvents([lowStock]);

    assert.deepEqual(first, { published: 1, alerts: 1, rejected: [] });
    assert.deepEqual(replay, { published: 1, alerts: 0, rejected: [] });
    assert.deepEqual(
      f.events.accepted.map((e) => e.DetailType),
      ['inventory.updated', 'alert.low_stock', 'inventory.updated'],
    );
  });

  it('raises one dead-letter alert per parked record, also when dead-lettering is retried', async () => {
    const letter: DeadLetter = {
      record: {
        sequenceNumber: '77',
        partitionKey: 'inventory:X',
        data: 'not json',
        encoding: 'utf8',
        arrivalMs: 0,
      },
      shardId: 'shardId-000000000000',
      category: 'poison',
      reason: 'not JSON',
    };
    await activities.deadLetterRecords([letter]);
    await activities.deadLetterRecords([letter]);

    assert.equal(f.events.alerts().length, 1);
    assert.equal(f.events.alerts()[0].DetailType, 'alert.dead_letter');
    const parked = f.doc.item(
      config.tables.dlq,
      deadLetterKey(config.consumer, config.stream, 'shardId-000000000000', '77'),
    );
    assert.equal(parked?.attempts, 2);
    assert.equal(parked?.status, 'PARKED');
    // The raw record is kept encrypted at rest; it reads back as it was.
    assert.equal(parked?.raw, undefined);
    assert.equal((await readDeadLetterRaw(f.io, parked!)).bytes.toString('utf8'), 'not json');
  });
});

describe('EventBridge publisher (fake EventBridge)', () => {
  it('re-sends only the failed entries and rejects those that cannot succeed', async function () {
    this.timeout(5_000);
    const f = fakes();
    const activities = createActivities(config, f.io);
    const events = ['A', 'B', 'C'].map((sku, i) =>
      inventoryChange({ op: 'c', sku, lsn: 0x100 + i, sequenceNumber: String(100 + i) }),
    );
    const skuOf = (detail: string) => (JSON.parse(detail) as { entityId: string }).entityId;
    f.events.failEntry = (entry, request) => {
      if (skuOf(entry.Detail) === 'B#1' && request === 1) return 'InternalFailure';
      if (skuOf(entry.Detail) === 'C#1') return 'MalformedDetail';
      return undefined;
    };

    const result = await activities.publishEvents(events);

    assert.deepEqual(result, {
      published: 2,
      alerts: 0,
      rejected: [
        {
          sequenceNumber: '102',
          category: 'permanent',
          reason: 'PutEvents MalformedDetail: MalformedDetail (fake)',
        },
      ],
    });
    assert.deepEqual(
      f.events.requests.map((r) => r.map((e) => skuOf(e.Detail))),
      [['A#1', 'B#1', 'C#1'], ['B#1']],
    );
  });
});
