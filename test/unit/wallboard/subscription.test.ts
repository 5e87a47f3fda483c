import assert from 'node:assert/strict';
import { BOARD_TARGET_ID, QUEUE_TARGET_ID, eventRouting } from '../../../infra/provisioning';
import { wallboardQueues } from '../../../wallboard/server';

/**
 * Issue 19 item 9: the wallboard has its own subscription. Each rule keeps its queue (the
 * consumers', as the design documents specify) and gets a second target, the board's own queue;
 * the board reads only those. (test/integration/wallboard.test.ts shows it on the local stack.)
 */
describe('wallboard subscription: queues of its own', () => {
  const bus = 'cdc-pipeline';
  const { queues, boardQueues, rules } = eventRouting(bus);

  it('keeps every rule and its consumers’ queue as they were', () => {
    assert.deepEqual(
      rules.map((r) => [r.name, r.queue]),
      [
        ['cdc-pipeline-wallboard-users', 'cdc-pipeline-wallboard-users'],
        ['cdc-pipeline-wallboard-orders', 'cdc-pipeline-wallboard-orders'],
        ['cdc-pipeline-inventory-realtime', 'cdc-pipeline-inventory-events'],
        ['cdc-pipeline-alerts', 'cdc-pipeline-alerts'],
      ],
    );
    assert.deepEqual(Object.values(queues).sort(), rules.map((r) => r.queue).sort());
    assert.notEqual(QUEUE_TARGET_ID, BOARD_TARGET_ID);
  });

  it('gives each rule a board queue of its own, named after the rule’s queue', () => {
    assert.deepEqual(
      rules.map((r) => r.boardQueue),
      rules.map((r) => `${r.queue}-board`),
    );
    assert.deepEqual(Object.values(boardQueues).sort(), rules.map((r) => r.boardQueue).sort());
    for (const name of Object.values(boardQueues))
      assert.ok(name.length <= 80, `${name}: SQS allows 80 characters`);
  });

  it('reads only the board queues, one per rule, never a consumers’ queue', () => {
    const read = wallboardQueues(bus);
    assert.deepEqual([...read].sort(), Object.values(boardQueues).sort());
    for (const q of Object.values(queues)) assert.ok(!read.includes(q), `the board reads ${q}`);
  });
});
