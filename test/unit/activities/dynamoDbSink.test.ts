import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../../activities';
import { coalesce, createDynamoDbSink } from '../../../activities/sinks/dynamoDbSink';
import { ConfigurationError } from '../../../domain/core/errors';
import { loadConfig } from '../../../infra/config';
import { awsError, fakes, inventoryChange, type Fakes } from './fakes';

const config = loadConfig({});
const { entities, inventory } = config.tables;

describe('DynamoDB sink (fake DynamoDB)', () => {
  let f: Fakes;
  const sink = () => createDynamoDbSink({ config, ...f.io });
  beforeEach(() => {
    f = fakes();
  });

  it('writes the redacted row and the inventory view, each put guarded by the version', async () => {
    const e = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100, after: { on_hand: 80, reserved: 10 } });
    assert.deepEqual(await sink().apply([e]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [],
      outdated: [],
    });

    const entity = f.doc.item(entities, 'inventory#SKU-1#1');
    assert.equal(entity?.version, e.version);
    assert.equal(entity?.eventId, e.eventId);
    assert.deepEqual(entity?.row, e.after);
    assert.equal(entity?.deleted, false);
    const stock = f.doc.item(inventory, 'SKU-1#1');
    assert.deepEqual(
      [stock?.onHand, stock?.reserved, stock?.available, stock?.lowStockThreshold, stock?.version],
      [80, 10, 70, 10, e.version],
    );
    for (const put of f.doc.sent) {
      assert.equal(put.input.ConditionExpression, 'attribute_not_exists(pk) OR version < :v');
      assert.equal(put.input.ExpressionAttributeValues[':v'], e.version);
    }
  });

  it('counts replays as stale and never lets an older version overwrite a newer one', async () => {
    const v1 = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100, after: { on_hand: 50, reserved: 0 } });
    const v2 = inventoryChange({ op: 'u', sku: 'SKU-1', lsn: 0x200, after: { on_hand: 40, reserved: 0 } });
    assert.deepEqual(await sink().apply([v1]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [],
      outdated: [],
    });
    assert.deepEqual(await sink().apply([v2]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [],
      outdated: [],
    });

    assert.deepEqual(await sink().apply([v1]), {
      applied: 0,
      stale: 1,
      coalesced: 0,
      rejected: [],
      outdated: [v1.eventId],
    });
    assert.deepEqual(await sink().apply([v1, v2]), {
      applied: 0,
      stale: 1,
      coalesced: 1,
      rejected: [],
      outdated: [],
    });
    assert.equal(f.doc.item(entities, 'inventory#SKU-1#1')?.version, v2.version);
    assert.equal(f.doc.item(inventory, 'SKU-1#1')?.onHand, 40);
  });

  it('applies the changes of one key in batch order while different keys are written concurrently', async () => {
    const skus = ['a', 'b', 'c', 'd', 'e'];
    const batch = [1, 2, 3].flatMap((n) =>
      skus.map((sku, i) =>
        inventoryChange({
          op: n === 1 ? 'c' : 'u',
          sku,
          lsn: n * 0x100 + i,
          after: { on_hand: n, reserved: 0 },
        }),
      ),
    );
    let inFlight = 0;
    let maxInFlight = 0;
    f.doc.before = async () => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await sleep(Math.floor(Math.random() * 5));
      inFlight--;
    };

    // Each key's three full changes coalesce to its newest: one write per key.
    assert.deepEqual(await sink().apply(batch), {
      applied: 5,
      stale: 0,
      coalesced: 10,
      rejected: [],
      outdated: [],
    });
    assert.ok(maxInFlight > 2, `writes of different keys overlap (at most ${maxInFlight} at once)`);
    for (const sku of skus) {
      const pk = `inventory#${sku}#1`;
      const versions = f.doc.sent.filter((c) => c.input.Item.pk === pk).map((c) => c.input.Item.version);
      assert.equal(versions.length, 1, `one write of ${pk}`);
      assert.equal(f.doc.item(entities, pk)?.version, batch.filter((e) => e.key.sku === sku).at(-1)!.version);
    }
  });

  it('a batch out of version order still ends at the newest version (coalescing picks it)', async () => {
    const v1 = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 });
    const v2 = inventoryChange({ op: 'u', sku: 'SKU-1', lsn: 0x200 });
    // …and the older change after the newer one is not news: it is not published.
    assert.deepEqual(await sink().apply([v2, v1]), {
      applied: 1,
      stale: 0,
      coalesced: 1,
      rejected: [],
      outdated: [v1.eventId],
    });
    assert.equal(f.doc.item(entities, 'inventory#SKU-1#1')?.version, v2.version);
  });

  it('leaves tombstones on delete: no row, no quantities, a TTL of retention plus the redrive window', async () => {
    const created = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 });
    const deleted = inventoryChange({
      op: 'd',
      sku: 'SKU-1',
      lsn: 0x200,
      before: { on_hand: 1, reserved: 0 },
    });
    assert.deepEqual(await sink().apply([created]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [],
      outdated: [],
    });
    assert.deepEqual(await sink().apply([deleted]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [],
      outdated: [],
    });

    const entity = f.doc.item(entities, 'inventory#SKU-1#1');
    assert.equal(entity?.deleted, true);
    assert.equal('row' in (entity ?? {}), false);
    const ttl = Number(entity?.ttl) - Date.now() / 1000;
    // Defaults: 24 h retention (1 day) + 14 days of redrive window.
    assert.equal(config.tombstoneTtlDays, 15);
    assert.ok(Math.abs(ttl - 15 * 24 * 3600) < 60, `ttl ${ttl}s from now`);
    const stock = f.doc.item(inventory, 'SKU-1#1');
    assert.equal(stock?.deleted, true);
    assert.equal('onHand' in (stock ?? {}), false);
  });

  it('rejects a record whose write fails on its own and applies the others', async () => {
    const big = inventoryChange({ op: 'c', sku: 'big', lsn: 0x100, sequenceNumber: '4711' });
    const ok = inventoryChange({ op: 'c', sku: 'ok', lsn: 0x101 });
    f.doc.before = (c) => {
      if (String(c.input.Item.pk).includes('big'))
        throw awsError('ValidationException', 'Item size has exceeded the maximum allowed size');
    };

    assert.deepEqual(await sink().apply([big, ok]), {
      applied: 1,
      stale: 0,
      coalesced: 0,
      rejected: [
        {
          sequenceNumber: '4711',
          category: 'permanent',
          reason: 'DynamoDB: Item size has exceeded the maximum allowed size',
          // The very change, for the delivery path (left out of workflow history).
          eventId: big.eventId,
        },
      ],
      outdated: [],
    });
    assert.ok(f.doc.item(entities, 'inventory#ok#1'));
  });

  for (const [error, type] of [
    ['ResourceNotFoundException', 'configuration'],
    ['AccessDeniedException', 'configuration'],
    ['ProvisionedThroughputExceededException', 'throttling'],
    ['InternalServerError', 'transient'],
  ] as const) {
    it(`fails the whole batch on ${error}, as a '${type}' failure of applyEvents`, async () => {
      f.doc.before = () => {
        throw awsError(error);
      };
      const batch = [inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 })];
      await assert.rejects(sink().apply(batch), { name: error });
      await assert.rejects(
        createActivities(config, f.io).applyEvents(batch),
        (err) => err instanceof ApplicationFailure && err.type === type,
      );
    });
  }

  it('refuses an event that was not redacted, writing nothing', async () => {
    const { redactionPolicy: _, ...unredacted } = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 });
    await assert.rejects(sink().apply([unredacted]), ConfigurationError);
    await assert.rejects(
      createActivities(config, f.io).applyEvents([unredacted]),
      (err) => err instanceof ApplicationFailure && err.type === 'configuration',
    );
    assert.equal(f.doc.sent.length, 0);
  });
});

describe('DynamoDB sink: what holds the shard and what rejects a record', () => {
  const config = loadConfig({});
  it('an error that is not about the record (wrong key schema, unknown 4xx) fails the batch instead of dead-lettering it', async () => {
    for (const err of [
      awsError(
        'ValidationException',
        'One or more parameter values were invalid: Missing the key id in the item',
      ),
      Object.assign(awsError('SomeNewException', 'denied'), { $metadata: { httpStatusCode: 403 } }),
      awsError('InvalidSignatureException', 'bad signature'),
    ]) {
      const f = fakes();
      f.doc.before = () => {
        throw err;
      };
      const sink = createDynamoDbSink({ config, ...f.io });
      await assert.rejects(
        sink.apply([inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 })]),
        (e) => e === err,
      );
    }
  });

  it('item too large and numbers out of range are the record’s own: rejected, the batch goes on', async () => {
    for (const message of [
      'Item size has exceeded the maximum allowed size',
      'Number overflow. Attempting to store a number with magnitude larger than supported range',
    ]) {
      const f = fakes();
      f.doc.before = (c) => {
        if (String(c.input.Item.pk).includes('BAD')) throw awsError('ValidationException', message);
      };
      const sink = createDynamoDbSink({ config, ...f.io });
      const out = await sink.apply([
        inventoryChange({ op: 'c', sku: 'BAD', lsn: 0x100 }),
        inventoryChange({ op: 'c', sku: 'OK', lsn: 0x101 }),
      ]);
      assert.equal(out.applied, 1);
      assert.equal(out.rejected.length, 1);
      assert.equal(out.rejected[0].category, 'permanent');
    }
  });

  it('coalesces the changes of one key: only the newest full change is written', () => {
    const changes = [1, 2, 3].map((n) => inventoryChange({ op: 'u', sku: 'SKU-1', lsn: 0x100 + n }));
    assert.deepEqual(coalesce(changes), [changes[2]]);
    assert.deepEqual(coalesce([changes[2], changes[0], changes[1]]), [changes[2]], 'the newest version wins');
    const partial = { ...changes[2], partial: true as const };
    assert.deepEqual(
      coalesce([changes[0], partial]),
      [changes[0], partial],
      'partial images are not coalesced',
    );
  });
});

describe('applyEvents failures name the record that failed', () => {
  it('details[0] is the failing record (sequence number, table, entity, version), not the batch’s first', async () => {
    const config = loadConfig({});
    const f = fakes();
    f.doc.before = (c) => {
      if (String(c.input.Item.pk).includes('BROKEN')) throw awsError('InternalServerError', 'boom');
    };
    const activities = createActivities(config, f.io);
    const ok = inventoryChange({ op: 'c', sku: 'OK', lsn: 0x100, sequenceNumber: '1' });
    const broken = inventoryChange({ op: 'c', sku: 'BROKEN', lsn: 0x101, sequenceNumber: '2' });
    await assert.rejects(activities.applyEvents([ok, broken]), (err) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'transient');
      assert.deepEqual(err.details?.[0], {
        sequenceNumber: '2',
        table: 'inventory',
        entityId: 'BROKEN#1',
        op: 'c',
        version: broken.version,
      });
      return true;
    });
  });
});
