import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../../activities';
import {
  discardDeadLetters,
  getDeadLetter,
  listDeadLetters,
  type AuditEntry,
} from '../../../activities/deadLetterAdmin';
import { parkCaptureDeadLetter } from '../../../activities/deadLetters';
import type { ActivityDeps } from '../../../activities/deps';
import { createAlertPublisher } from '../../../activities/publishing/alertPublisher';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import { captureDeadLetterKey, deadLetterKey, entityKey } from '../../../domain/core/itemKeys';
import type { DeadLetter, StreamRecord } from '../../../domain/shards/shardTypes';
import { loadConfig, type PipelineConfig } from '../../../infra/config';
import { awsError, fakes, FakeDynamo, type Command, type Fakes } from './fakes';

const SHARD = 'shardId-000000000000';

/**
 * The shared FakeDynamo plus what the DLQ admin sends: Scan (pages by `Limit`, resumes after
 * `ExclusiveStartKey`) and the conditional updates of PARKED items
 * (`attribute_exists(pk) AND #status = :parked`, `SET #a = :v, #audit = list_append(if_not_exists(#audit, :empty), :entry)`).
 */
class DlqFakeDynamo extends FakeDynamo {
  override async send(command: Command): Promise<unknown> {
    const name = command.constructor.name;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const input = command.input as Record<string, any>;
    if (name === 'ScanCommand') {
      this.sent.push({ name, input });
      await this.before({ name, input });
      const items = [...this.table(input.TableName).values()];
      const start = input.ExclusiveStartKey
        ? items.findIndex((i) => i.pk === input.ExclusiveStartKey.pk) + 1
        : 0;
      const page = items.slice(start, start + (input.Limit ?? Infinity));
      const more = start + page.length < items.length;
      return {
        Items: page.map((i) => structuredClone(i)),
        ...(more ? { LastEvaluatedKey: { pk: page.at(-1)!.pk } } : {}),
      };
    }
    if (
      name === 'UpdateCommand' &&
      String(input.ConditionExpression).startsWith('attribute_exists(pk) AND')
    ) {
      this.sent.push({ name, input });
      await this.before({ name, input });
      const item = this.table(input.TableName).get(input.Key.pk);
      const names = input.ExpressionAttributeNames as Record<string, string>;
      const values = input.ExpressionAttributeValues as Record<string, unknown>;
      assert.equal(input.ConditionExpression, 'attribute_exists(pk) AND #status = :parked');
      if (!item || item[names['#status']] !== values[':parked'])
        throw Object.assign(new Error('The conditional request failed'), {
          name: 'ConditionalCheckFailedException',
        });
      const sets = String(input.UpdateExpression)
        .replace(/^SET /, '')
        .split(/,\s*(?![^(]*\))/);
      for (const s of sets) {
        const [lhs, rhs] = s.split(/\s*=\s*/);
        const appended = /^list_append\(if_not_exists\((#\w+), (:\w+)\), (:\w+)\)$/.exec(rhs);
        if (appended) {
          const current =
            (item[names[appended[1]]] as unknown[] | undefined) ?? (values[appended[2]] as unknown[]);
          item[names[lhs]] = [...current, ...(values[appended[3]] as unknown[])];
        } else if (/^:\w+$/.test(rhs)) item[names[lhs]] = structuredClone(values[rhs]);
        else throw new Error(`DlqFakeDynamo: assignment not faked: ${s}`);
      }
      return {};
    }
    return super.send(command);
  }
}

interface Setup {
  config: PipelineConfig;
  f: Fakes;
  deps: ActivityDeps;
  activities: ReturnType<typeof createActivities>;
  dlqItem: (pk: string) => Record<string, unknown> | undefined;
  entity: (table: string, id: string) => Record<string, unknown> | undefined;
}

function setup(): Setup {
  const config = loadConfig({ CDC_DLQ_INLINE_MAX_BYTES: '2000' });
  const base = fakes();
  const doc = new DlqFakeDynamo();
  const f: Fakes = { ...base, doc, io: { ...base.io, aws: { ...base.io.aws, doc: doc as never } } };
  const deps: ActivityDeps = { ...f.io, config };
  return {
    config,
    f,
    deps,
    activities: createActivities(config, f.io),
    dlqItem: (pk) => f.doc.item(config.tables.dlq, pk),
    entity: (table, id) => f.doc.item(config.tables.entities, entityKey(table, id)),
  };
}

/** A canonical change of one inventory row (as capture puts it on the stream). */
function change(p: { sku: string; onHand: number; lsn: number; op?: ChangeEvent['op'] }): ChangeEvent {
  const key = { sku: p.sku, warehouse_id: 1 };
  return {
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'inventory',
      lsn: `0/${p.lsn.toString(16).toUpperCase()}`,
      commitTs: new Date(1_790_000_000_000 + p.lsn).toISOString(),
      index: 0,
    },
    // An insert by default: an update of a key DynamoDB holds nothing of is read again from
    // PostgreSQL (no resurrection), which unit tests do not have.
    op: p.op ?? 'c',
    key,
    before: null,
    after: { ...key, on_hand: p.onHand, reserved: 0, low_stock_threshold: 5 },
  };
}

function record(
  data: string,
  seq: string,
  partitionKey = 'inventory:{"sku":"X","warehouse_id":1}',
): StreamRecord {
  return { sequenceNumber: seq, partitionKey, data, encoding: 'utf8', arrivalMs: 0 };
}

/** Parks a record as a shard reader would; returns its DLQ key. */
async function park(t: Setup, data: string, seq: string, extra: Partial<DeadLetter> = {}): Promise<string> {
  await t.activities.deadLetterRecords([
    {
      record: record(data, seq),
      shardId: SHARD,
      category: 'operator-skip',
      reason: 'skipped by ops',
      ...extra,
    },
  ]);
  return deadLetterKey(t.config.consumer, t.config.stream, SHARD, seq);
}

const who = { actor: 'alice', reason: 'ticket OPS-7' };
const published = (t: Setup) => t.f.events.accepted.filter((e) => !e.DetailType.startsWith('alert.'));
const lastAudit = (item: Record<string, unknown> | undefined) => (item?.audit as AuditEntry[]).at(-1)!;

describe('DLQ admin: list, get, discard (audit trail on the item)', () => {
  it('lists with filters and a cursor, never the raw record', async () => {
    const t = setup();
    const a = await park(t, 'not json', '101', { category: 'poison' });
    const b = await park(t, JSON.stringify(change({ sku: 'L-1', onHand: 1, lsn: 0x10 })), '102');
    const c = await park(t, 'x', '103', { category: 'poison' });
    const capture = captureDeadLetterKey('slot_a', '0/20', 1);
    await parkCaptureDeadLetter(t.deps, createAlertPublisher(t.deps), 'slot_a', {
      lsn: '0/20',
      index: 1,
      txId: 7,
      commitTs: new Date(0).toISOString(),
      schema: 'public',
      table: 'users',
      op: 'c',
      category: 'poison',
      reason: 'bad value',
      raw: Buffer.from('{}'),
    });

    const all = await listDeadLetters(t.deps, {});
    assert.deepEqual(all.items.map((i) => i.pk).sort(), [a, b, c, capture].sort());
    assert.equal(all.cursor, undefined);
    for (const i of all.items) {
      assert.equal((i as unknown as Record<string, unknown>).rawCiphertext, undefined, 'no raw data');
      assert.equal(i.status, 'PARKED');
    }
    const scan = t.f.doc.sent.find((s) => s.name === 'ScanCommand')!;
    assert.doesNotMatch(String(scan.input.ProjectionExpression), /raw/, 'raw is not even read');
    assert.ok(!Object.values(scan.input.ExpressionAttributeNames as object).includes('rawCiphertext'));

    const poison = await listDeadLetters(t.deps, { category: 'poison', source: 'shard' });
    assert.deepEqual(poison.items.map((i) => i.pk).sort(), [a, c].sort());
    assert.deepEqual(
      (await listDeadLetters(t.deps, { table: 'users' })).items.map((i) => i.pk),
      [capture],
    );
    assert.deepEqual(
      (await listDeadLetters(t.deps, { table: 'public.users' })).items.map((i) => i.pk),
      [capture],
    );
    assert.equal((await listDeadLetters(t.deps, { table: 'other.users' })).items.length, 0);
    assert.equal((await listDeadLetters(t.deps, { table: 'inventory' })).items.length, 3);
    assert.equal((await listDeadLetters(t.deps, { consumer: 'nobody' })).items.length, 0);
    assert.equal((await listDeadLetters(t.deps, { since: '2999-01-01T00:00:00Z' })).items.length, 0);
    assert.equal((await listDeadLetters(t.deps, { since: '2000-01-01T00:00:00+02:00' })).items.length, 4);
    assert.equal((await listDeadLetters(t.deps, { status: 'DISCARDED' })).items.length, 0);

    // Two at a time.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listDeadLetters(t.deps, {}, { limit: 2, ...(cursor ? { cursor } : {}) });
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((i) => i.pk));
      cursor = page.cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen.sort(), [a, b, c, capture].sort());
    assert.ok(pages >= 2);

    await assert.rejects(listDeadLetters(t.deps, { status: 'LOST' } as never), /status/);
    await assert.rejects(listDeadLetters(t.deps, { colour: 'red' } as never));
    await assert.rejects(listDeadLetters(t.deps, {}, { cursor: 'garbage' }), /invalid cursor/);
  });

  it('gets one with its raw record decrypted and its audit trail; discards PARKED ones only', async () => {
    const t = setup();
    const pk = await park(t, 'raw text of the record', '201');
    const got = (await getDeadLetter(t.deps, pk))!;
    assert.equal(got.raw?.text, 'raw text of the record');
    assert.equal(got.raw?.encoding, 'utf8');
    assert.equal(got.item.table, 'inventory');
    assert.equal(got.item.sequenceNumber, '201');
    assert.deepEqual(got.audit, []);
    assert.equal(await getDeadLetter(t.deps, 'SHARD#nope'), undefined);

    const out = await discardDeadLetters(t.deps, [pk, pk, 'SHARD#nope'], who);
    assert.deepEqual(out, [
      { pk, result: 'discarded' },
      { pk: 'SHARD#nope', result: 'not-found' },
    ]);
    const item = t.dlqItem(pk)!;
    assert.equal(item.status, 'DISCARDED');
    assert.ok(item.discardedAt);
    assert.deepEqual(
      (item.audit as AuditEntry[]).map((e) => [e.actor, e.action, e.reason, e.result]),
      [['alice', 'discard', 'ticket OPS-7', 'discarded']],
    );
    assert.deepEqual(await discardDeadLetters(t.deps, [pk], who), [
      { pk, result: 'not-parked', status: 'DISCARDED' },
    ]);
    assert.equal((t.dlqItem(pk)!.audit as AuditEntry[]).length, 1, 'a refused discard changes nothing');
    await assert.rejects(discardDeadLetters(t.deps, [pk], { actor: '', reason: 'x' }), /who acts/);
    assert.equal((await getDeadLetter(t.deps, pk))!.item.lastAction?.action, 'discard');
  });
});

describe('DLQ redrive activity', () => {
  it('redrives a parked change: applied, published, REDRIVEN with an audit entry', async () => {
    const t = setup();
    const pk = await park(t, JSON.stringify(change({ sku: 'R-1', onHand: 42, lsn: 0x100 })), '301');
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who, requestId: 'req-1' });
    assert.deepEqual([out.redriven, out.stale, out.failed, out.skipped], [1, 0, 0, 0]);
    assert.equal(out.outcomes[0].result, 'redriven');
    assert.doesNotMatch(JSON.stringify(out), /42/, 'no row values in the result');
    assert.equal((t.entity('inventory', 'R-1#1')!.row as { on_hand: number }).on_hand, 42);
    assert.equal(published(t).length, 1);
    assert.equal(published(t)[0].DetailType, 'inventory.created');
    const item = t.dlqItem(pk)!;
    assert.equal(item.status, 'REDRIVEN');
    assert.ok(item.redrivenAt);
    const audit = lastAudit(item);
    assert.deepEqual(
      [audit.actor, audit.action, audit.reason, audit.result, audit.requestId],
      ['alice', 'redrive', 'ticket OPS-7', 'redriven', 'req-1'],
    );
    assert.match(String(audit.detail), /applied 1/);

    // A retried activity (same request) reports what it did; another request is refused.
    const again = await t.activities.redriveDeadLetters({ pks: [pk], ...who, requestId: 'req-1' });
    assert.equal(again.outcomes[0].result, 'redriven');
    const other = await t.activities.redriveDeadLetters({ pks: [pk], ...who, requestId: 'req-2' });
    assert.deepEqual([other.skipped, other.outcomes[0].result], [1, 'not-parked']);
    assert.equal(published(t).length, 1, 'published once');
    assert.equal((t.dlqItem(pk)!.audit as AuditEntry[]).length, 1);
  });

  it('an older version than DynamoDB holds stays stale: nothing written or published, REDRIVEN (stale)', async () => {
    const t = setup();
    const newer = await park(t, JSON.stringify(change({ sku: 'S-1', onHand: 9, lsn: 0x300 })), '401');
    await t.activities.redriveDeadLetters({ pks: [newer], ...who });
    const older = await park(t, JSON.stringify(change({ sku: 'S-1', onHand: 1, lsn: 0x200 })), '402');
    const out = await t.activities.redriveDeadLetters({ pks: [older], ...who });
    assert.deepEqual([out.redriven, out.stale], [0, 1]);
    assert.equal((t.entity('inventory', 'S-1#1')!.row as { on_hand: number }).on_hand, 9, 'unchanged');
    assert.equal(published(t).length, 1, 'only the newer one was ever published');
    const item = t.dlqItem(older)!;
    assert.equal(item.status, 'REDRIVEN');
    assert.equal(lastAudit(item).result, 'stale');
  });

  it('publishes an item applied but never published (same version in DynamoDB)', async () => {
    const t = setup();
    const data = JSON.stringify(change({ sku: 'P-1', onHand: 5, lsn: 0x400 }));
    const first = await park(t, data, '501');
    await t.activities.redriveDeadLetters({ pks: [first], ...who });
    const pk = await park(t, data, '502', { appliedNotPublished: true });
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who });
    assert.equal(out.outcomes[0].result, 'redriven');
    assert.equal(published(t).length, 2);
  });

  it('a record that fails again stays PARKED with the new error and a failed audit entry', async () => {
    const t = setup();
    const pk = await park(t, 'still not json', '601');
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who, requestId: 'r' });
    assert.deepEqual([out.failed, out.outcomes[0].result], [1, 'failed']);
    const item = t.dlqItem(pk)!;
    assert.equal(item.status, 'PARKED');
    assert.match(String(item.reason), /^redrive failed: poison/);
    assert.equal(item.lastRedriveError, item.reason);
    assert.equal(item.category, 'poison');
    assert.equal(lastAudit(item).result, 'failed');
    // A retried activity of the same request does not add a second entry.
    await t.activities.redriveDeadLetters({ pks: [pk], ...who, requestId: 'r' });
    assert.equal((t.dlqItem(pk)!.audit as AuditEntry[]).length, 1);
  });

  it('a DynamoDB rejection of the item fails it; an outage throws (retried), the item untouched', async () => {
    const t = setup();
    const pk = await park(t, JSON.stringify(change({ sku: 'D-1', onHand: 5, lsn: 0x500 })), '701');
    t.f.doc.before = (c) => {
      if (c.name === 'PutCommand' && c.input.TableName === t.config.tables.entities)
        throw awsError('ValidationException', 'Item size has exceeded the maximum allowed size');
    };
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who });
    assert.equal(out.outcomes[0].result, 'failed');
    assert.match(String(t.dlqItem(pk)!.lastRedriveError), /DynamoDB: Item size/);
    assert.equal(t.dlqItem(pk)!.category, 'permanent');

    t.f.doc.before = (c) => {
      if (c.name === 'PutCommand') throw awsError('ServiceUnavailable');
    };
    const err = await t.activities.redriveDeadLetters({ pks: [pk], ...who }).catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'transient');
    assert.equal(t.dlqItem(pk)!.status, 'PARKED');
    assert.equal((t.dlqItem(pk)!.audit as AuditEntry[]).length, 1, 'only the earlier failure');

    t.f.doc.before = () => undefined;
    assert.equal((await t.activities.redriveDeadLetters({ pks: [pk], ...who })).redriven, 1);
  });

  it('an EventBridge rejection fails the item but remembers it was applied; the next redrive publishes it', async () => {
    const t = setup();
    const pk = await park(t, JSON.stringify(change({ sku: 'E-1', onHand: 5, lsn: 0x600 })), '801');
    t.f.events.failEntry = (e) => (e.DetailType.startsWith('alert.') ? undefined : 'MalformedDetail');
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who });
    assert.equal(out.outcomes[0].result, 'failed');
    const item = t.dlqItem(pk)!;
    assert.equal(item.status, 'PARKED');
    assert.equal(item.appliedNotPublished, true);
    assert.match(String(item.reason), /EventBridge: PutEvents MalformedDetail/);

    t.f.events.failEntry = () => undefined;
    const again = await t.activities.redriveDeadLetters({ pks: [pk], ...who });
    assert.equal(again.outcomes[0].result, 'redriven', 'published although DynamoDB already had it');
    assert.equal(published(t).length, 1);
    assert.deepEqual(
      (t.dlqItem(pk)!.audit as AuditEntry[]).map((e) => e.result),
      ['failed', 'redriven'],
    );
  });

  it('redrives a capture letter holding a change event; one holding an undecoded change fails clearly', async () => {
    const t = setup();
    const alerts = createAlertPublisher(t.deps);
    const base = {
      txId: 1,
      commitTs: new Date(1_790_000_000_000).toISOString(),
      schema: 'public',
      table: 'inventory',
      op: 'u' as const,
    };
    await parkCaptureDeadLetter(t.deps, alerts, 'slot_a', {
      ...base,
      lsn: '0/700',
      index: 0,
      category: 'permanent',
      reason: 'too large for Kinesis',
      raw: Buffer.from(JSON.stringify(change({ sku: 'C-1', onHand: 3, lsn: 0x700 }))),
      partitionKey: 'inventory:{"sku":"C-1","warehouse_id":1}',
    });
    await parkCaptureDeadLetter(t.deps, alerts, 'slot_a', {
      ...base,
      lsn: '0/701',
      index: 0,
      category: 'poison',
      reason: 'bad numeric',
      raw: Buffer.from(JSON.stringify({ source: {}, op: 'u', undecoded: true, columns: [] })),
    });
    const good = captureDeadLetterKey('slot_a', '0/700', 0);
    const bad = captureDeadLetterKey('slot_a', '0/701', 0);
    const out = await t.activities.redriveDeadLetters({ pks: [good, bad], ...who });
    assert.deepEqual(
      out.outcomes.map((o) => o.result),
      ['redriven', 'failed'],
    );
    assert.equal((t.entity('inventory', 'C-1#1')!.row as { on_hand: number }).on_hand, 3);
    assert.match(String(out.outcomes[1].reason), /could not decode this change/);
    assert.equal(t.dlqItem(bad)!.status, 'PARKED');
  });

  it('skips items that do not exist; lists PARKED keys for the workflow', async () => {
    const t = setup();
    const pk = await park(t, 'x', '901');
    const closed = await park(t, 'y', '902');
    await discardDeadLetters(t.deps, [closed], who);
    const out = await t.activities.redriveDeadLetters({ pks: ['SHARD#missing'], ...who });
    assert.deepEqual([out.skipped, out.outcomes[0].result], [1, 'not-found']);
    const page = await t.activities.listDeadLetterPks({ status: 'PARKED' }, undefined, 10);
    assert.deepEqual(page, { pks: [pk] });
    const err = await t.activities
      .listDeadLetterPks({ status: 'NOPE' } as never, undefined, 10)
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'configuration', 'an invalid filter is not retried');
  });
  it('an update of a key DynamoDB holds nothing of, or a letter past the redrive window, is read again from PostgreSQL, not replayed', async () => {
    const t = setup();
    let reads = 0;
    const deps = {
      ...t.f.io,
      pg: () => {
        reads++;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      },
    };
    const activities = createActivities(t.config, deps);
    const update = await park(
      t,
      JSON.stringify(change({ sku: 'N-1', onHand: 1, lsn: 0xa00, op: 'u' })),
      '1001',
    );
    await assert.rejects(activities.redriveDeadLetters({ pks: [update], ...who }), /ECONNREFUSED/);
    assert.equal(reads, 1, 'PostgreSQL asked for the row');
    assert.equal(t.entity('inventory', 'N-1#1'), undefined, 'the old image is not written');
    assert.equal(t.dlqItem(update)!.status, 'PARKED', 'retried (PostgreSQL down), the item untouched');

    // Past the window: even an insert is read again.
    const insert = await park(t, JSON.stringify(change({ sku: 'N-2', onHand: 1, lsn: 0xa01 })), '1002');
    t.f.doc.table(t.config.tables.dlq).get(insert)!.parkedAt = new Date(
      Date.now() - (t.config.deadLetters.redriveWindowDays + 1) * 86_400_000,
    ).toISOString();
    await assert.rejects(activities.redriveDeadLetters({ pks: [insert], ...who }), /ECONNREFUSED/);
    assert.equal(reads, 2);
    assert.equal(t.entity('inventory', 'N-2#1'), undefined);

    // An update of a key DynamoDB holds, within the window: replayed under the guard, no read.
    const held = await park(t, JSON.stringify(change({ sku: 'N-3', onHand: 1, lsn: 0xa02 })), '1003');
    await activities.redriveDeadLetters({ pks: [held], ...who });
    const next = await park(
      t,
      JSON.stringify(change({ sku: 'N-3', onHand: 2, lsn: 0xa03, op: 'u' })),
      '1004',
    );
    assert.equal((await activities.redriveDeadLetters({ pks: [next], ...who })).redriven, 1);
    assert.equal(reads, 2);
    assert.equal((t.entity('inventory', 'N-3#1')!.row as { on_hand: number }).on_hand, 2);
  });

  it('a letter of another consumer is left alone; a request for another consumer is refused', async () => {
    const t = setup();
    const other = { ...t.config, consumer: 'analytics', sink: 'analytics' as const };
    await createActivities(other, t.f.io).deadLetterRecords([
      {
        record: record(JSON.stringify(change({ sku: 'O-1', onHand: 1, lsn: 0xb00 })), '1101'),
        shardId: SHARD,
        category: 'poison',
        reason: 'x',
      },
    ]);
    const pk = deadLetterKey('analytics', t.config.stream, SHARD, '1101');
    const out = await t.activities.redriveDeadLetters({ pks: [pk], ...who });
    assert.deepEqual([out.skipped, out.outcomes[0].result], [1, 'other-consumer']);
    assert.match(String(out.outcomes[0].reason), /--consumer analytics/);
    assert.equal(t.dlqItem(pk)!.status, 'PARKED');
    assert.equal(t.entity('inventory', 'O-1#1'), undefined, 'never applied through this consumer’s sink');
    const err = await t.activities
      .redriveDeadLetters({ pks: [pk], ...who, consumer: 'analytics' })
      .catch((e: unknown) => e);
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'configuration', 'not retried: the workflow runs on the wrong task queue');
    const mine = await t.activities.listDeadLetterPks({ consumer: t.config.consumer }, undefined, 10);
    assert.deepEqual(mine.pks, []);
    const theirs = await t.activities.listDeadLetterPks({ consumer: 'analytics' }, undefined, 10);
    assert.deepEqual(theirs.pks, [pk]);
  });
});
