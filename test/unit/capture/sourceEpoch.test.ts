import assert from 'node:assert/strict';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  readSourceEpoch,
  resolveSourceEpoch,
  type EpochStore,
} from '../../../activities/capture/sourceEpoch';
import {
  decideEpoch,
  describeEpoch,
  sourceEpochKey,
  withEpoch,
  type SourceEpochRecord,
} from '../../../domain/capture/sourceEpoch';

const A = { systemId: '7316660269188125790', timeline: 1 };
const NOW = '2026-12-07T20:00:00.000Z';

describe('decideEpoch', () => {
  const recorded: SourceEpochRecord = { ...A, epoch: 4, since: NOW, reason: 'identity-changed' };

  it('a source seen for the first time is epoch 0 (what every version stored before epochs is)', () => {
    assert.deepEqual(decideEpoch(undefined, A, NOW), {
      kind: 'write',
      record: { ...A, epoch: 0, since: NOW, reason: 'first-seen' },
    });
  });

  it('the same system and timeline keep the recorded epoch', () => {
    assert.deepEqual(decideEpoch(recorded, { ...A }, NOW), { kind: 'same', record: recorded });
  });

  it('a new timeline (promotion, restore) or a new system (pg_upgrade, blue/green) is recorded + 1', () => {
    for (const current of [
      { ...A, timeline: 2 },
      { ...A, systemId: '7416660269188125791' },
    ]) {
      const d = decideEpoch(recorded, current, NOW);
      assert.deepEqual(d, {
        kind: 'write',
        expectEpoch: 4,
        record: {
          ...current,
          epoch: 5,
          since: NOW,
          reason: 'identity-changed',
          previous: { ...A, epoch: 4 },
        },
      });
    }
  });

  it("an operator's bump is recorded + 1 even for the same source, 1 with nothing recorded", () => {
    const d = decideEpoch(recorded, A, NOW, true);
    assert.equal(d.kind, 'write');
    assert.equal(d.record.epoch, 5);
    assert.equal(d.record.reason, 'operator');
    assert.equal(decideEpoch(undefined, A, NOW, true).record.epoch, 1);
  });

  it('says in one line what changed', () => {
    const d = decideEpoch(recorded, { ...A, timeline: 2 }, NOW);
    const line = describeEpoch('slot_a', d.record);
    assert.doesNotMatch(line, /\n/);
    assert.match(
      line,
      /epoch of slot slot_a is now 5 \(the source changed\): system 7316660269188125790 timeline 2, was system 7316660269188125790 timeline 1 \(epoch 4\)/,
    );
  });
});

interface FakeInput {
  Key: { pk: string };
  Item: { pk: string };
  ConditionExpression?: string;
  ExpressionAttributeValues: Record<string, unknown>;
}

describe('withEpoch', () => {
  const change = {
    source: { db: 'd', schema: 'public', table: 'inventory', lsn: '0/1', commitTs: NOW, index: 0 },
    op: 'r' as const,
    key: { sku: 'S', warehouse_id: 1 },
    before: null,
    after: { sku: 'S', warehouse_id: 1 },
  };
  it('stamps the epoch a backfill read its rows at; epoch 0 leaves the change as it is', () => {
    assert.equal(withEpoch(change, 2).source.epoch, 2);
    assert.equal(withEpoch(change, 0), change);
    assert.equal(withEpoch(change, undefined), change);
  });
});

/** The state table in memory: Get and Put with the two conditions resolveSourceEpoch writes. */
class FakeStateTable {
  items = new Map<string, Record<string, unknown>>();
  puts = 0;
  /** Runs before a Put is applied (a concurrent writer can go first). */
  beforePut: () => Promise<void> | void = () => undefined;

  async send(command: { constructor: { name: string }; input: FakeInput }): Promise<unknown> {
    const input = command.input;
    if (command.constructor.name === 'GetCommand') {
      const item = this.items.get(input.Key.pk);
      return { Item: item && structuredClone(item) };
    }
    if (command.constructor.name !== 'PutCommand') throw new Error(command.constructor.name);
    await this.beforePut();
    const current = this.items.get(input.Item.pk);
    assert.equal(input.ConditionExpression, 'attribute_not_exists(pk) OR epoch = :e');
    const ok = current === undefined || current.epoch === input.ExpressionAttributeValues[':e'];
    if (!ok)
      throw new ConditionalCheckFailedException({ message: 'conditional request failed', $metadata: {} });
    this.puts++;
    this.items.set(input.Item.pk, structuredClone(input.Item));
    return {};
  }
}

describe('resolveSourceEpoch (state table item)', () => {
  const storeOf = (table: FakeStateTable): EpochStore => ({
    doc: table as unknown as EpochStore['doc'],
    table: 'cdc_state',
    slot: 'slot_a',
  });
  const now = () => new Date(NOW);

  it('records a new source as epoch 0, then keeps it without writing', async () => {
    const table = new FakeStateTable();
    const lines: string[] = [];
    const first = await resolveSourceEpoch(storeOf(table), A, { now, log: (l) => lines.push(l) });
    assert.equal(first.record.epoch, 0);
    assert.equal(first.changed, true);
    assert.deepEqual(table.items.get(sourceEpochKey('slot_a')), {
      pk: 'SOURCE#slot_a',
      ...A,
      epoch: 0,
      since: NOW,
      reason: 'first-seen',
    });
    const again = await resolveSourceEpoch(storeOf(table), A, { now });
    assert.deepEqual(again, { record: first.record, changed: false });
    assert.equal(table.puts, 1);
    assert.equal(lines.length, 1);
    assert.deepEqual(await readSourceEpoch(storeOf(table)), first.record);
  });

  it('two readers that see a new timeline at once agree on one new epoch', async () => {
    const table = new FakeStateTable();
    await resolveSourceEpoch(storeOf(table), A, { now });
    const promoted = { ...A, timeline: 2 };
    // Both read epoch 0 before either writes: one write wins, the other re-reads the winner's record.
    let reads = 0;
    const gate = new Promise<void>((resolve) => {
      table.beforePut = async () => {
        if (++reads === 2) resolve();
        await gate;
      };
    });
    const [x, y] = await Promise.all([
      resolveSourceEpoch(storeOf(table), promoted, { now }),
      resolveSourceEpoch(storeOf(table), promoted, { now }),
    ]);
    assert.equal(x.record.epoch, 1);
    assert.equal(y.record.epoch, 1);
    assert.equal([x, y].filter((r) => r.changed).length, 1, 'one of them wrote');
    assert.equal(table.puts, 2, 'first-seen, then one bump');
  });

  it("an operator's bump goes on top of what is recorded", async () => {
    const table = new FakeStateTable();
    await resolveSourceEpoch(storeOf(table), A, { now });
    const bumped = await resolveSourceEpoch(storeOf(table), A, { now, force: true });
    assert.equal(bumped.record.epoch, 1);
    assert.equal(bumped.record.reason, 'operator');
    // Capture then finds the same source: it keeps epoch 1.
    assert.equal((await resolveSourceEpoch(storeOf(table), A, { now })).record.epoch, 1);
  });

  it('refuses a state item that is not a source epoch record', async () => {
    const table = new FakeStateTable();
    table.items.set('SOURCE#slot_a', { pk: 'SOURCE#slot_a', epoch: 'one' });
    await assert.rejects(resolveSourceEpoch(storeOf(table), A, { now }), /not a source epoch record/);
  });
});
