import assert from 'node:assert/strict';
import { eventRouting } from '../../infra/provisioning';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Records written the way the design documents write them, put straight on the stream, come out
 * in DynamoDB and on the wallboard queues with 003's event types and redactions.
 */
describe("the design documents' record shapes on the real stack", function () {
  this.timeout(240_000);
  let p: TestPipeline;
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 });
  });
  after(async () => {
    await p?.stop();
  });

  it("003's lifecycle, 002's sample event and 000's compact format reach DynamoDB and SQS", async () => {
    const probe = probes(p);
    const numericId = 100_000 + Math.floor(Math.random() * 800_000);
    const textId = `usr_${run}`;
    const sku = `A1-${run}`;
    await probe.putRaw([
      {
        partitionKey: `users:${numericId}`,
        data: JSON.stringify({
          timestamp: new Date().toISOString(),
          table: 'users',
          operation: 'UPDATE',
          beforeImage: { id: numericId, email: 'old@example.com', ssn: '123-45-6789' },
          afterImage: { id: numericId, email: 'new@example.com', ssn: '123-45-6789' },
        }),
      },
      {
        partitionKey: `users:${textId}`,
        data: JSON.stringify({
          eventType: 'UPDATE',
          tableName: 'users',
          timestamp: new Date().toISOString(),
          before: { id: textId, email: 'user@example.com', status: 'active' },
          after: { id: textId, email: 'user@example.com', status: 'inactive' },
        }),
      },
      {
        partitionKey: `inventory:${sku}`,
        data: JSON.stringify({ op: 'INSERT', sku, wh: 101, qty: 100, ts: new Date().toISOString() }),
      },
    ]);

    const lifecycle = await waitFor('the 003 lifecycle user in DynamoDB', () =>
      probe.entity('users', String(numericId)),
    );
    const row = lifecycle.row as Record<string, unknown>;
    assert.equal(row.email, 'n**@example.com');
    assert.equal(row.ssn, undefined, 'SSN removed');
    const sample = await waitFor('the 002 sample user in DynamoDB', () => probe.entity('users', textId));
    assert.equal((sample.row as Record<string, unknown>).status, 'inactive');
    assert.equal((sample.row as Record<string, unknown>).email, 'u***@example.com');
    await waitFor('the compact inventory row in DynamoDB', () => probe.entity('inventory', `${sku}#101`));

    const queues = eventRouting(p.config.eventBus).queues;
    const detailOf = (b: Record<string, unknown>) => b.detail as Record<string, unknown>;
    const published = await probe.receiveUntil(
      queues.wallboardUsers,
      (b) => detailOf(b).entityId === String(numericId),
      60_000,
    );
    const d = detailOf(published);
    assert.equal(published['detail-type'], 'user.updated');
    assert.equal(d.eventType, 'user.updated');
    assert.deepEqual(d.changes, { email: { old: 'o**@example.com', new: 'n**@example.com' } });
    assert.ok(!JSON.stringify(published).includes('123-45-6789'));
    const inv = await probe.receiveUntil(
      queues.inventory,
      (b) => detailOf(b).entityId === `${sku}#101`,
      60_000,
    );
    assert.equal(detailOf(inv).eventType, 'inventory.created');
  });
});
