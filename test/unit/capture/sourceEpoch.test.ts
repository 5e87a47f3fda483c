import assert from 'node:assert/strict';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  readSourceEpoch,
  recordedEpochOf,
  resolveSourceEpoch,
  type EpochStore,
} from '../../../activities/capture/sourceEpoch';
import {
  decideEpoch,
  describeEpoch,
  keptWatermark,
  readerEpoch,
  SourceEpochMismatchError,
  sourceEpochKey,
  withEpoch,
  type SourceEpochRecord,
} from '../../../domain/capture/sourceEpoch';
import { classifyError } from '../../../domain/core/errors';
import { loadConfig } from '../../../infra/config';

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
    assert.equal(d.kind === 'write' && d.record.epoch, 5);
    assert.equal(d.kind === 'write' && d.record.reason, 'operator');
    const first = decideEpoch(undefined, A, NOW, true);
    assert.equal(first.kind === 'write' && first.record.epoch, 1);
  });

  it('refuses to go back to the source of the epoch before (an old primary still reachable) unless an operator bumps', () => {
    const promoted: SourceEpochRecord = {
      ...A,
      timeline: 2,
      epoch: 5,
      since: NOW,
      reason: 'identity-changed',
      previous: { ...A, epoch: 4 },
    };
    const d = decideEpoch(promoted, A, NOW, false, 'slot_a');
    assert.equal(d.kind, 'refuse');
    assert.match(
      d.kind === 'refuse' ? d.message : '',
      /slot slot_a is system 7316660269188125790 timeline 1, the source of epoch 4 before the recorded system 7316660269188125790 timeline 2 \(epoch 5\).*cdc provision --bump-epoch/,
    );
    const bumped = decideEpoch(promoted, A, NOW, true);
    assert.equal(bumped.kind, 'write');
    assert.equal(bumped.kind === 'write' && bumped.record.epoch, 6);
  });

  it('says in one line what changed', () => {
    const d = decideEpoch(recorded, { ...A, timeline: 2 }, NOW);
    assert.equal(d.kind, 'write');
    const line = describeEpoch('slot_a', (d as { record: SourceEpochRecord }).record);
    assert.doesNotMatch(line, /\n/);
    assert.match(
      line,
      /epoch of slot slot_a is now 5 \(the source changed\): system 7316660269188125790 timeline 2, was system 7316660269188125790 timeline 1 \(epoch 4\)/,
    );
  });
});

describe('readerEpoch (backfill, redrive: they never move the epoch)', () => {
  const recorded: SourceEpochRecord = {
    ...A,
    timeline: 2,
    epoch: 1,
    since: NOW,
    reason: 'identity-changed',
    previous: { ...A, epoch: 0 },
  };

  it('the recorded source: its epoch; nothing recorded: 0', () => {
    assert.equal(readerEpoch(recorded, { ...A, timeline: 2 }, 'slot_a', 'backfill'), 1);
    assert.equal(readerEpoch(undefined, A, 'slot_a', 'backfill'), 0);
  });

  it('another source fails retryably, naming the slot and both identities', () => {
    for (const [current, also] of [
      [{ ...A, timeline: 3 }, /^/],
      [A, /the source of epoch 0 before it \(an old primary still reachable\?\)/],
    ] as const) {
      let caught: unknown;
      try {
        readerEpoch(recorded, current, 'slot_a', 'snapshot chunk');
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof SourceEpochMismatchError, 'throws');
      assert.equal(classifyError(caught), 'transient', 'retried');
      const message = (caught as Error).message;
      assert.match(message, also);
      assert.match(
        message,
        new RegExp(
          `snapshot chunk reached source system ${current.systemId} timeline ${current.timeline}.*slot slot_a, system ${A.systemId} timeline 2 \\(epoch 1\\).*waits for capture`,
        ),
      );
    }
  });
});

describe('keptWatermark (a backfill watermark does not outlive a source change)', () => {
  const w = { lsn: '0/16B3748', db: 'd', readAt: NOW, waitedMs: 0 };
  it('kept at the same epoch; dropped, with one line, at another', () => {
    assert.deepEqual(keptWatermark(undefined, 1, 's'), {});
    assert.deepEqual(keptWatermark({ ...w, epoch: 2 }, 2, 's'), { watermark: { ...w, epoch: 2 } });
    assert.deepEqual(keptWatermark(w, 0, 's'), { watermark: w });
    const dropped = keptWatermark(w, 1, 'slot_a');
    assert.equal(dropped.watermark, undefined);
    assert.match(
      dropped.dropped ?? '',
      /^kept watermark 0\/16B3748 of source epoch 0 ignored: the source of slot slot_a is at epoch 1 now; a fresh watermark is taken$/,
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

  it('a reader that reaches another source than the recorded one writes nothing and fails retryably', async () => {
    const table = new FakeStateTable();
    await resolveSourceEpoch(storeOf(table), { ...A, timeline: 2 }, { now });
    const puts = table.puts;
    const config = loadConfig({ CDC_STATE_TABLE: 'cdc_state', CDC_SLOT: 'slot_a' });
    const deps = { aws: { doc: table }, config } as unknown as Parameters<typeof recordedEpochOf>[0];
    const pgAt = (timeline: number) => ({
      query: async () => ({ rows: [{ system_id: A.systemId, timeline }] }),
    });
    assert.equal(await recordedEpochOf(deps, pgAt(2) as never, 'backfill'), 0);
    await assert.rejects(recordedEpochOf(deps, pgAt(1) as never, 'backfill'), SourceEpochMismatchError);
    await assert.rejects(recordedEpochOf(deps, pgAt(3) as never, 'redrive'), /redrive reached source/);
    assert.equal(table.puts, puts, 'no write: only capture and the operator move the epoch');
    assert.equal((await readSourceEpoch(storeOf(table)))?.timeline, 2);
  });

  it('capture refuses to go back to the source of the epoch before; the operator can bump onto it', async () => {
    const table = new FakeStateTable();
    await resolveSourceEpoch(storeOf(table), A, { now });
    await resolveSourceEpoch(storeOf(table), { ...A, timeline: 2 }, { now });
    await assert.rejects(resolveSourceEpoch(storeOf(table), A, { now }), SourceEpochMismatchError);
    assert.equal((await readSourceEpoch(storeOf(table)))?.epoch, 1);
    const back = await resolveSourceEpoch(storeOf(table), A, { now, force: true });
    assert.equal(back.record.epoch, 2);
    assert.equal((await resolveSourceEpoch(storeOf(table), A, { now })).record.epoch, 2);
  });

  it('refuses a state item that is not a source epoch record', async () => {
    const table = new FakeStateTable();
    table.items.set('SOURCE#slot_a', { pk: 'SOURCE#slot_a', epoch: 'one' });
    await assert.rejects(resolveSourceEpoch(storeOf(table), A, { now }), /not a source epoch record/);
  });
});
