import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Pool } from 'pg';
import { inventoryKey } from '../../domain/core/itemKeys';
import { awsClients } from '../../infra/aws';
import { reserve } from '../../infra/reservationStore';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * A flash sale through the running pipeline: 200 buyers race for 50 units in PostgreSQL (one
 * conditional statement each, infra/reservationStore.ts), and the DynamoDB inventory view the
 * storefront reads follows: `available` never below 0 at any moment it is read, never going back
 * up (changes apply in order), finally 0 with 50 reserved.
 */
describe('flash sale through the local stack', function () {
  this.timeout(60_000);
  let p: TestPipeline;
  let pool: Pool;
  const sku = `flash-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline();
    pool = new Pool({ max: 20 });
  });
  after(async function () {
    this.timeout(120_000);
    await p?.stop();
    // The shared tables keep no held stock of this run (a pipeline started later would expire it).
    await pool?.query('DELETE FROM reservations WHERE sku = $1', [sku]).catch(() => undefined);
    await pool?.query('DELETE FROM inventory WHERE sku = $1', [sku]).catch(() => undefined);
    await pool?.end();
  });

  const view = async () =>
    (
      await awsClients().doc.send(
        new GetCommand({
          TableName: p.config.tables.inventory,
          Key: { pk: inventoryKey(sku, 1) },
          ConsistentRead: true,
        }),
      )
    ).Item as { onHand?: number; reserved?: number; available?: number } | undefined;

  /** Reads the view every few milliseconds until stopped: every (reserved, available) seen. */
  function watchView() {
    const seen: { reserved: number; available: number }[] = [];
    let stopped = false;
    const done = (async () => {
      while (!stopped) {
        const item = await view();
        if (item?.available !== undefined && item.reserved !== undefined)
          seen.push({ reserved: item.reserved, available: item.available });
        await sleep(20);
      }
    })();
    return {
      seen,
      stop: async () => {
        stopped = true;
        await done;
      },
    };
  }

  it('200 concurrent reservations for 50 units: exactly 50 held; DynamoDB never shows a negative available', async () => {
    await pool.query('INSERT INTO inventory (sku, warehouse_id, on_hand, reserved) VALUES ($1, 1, 50, 0)', [
      sku,
    ]);
    await waitFor('the new SKU in the inventory view', async () =>
      (await view())?.available === 50 ? true : undefined,
    );

    const watcher = watchView();
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => reserve(pool, { sku, warehouseId: 1, quantity: 1, ttlSeconds: 600 })),
    );
    const reserveMs = Date.now() - started;
    const ok = results.filter((r) => r.ok).length;
    const refused = results.filter((r) => !r.ok && r.reason === 'insufficient-stock').length;

    const final = await waitFor(
      'the view to show all 50 reserved',
      async () => {
        const item = await view();
        return item?.reserved === 50 ? item : undefined;
      },
      { timeoutMs: 30_000, lastSeen: () => JSON.stringify(watcher.seen.at(-1) ?? null) },
    );
    const pipelineMs = Date.now() - started;
    await watcher.stop();

    assert.equal(ok, 50);
    assert.equal(refused, 150);
    const pgRow = await pool.query<{ on_hand: number; reserved: number }>(
      'SELECT on_hand, reserved FROM inventory WHERE sku = $1 AND warehouse_id = 1',
      [sku],
    );
    assert.deepEqual(pgRow.rows[0], { on_hand: 50, reserved: 50 });
    assert.deepEqual([final.onHand, final.reserved, final.available], [50, 50, 0]);

    const samples = watcher.seen;
    assert.ok(samples.length > 0, 'the view was read while the sale ran');
    const minAvailable = Math.min(...samples.map((s) => s.available));
    assert.ok(minAvailable >= 0, `the view showed available ${minAvailable}`);
    for (const s of samples) assert.equal(s.reserved + s.available, 50, JSON.stringify(s));
    for (let i = 1; i < samples.length; i++)
      assert.ok(
        samples[i].reserved >= samples[i - 1].reserved,
        `reserved went back: ${JSON.stringify(samples.slice(i - 1, i + 1))}`,
      );
    console.log(
      `      flash sale: ${ok} held, ${refused} refused in ${reserveMs} ms; view at 0 available after ${pipelineMs} ms; ` +
        `${samples.length} view reads, ${new Set(samples.map((s) => s.reserved)).size} distinct states, min available ${minAvailable}`,
    );
  });
});
