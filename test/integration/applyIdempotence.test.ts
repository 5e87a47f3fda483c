import assert from 'node:assert/strict';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { createActivities } from '../../activities';
import type { ChangeEvent } from '../../domain/core/changeEvent';
import { redactEvent } from '../../domain/processing/redact';
import { transformChange } from '../../domain/processing/transform';
import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { awsClients } from '../../infra/aws';
import { loadConfig, type PipelineConfig } from '../../infra/config';
import { provisionDynamo } from '../../infra/provisioning';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';

/**
 * The version guard against real DynamoDB Local: replaying any batches any number of times, in
 * any order, leaves exactly the state of applying each change once in order.
 */
describe('apply is idempotent and order-independent (DynamoDB Local)', function () {
  this.timeout(180_000);
  const configs: PipelineConfig[] = [];

  before(async () => {
    await stackUp();
    applyLocalStackEnv();
  });
  after(async () => {
    for (const c of configs) {
      for (const TableName of [c.tables.entities, c.tables.inventory]) {
        await awsClients()
          .dynamo.send(new DeleteTableCommand({ TableName }))
          .catch(() => undefined);
      }
    }
  });

  async function freshTables(): Promise<PipelineConfig> {
    const id = `${Date.now().toString(36)}${configs.length}`;
    const config = loadConfig({
      ...process.env,
      CDC_STATE_TABLE: `idem_state_${id}`,
      CDC_ENTITIES_TABLE: `idem_entities_${id}`,
      CDC_INVENTORY_TABLE: `idem_inventory_${id}`,
      CDC_DLQ_TABLE: `idem_dlq_${id}`,
    });
    await provisionDynamo(config);
    configs.push(config);
    return config;
  }

  async function snapshot(config: PipelineConfig) {
    const items: Record<string, unknown>[] = [];
    for (const TableName of [config.tables.entities, config.tables.inventory]) {
      const out = await awsClients().doc.send(new ScanCommand({ TableName, ConsistentRead: true }));
      // The tombstone TTL depends on when it was written; everything else must be identical.
      items.push(
        ...(out.Items ?? []).map(({ ttl: _ttl, ...rest }) => ({
          TableName: TableName.split('_')[1],
          ...rest,
        })),
      );
    }
    return items.sort(
      (a, b) =>
        String(a.pk).localeCompare(String(b.pk)) || String(a.TableName).localeCompare(String(b.TableName)),
    );
  }

  /** A history of changes to a few inventory rows: inserts, updates, a delete and a re-insert. */
  function history(): PipelineEvent[] {
    const changes: ChangeEvent[] = [];
    const rows = new Map<number, { on_hand: number; reserved: number } | null>();
    let lsn = 0x1000;
    const ops: [number, 'c' | 'u' | 'd', number][] = [
      [1, 'c', 100],
      [2, 'c', 50],
      [1, 'u', 90],
      [3, 'c', 5],
      [2, 'u', 40],
      [1, 'u', 80],
      [3, 'd', 0],
      [2, 'u', 10],
      [3, 'c', 7],
      [1, 'u', 8],
      [2, 'd', 0],
      [3, 'u', 6],
    ];
    for (const [wh, op, qty] of ops) {
      const before = rows.get(wh) ?? null;
      const after = op === 'd' ? null : { on_hand: qty, reserved: 0 };
      lsn += 0x40;
      changes.push({
        source: {
          db: 'inventory',
          schema: 'public',
          table: 'inventory',
          lsn: `0/${lsn.toString(16).toUpperCase()}`,
          commitTs: new Date(1_790_000_000_000 + lsn).toISOString(),
          index: 0,
        },
        op,
        key: { sku: 'IDEM-1', warehouse_id: wh },
        before: before && { sku: 'IDEM-1', warehouse_id: wh, ...before, low_stock_threshold: 10 },
        after: after && { sku: 'IDEM-1', warehouse_id: wh, ...after, low_stock_threshold: 10 },
      });
      rows.set(wh, after);
    }
    return changes.map((c, i) =>
      redactEvent(transformChange(c, { shardId: 's', sequenceNumber: String(1000 + i) }), {
        secret: 'secret-for-tests',
        keyId: 'test',
      }),
    );
  }

  it('replays of random batches in random order converge to the in-order state', async () => {
    const events = history();
    const reference = await freshTables();
    await createActivities(reference).applyEvents(events);
    const expected = await snapshot(reference);
    assert.equal(expected.filter((i) => i.TableName === 'entities').length, 3);

    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(events.length - 1), fc.nat(events.length - 1)), {
          minLength: 1,
          maxLength: 12,
        }),
        async (slices) => {
          const config = await freshTables();
          const apply = createActivities(config).applyEvents;
          // Random (possibly overlapping, repeated, reversed) batches, then every event at least once.
          for (const [a, b] of slices) await apply(events.slice(Math.min(a, b), Math.max(a, b) + 1));
          await apply([...events].reverse());
          assert.deepEqual(await snapshot(config), expected);
        },
      ),
      { numRuns: 8 },
    );
  });
});
