import assert from 'node:assert/strict';
import { createActivities } from '../../activities';
import {
  discardDeadLetters,
  getDeadLetter,
  listDeadLetters,
  type AuditEntry,
} from '../../activities/deadLetterAdmin';
import { defaultDeps, type ActivityDeps } from '../../activities/deps';
import type { ChangeEvent } from '../../domain/core/changeEvent';
import { deadLetterKey } from '../../domain/core/itemKeys';
import { tableRegistry, useTables } from '../../domain/core/tables';
import { eventRouting } from '../../infra/provisioning';
import { startRedrive } from '../../infra/redriveClient';
import { redriveWorkflowId } from '../../workflows/names';
import { redriveProgressQuery, redriveWorkflow, type RedriveProgress } from '../../workflows/redrive';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

const SHARD = 'shardId-000000000000';
const who = { actor: 'ops@example.com', reason: 'ticket OPS-11' };

/** A canonical change of a users row, as capture puts it on the stream. */
function userChange(id: number, lsn: number, email: string): ChangeEvent {
  return {
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'users',
      lsn: `0/${lsn.toString(16).toUpperCase()}`,
      commitTs: new Date(1_790_000_000_000 + lsn).toISOString(),
      index: 0,
    },
    op: 'u',
    key: { id },
    before: null,
    after: { id, email, status: 'active' },
  };
}

describe('DLQ redrive and discard on the stack', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;
  let deps: ActivityDeps;
  const base = Math.floor(Date.now() / 1000) % 1_000_000_000;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { shardCount: 1 });
    probe = probes(p);
    deps = defaultDeps(p.config);
    await waitFor('the shard reader to run', async () =>
      (await probe.allShardStatuses()).length === 1 ? true : undefined,
    );
  });
  after(async () => {
    await p?.stop();
  });

  /** Parks records directly, as a shard reader's skip would; returns their DLQ keys. */
  async function park(changes: { seq: string; data: string; partitionKey: string }[]): Promise<string[]> {
    await createActivities(p.config).deadLetterRecords(
      changes.map((c) => ({
        record: {
          sequenceNumber: c.seq,
          partitionKey: c.partitionKey,
          data: c.data,
          encoding: 'utf8',
          arrivalMs: 0,
        },
        shardId: SHARD,
        category: 'operator-skip',
        reason: 'skipped in a test',
      })),
    );
    return changes.map((c) => deadLetterKey(p.config.consumer, p.config.stream, SHARD, c.seq));
  }

  const usersQueue = () => eventRouting(p.config.eventBus).queues.wallboardUsers;
  const detailOf = (b: Record<string, unknown>) =>
    b.detail as { entityId: string; metadata: { version: string } };

  it('redrives a record parked for a missing table once the table is configured: DynamoDB and SQS get it', async () => {
    const id = base + 1;
    const full = tableRegistry();
    // The table file without `users`: its change is parked as 'configuration' (the shard moves on).
    useTables({ ...full, tables: new Map([...full.tables].filter(([name]) => name !== 'users')) });
    let parked: Record<string, unknown> | undefined;
    let at: { shardId: string; sequenceNumber: string };
    try {
      [at] = await probe.putRaw([
        {
          partitionKey: `users:{"id":${id}}`,
          data: JSON.stringify(userChange(id, 0x1000, 'first@example.com')),
        },
      ]);
      parked = await waitFor(
        'the configuration dead letter',
        () => probe.dlq(at.shardId, at.sequenceNumber),
        {
          timeoutMs: 60_000,
        },
      );
    } finally {
      useTables(full); // the operator adds the table to the file
    }
    assert.equal(parked.category, 'configuration');
    assert.match(String(parked.reason), /users/);
    assert.equal(await probe.entity('users', String(id)), undefined);

    const listed = await listDeadLetters(deps, {
      category: 'configuration',
      table: 'users',
      status: 'PARKED',
    });
    assert.deepEqual(
      listed.items.map((i) => i.pk),
      [parked.pk],
    );

    const handle = await startRedrive(p.client, p.config, {
      ids: [String(parked.pk)],
      ...who,
      requestId: `a-${id}`,
    });
    assert.equal(handle.workflowId, redriveWorkflowId(`a-${id}`));
    const progress = await handle.result();
    assert.deepEqual(
      [progress.state, progress.total, progress.done, progress.redriven, progress.failed],
      ['DONE', 1, 1, 1, 0],
    );
    const entity = await waitFor('the users row in DynamoDB', () => probe.entity('users', String(id)));
    assert.equal(entity.deleted, false);
    assert.notEqual((entity.row as { email: string }).email, 'first@example.com', 'redacted (PARTIAL_MASK)');
    await probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === String(id));

    const item = (await getDeadLetter(deps, String(parked.pk)))!;
    assert.equal(item.item.status, 'REDRIVEN');
    const audit = item.audit.at(-1)!;
    assert.deepEqual(
      [audit.actor, audit.action, audit.reason, audit.result, audit.requestId],
      [who.actor, 'redrive', who.reason, 'redriven', `a-${id}`],
    );
    const details = (await handle.describe()).raw.executionConfig?.userMetadata?.summary;
    assert.ok(details, 'the static summary names the redrive');
  });

  it('redriving an older version than DynamoDB holds stays stale: entity unchanged, nothing published', async () => {
    const id = base + 2;
    const newer = JSON.stringify(userChange(id, 0x3000, 'newer@example.com'));
    const older = JSON.stringify(userChange(id, 0x2000, 'older@example.com'));
    const partitionKey = `users:{"id":${id}}`;
    const [newPk] = await park([{ seq: `7${base}1`, data: newer, partitionKey }]);
    const first = await startRedrive(p.client, p.config, { ids: [newPk], ...who });
    assert.equal((await first.result()).redriven, 1);
    const held = await waitFor('the newer row', () => probe.entity('users', String(id)));
    await probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === String(id));

    const [oldPk] = await park([{ seq: `7${base}2`, data: older, partitionKey }]);
    // By filter this time: every PARKED operator-skip letter of users (only this one).
    const handle = await startRedrive(p.client, p.config, {
      filter: { table: 'users', category: 'operator-skip' },
      ...who,
    });
    const progress = await handle.result();
    assert.deepEqual([progress.total, progress.stale, progress.redriven], [1, 1, 0]);
    const now = (await probe.entity('users', String(id)))!;
    assert.equal(now.version, held.version, 'DynamoDB keeps the newer version');
    assert.deepEqual(now.row, held.row);
    const item = (await getDeadLetter(deps, oldPk))!;
    assert.equal(item.item.status, 'REDRIVEN');
    assert.equal(item.audit.at(-1)!.result, 'stale');
    await assert.rejects(
      probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === String(id), 6_000),
      /timed out/,
      'nothing published for the stale redrive',
    );
  });

  it('discards a parked letter: DISCARDED with the audit entry; a redrive of it is refused', async () => {
    const [pk] = await park([
      { seq: `8${base}`, data: 'not a change at all', partitionKey: 'users:{"id":0}' },
    ]);
    assert.deepEqual(await discardDeadLetters(deps, [pk], who), [{ pk, result: 'discarded' }]);
    const item = (await getDeadLetter(deps, pk))!;
    assert.equal(item.item.status, 'DISCARDED');
    assert.equal(item.raw?.text, 'not a change at all');
    const audit: AuditEntry = item.audit.at(-1)!;
    assert.deepEqual(
      [audit.actor, audit.action, audit.reason, audit.result],
      [who.actor, 'discard', who.reason, 'discarded'],
    );
    const handle = await startRedrive(p.client, p.config, { ids: [pk], ...who });
    const progress = await handle.result();
    assert.deepEqual([progress.skipped, progress.redriven], [1, 0]);
    assert.match(progress.failures[0].reason, /not-parked/);
    assert.equal((await getDeadLetter(deps, pk))!.item.status, 'DISCARDED');
  });

  it('a redrive of many items continues as new on the way, carrying its progress', async () => {
    const n = 24;
    const pks = await park(
      Array.from({ length: n }, (_, i) => {
        const id = base + 100 + i;
        return {
          seq: `9${base}${String(i).padStart(3, '0')}`,
          data: JSON.stringify(userChange(id, 0x5000 + i, `u${i}@example.com`)),
          partitionKey: `users:{"id":${id}}`,
        };
      }),
    );
    const requestId = `d-${base}`;
    // Started directly for a small history budget: the workflow continues as new on the way.
    const handle = await p.client.workflow.start(redriveWorkflow, {
      taskQueue: p.config.taskQueue,
      workflowId: redriveWorkflowId(requestId),
      args: [{ requestId, ids: pks, ...who, chunkSize: 2, maxHistoryEvents: 40 }],
    });
    const firstRun = handle.firstExecutionRunId;
    const early = await waitFor('the redrive to have started', async () => {
      const q = await handle.query(redriveProgressQuery);
      return q.done > 0 ? q : undefined;
    });
    assert.equal(early.state, 'RUNNING');
    const progress: RedriveProgress = await handle.result();
    assert.deepEqual([progress.state, progress.done, progress.redriven, progress.failed], ['DONE', n, n, 0]);
    for (const pk of pks) assert.equal((await getDeadLetter(deps, pk))!.item.status, 'REDRIVEN');
    assert.ok(await probe.entity('users', String(base + 100 + n - 1)));
    const last = p.client.workflow.getHandle(redriveWorkflowId(requestId));
    assert.notEqual((await last.describe()).runId, firstRun, 'continued as new');
  });
});
