import assert from 'node:assert/strict';
import { createActivities } from '../../../activities';
import { configToEnv, loadConfig } from '../../../infra/config';
import { ANALYTICS_CONSUMER, consumerConfig, deploymentConsumers } from '../../../infra/consumers';
import { supervisorWorkflowId } from '../../../workflows/names';
import { fakes, inventoryChange } from '../activities/fakes';

describe('consumers: one stream, a worker configuration per (name, sink)', () => {
  const base = loadConfig({ CDC_STREAM: 'cdc-inventory', CDC_TASK_QUEUE: 'cdc-pipeline' });

  it('a deployment runs the operational consumer on the main task queue and the analytics one beside it', () => {
    assert.deepEqual(deploymentConsumers(base), [
      { name: 'inventory-pipeline', sink: 'operational', taskQueue: 'cdc-pipeline' },
      { name: ANALYTICS_CONSUMER, sink: 'analytics', taskQueue: 'cdc-pipeline-analytics' },
    ]);
    const [operational, analytics] = deploymentConsumers(base).map((c) => consumerConfig(base, c));
    assert.equal(
      supervisorWorkflowId(analytics!.stream, analytics!.consumer),
      'cdc-supervisor:cdc-inventory:analytics',
    );
    assert.deepEqual(operational, base, 'the operational consumer is the base configuration');
  });

  it('the analytics consumer binds its own sink and releases no holds', () => {
    const analytics = consumerConfig(base, deploymentConsumers(base)[1]!);
    assert.equal(analytics.sink, 'analytics');
    assert.equal(analytics.reservationExpiry, false);
    assert.equal(base.reservationExpiry, true);
    // Everything else (stream, tables, secrets, database) is the deployment's.
    assert.deepEqual(
      {
        ...analytics,
        consumer: base.consumer,
        taskQueue: base.taskQueue,
        sink: base.sink,
        reservationExpiry: true,
      },
      base,
    );
  });

  it('a consumer’s configuration survives the environment of a worker process', () => {
    const analytics = consumerConfig(base, deploymentConsumers(base)[1]!);
    assert.deepEqual(loadConfig(configToEnv(analytics)), analytics);
  });

  it('both sinks host the same activities; the analytics one publishes nothing and tells no hold', async () => {
    const analytics = consumerConfig(base, deploymentConsumers(base)[1]!);
    const op = createActivities(base, fakes().io);
    const an = createActivities(analytics, fakes().io);
    assert.deepEqual(Object.keys(an).sort(), Object.keys(op).sort());
    const f = fakes();
    const quiet = createActivities(analytics, f.io);
    const e = inventoryChange({ op: 'c', sku: 'SKU-1', lsn: 0x100 });
    assert.deepEqual(await quiet.publishEvents([e]), { published: 0, alerts: 0, rejected: [] });
    assert.equal(f.events.requests.length, 0, 'nothing reached EventBridge');
    const hold = {
      reservationId: 'res-1',
      status: 'HELD' as const,
      sku: 'SKU-1',
      warehouseId: 1,
      quantity: 1,
      expiresAt: '2030-01-01T00:00:00.000Z',
      version: '0000000000000100.0000000000',
    };
    assert.deepEqual(await quiet.signalHoldChanges([hold]), { delivered: 0, ignored: 1 });
  });
});
