import assert from 'node:assert/strict';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import { createActivities } from '../../activities';
import {
  discardDeadLetters,
  getDeadLetter,
  listDeadLetters,
  type AuditEntry,
} from '../../activities/deadLetterAdmin';
import { defaultDeps, type ActivityDeps } from '../../activities/deps';
import { redactEvents, redactionKeyOf, transformRecords } from '../../activities/processing';
import type { ChangeEvent } from '../../domain/core/changeEvent';
import { deadLetterKey } from '../../domain/core/itemKeys';
import { tableRegistry, useTables } from '../../domain/core/tables';
import type { PipelineConfig } from '../../infra/config';
import {
  ANALYTICS_CONSUMER,
  consumerConfig,
  deploymentConsumers,
  provisionConsumer,
} from '../../infra/consumers';
import { awsClients } from '../../infra/aws';
import { eventRouting } from '../../infra/provisioning';
import { startRedrive } from '../../infra/redriveClient';
import { createWorker } from '../../workers/worker';
import { redriveWorkflowId, reservationExpiryWorkflowId } from '../../workflows/names';
import { redriveProgressQuery, redriveWorkflow, type RedriveProgress } from '../../workflows/redrive';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

const SHARD = 'shardId-000000000000';
const who = { actor: 'ops@example.com', reason: 'ticket OPS-11' };

/** A canonical change of a users row, as capture puts it on the stream. */
function userChange(
  id: number | string,
  lsn: number,
  email: string,
  op: ChangeEvent['op'] = 'c',
): ChangeEvent {
  return {
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'users',
      lsn: `0/${lsn.toString(16).toUpperCase()}`,
      commitTs: new Date(1_790_000_000_000 + lsn).toISOString(),
      index: 0,
    },
    op,
    key: { id },
    before: null,
    after: { id, email, status: 'active' },
  };
}

/** A canonical change of a reservations row (a hold), as capture puts it on the stream. */
function holdChange(id: string, lsn: number, status: string): ChangeEvent {
  const at = new Date(1_790_000_000_000 + lsn).toISOString();
  return {
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'reservations',
      lsn: `0/${lsn.toString(16).toUpperCase()}`,
      commitTs: at,
      index: 0,
    },
    op: 'u',
    key: { reservation_id: id },
    before: null,
    after: {
      reservation_id: id,
      sku: `${id}-SKU`,
      warehouse_id: 1,
      order_id: null,
      quantity: 2,
      status,
      // Due long after the test: the expiry workflow only waits.
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      created_at: at,
      updated_at: at,
    },
  };
}

describe('DLQ redrive and discard on the stack', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;
  let deps: ActivityDeps;
  let analytics: PipelineConfig;
  let analyticsWorker: Worker | undefined;
  let analyticsRunning: Promise<void> | undefined;
  const base = Math.floor(Date.now() / 1000) % 1_000_000_000;

  before(async function () {
    this.timeout(240_000);
    // Reservation expiry on: a redriven hold must reach its expiry workflow (its holds are synthetic,
    // due tomorrow, and terminated with the pipeline).
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { shardCount: 1, reservationExpiry: true });
    probe = probes(p);
    deps = defaultDeps(p.config);
    // The analytics consumer's worker (no shard readers: only its redrives run there), with a
    // database of its own.
    const consumer = deploymentConsumers(p.config).find((c) => c.name === ANALYTICS_CONSUMER)!;
    analytics = { ...consumerConfig(p.config, consumer), analyticsDatabase: `analytics_rd${base}` };
    await provisionConsumer(analytics);
    analyticsWorker = await createWorker({ config: analytics });
    analyticsRunning = analyticsWorker.run();
    await waitFor('the shard reader to run', async () =>
      (await probe.allShardStatuses()).length === 1 ? true : undefined,
    );
  });
  after(async () => {
    analyticsWorker?.shutdown();
    await analyticsRunning?.catch(() => undefined);
    await p?.stop();
    const admin = new PgClient({ database: 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "analytics_rd${base}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  });

  /** Parks records directly, as a shard reader's skip would (of `config`'s consumer); returns their DLQ keys. */
  async function park(
    changes: { seq: string; data: string; partitionKey: string }[],
    opts: { config?: PipelineConfig; appliedNotPublished?: true } = {},
  ): Promise<string[]> {
    const config = opts.config ?? p.config;
    await createActivities(config).deadLetterRecords(
      changes.map((c) => ({
        record: {
          sequenceNumber: c.seq,
          partitionKey: c.partitionKey,
          data: c.data,
          encoding: 'utf8',
          arrivalMs: 0,
        },
        shardId: SHARD,
        category: 'operator-skip' as const,
        reason: 'skipped in a test',
        ...(opts.appliedNotPublished ? { appliedNotPublished: true as const } : {}),
      })),
    );
    return changes.map((c) => deadLetterKey(config.consumer, config.stream, SHARD, c.seq));
  }

  /** The events the pipeline makes of a record (transformed and redacted), as a shard reader would. */
  function eventsOf(data: string, seq: string, partitionKey: string) {
    const out = transformRecords({
      shardId: SHARD,
      records: [{ sequenceNumber: seq, partitionKey, data, encoding: 'utf8', arrivalMs: 0 }],
    });
    assert.equal(out.deadLetters.length, 0);
    return redactEvents(out.events, redactionKeyOf(p.config));
  }

  const usersQueue = () => eventRouting(p.config.eventBus).queues.wallboardUsers;
  const detailOf = (b: Record<string, unknown>) =>
    b.detail as { entityId: string; metadata: { version: string } };

  let markers = 0;
  /**
   * Nothing (more) published for `entityId`: a marker letter (a users row of its own) is redriven
   * after what is checked, and the users queue is read up to the marker's event; none of the
   * messages before it may be of `entityId`. The redrive checked has finished, so anything it
   * published went to EventBridge before the marker did.
   */
  async function nothingPublishedFor(entityId: string): Promise<void> {
    const markerId = `rd-marker-${base}-${++markers}`;
    const data = JSON.stringify(userChange(markerId, 0x100 + markers, `${markerId}@example.com`));
    const [pk] = await park([
      { seq: `4${base}${markers}`, data, partitionKey: `users:{"id":"${markerId}"}` },
    ]);
    const marker = await (await startRedrive(p.client, p.config, { ids: [pk], ...who })).result();
    assert.equal(marker.redriven, 1, 'the marker letter is redriven');
    const heard: string[] = [];
    await probe.receiveUntil(usersQueue(), (b) => {
      if (detailOf(b).entityId === entityId) heard.push(String(b['detail-type']));
      return detailOf(b).entityId === markerId;
    });
    assert.deepEqual(heard, [], `published for ${entityId} before the marker`);
  }

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
      consumer: p.config.consumer,
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
    const older = JSON.stringify(userChange(id, 0x2000, 'older@example.com', 'u'));
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
    // Nothing published for the stale redrive.
    await nothingPublishedFor(String(id));
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
  it('a HELD hold applied but never published: the redrive publishes it and starts its expiry workflow, although DynamoDB has it', async () => {
    const id = `rd-hold-${base}`;
    const data = JSON.stringify(holdChange(id, 0x6000, 'HELD'));
    const partitionKey = `reservations:{"reservation_id":"${id}"}`;
    const seq = `5${base}1`;
    // DynamoDB already holds this very version (the apply step ran; the record was skipped after it).
    const applied = await createActivities(p.config).applyEvents(eventsOf(data, seq, partitionKey));
    assert.equal(applied.applied, 1);
    const [pk] = await park([{ seq, data, partitionKey }], { appliedNotPublished: true });
    const progress = await (await startRedrive(p.client, p.config, { ids: [pk], ...who })).result();
    assert.deepEqual([progress.redriven, progress.stale, progress.failed], [1, 0, 0]);
    const queue = eventRouting(p.config.eventBus).queues.inventory;
    const heard = await probe.receiveUntil(queue, (b) => detailOf(b).entityId === id);
    assert.equal(heard['detail-type'], 'reservation.updated');
    const expiry = p.client.workflow.getHandle(reservationExpiryWorkflowId(id));
    const described = await waitFor('the hold’s reservation-expiry workflow', () =>
      expiry.describe().catch(() => undefined),
    );
    assert.equal(described.status.name, 'RUNNING');
    assert.equal((await getDeadLetter(deps, pk))!.item.status, 'REDRIVEN');
  });

  it('an analytics letter is redriven by the analytics consumer: into its database, not DynamoDB', async () => {
    const id = `rd-an-${base}`;
    const data = JSON.stringify(userChange(id, 0x7000, 'analytics@example.com'));
    const partitionKey = `users:{"id":"${id}"}`;
    const seq = `6${base}1`;
    const [pk] = await park([{ seq, data, partitionKey }], { config: analytics });
    assert.equal((await getDeadLetter(deps, pk))!.item.consumer, ANALYTICS_CONSUMER);
    const handle = await startRedrive(p.client, p.config, { ids: [pk], ...who });
    const progress = await handle.result();
    assert.deepEqual([progress.redriven, progress.stale, progress.failed, progress.skipped], [1, 0, 0, 0]);
    assert.equal((await handle.describe()).taskQueue, analytics.taskQueue, 'on the analytics task queue');
    const [event] = eventsOf(data, seq, partitionKey);
    const db = new PgClient({ database: analytics.analyticsDatabase });
    await db.connect();
    try {
      const rows = await db.query('SELECT operation FROM cdc_changes WHERE event_id = $1', [event!.eventId]);
      assert.deepEqual(rows.rows, [{ operation: 'INSERT' }], 'the change is in the analytics database');
    } finally {
      await db.end();
    }
    assert.equal(await probe.entity('users', id), undefined, 'never applied to DynamoDB');
    const item = (await getDeadLetter(deps, pk))!;
    assert.equal(item.item.status, 'REDRIVEN');
    assert.equal(item.audit.at(-1)!.result, 'redriven', 'not a stale DynamoDB no-op');
  });

  it('refuses a selection that mixes consumers; --consumer narrows a filter to one', async () => {
    const id = `rd-mix-${base}`;
    const partitionKey = `users:{"id":"${id}"}`;
    const data = JSON.stringify(userChange(id, 0x8000, 'mix@example.com'));
    const [mine] = await park([{ seq: `7${base}9`, data, partitionKey }]);
    const [theirs] = await park([{ seq: `7${base}9`, data, partitionKey }], { config: analytics });
    await assert.rejects(
      startRedrive(p.client, p.config, { ids: [mine!, theirs!], ...who }),
      /more than one consumer/,
    );
    await assert.rejects(
      startRedrive(p.client, p.config, { ids: [mine!, theirs!], consumer: ANALYTICS_CONSUMER, ...who }),
      /belong/,
    );
    const since = new Date(Date.now() - 60_000).toISOString();
    await assert.rejects(
      startRedrive(p.client, p.config, { filter: { table: 'users', since }, ...who }),
      /more than one consumer/,
    );
    for (const pk of [mine!, theirs!]) assert.equal((await getDeadLetter(deps, pk))!.item.status, 'PARKED');
    const progress = await (
      await startRedrive(p.client, p.config, {
        filter: { table: 'users', since },
        consumer: ANALYTICS_CONSUMER,
        ...who,
      })
    ).result();
    assert.deepEqual([progress.total, progress.redriven], [1, 1]);
    assert.equal((await getDeadLetter(deps, theirs!))!.item.status, 'REDRIVEN');
    assert.equal((await getDeadLetter(deps, mine!))!.item.status, 'PARKED');
    await discardDeadLetters(deps, [mine!], who);
  });

  it('a letter older than the redrive window whose tombstone expired: re-read from PostgreSQL, the deleted row stays deleted', async () => {
    // The row was deleted in PostgreSQL long ago and its tombstone has expired: neither has it.
    const id = `rd-gone-${base}`;
    const partitionKey = `users:{"id":"${id}"}`;
    const data = JSON.stringify(userChange(id, 0x9000, 'gone@example.com', 'u'));
    const [pk] = await park([{ seq: `8${base}1`, data, partitionKey }]);
    const fresh = (await getDeadLetter(deps, pk))!;
    const ttl = (
      await deps.aws.doc.send(
        new UpdateCommand({
          TableName: p.config.tables.dlq,
          Key: { pk },
          UpdateExpression: 'SET parkedAt = :old',
          ExpressionAttributeValues: {
            ':old': new Date(
              Date.now() - (p.config.deadLetters.redriveWindowDays + 3) * 86_400_000,
            ).toISOString(),
          },
          ReturnValues: 'ALL_OLD',
        }),
      )
    ).Attributes?.ttl;
    const windowEnd =
      Date.parse(fresh.item.parkedAt) / 1000 + p.config.deadLetters.redriveWindowDays * 86_400;
    assert.ok(
      typeof ttl === 'number' && Math.abs(ttl - windowEnd) < 5,
      `a letter carries the TTL of the window (${String(ttl)})`,
    );
    assert.equal(await probe.entity('users', id), undefined);

    const progress = await (await startRedrive(p.client, p.config, { ids: [pk], ...who })).result();
    assert.deepEqual([progress.redriven, progress.failed], [1, 0], JSON.stringify(progress.failures));
    const entity = (await probe.entity('users', id))!;
    assert.equal(entity.deleted, true, 'a tombstone, no live row');
    assert.equal(entity.row, undefined);
    const heard = await probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === id);
    assert.equal(heard['detail-type'], 'user.deleted', 'published as deleted, never as created or updated');
    // Once: no second event of it.
    await nothingPublishedFor(id);
    const audit = (await getDeadLetter(deps, pk))!.audit.at(-1)!;
    assert.match(String(audit.detail), /PostgreSQL/);
  });

  it('a change of a key DynamoDB has nothing of: the current row is read from PostgreSQL and published as a snapshot', async () => {
    const id = `rd-here-${base}`;
    await p.pg.query(`INSERT INTO users (id, email, status) VALUES ($1, $2, 'active')`, [
      id,
      `now.${id}@example.com`,
    ]);
    try {
      const live = await waitFor('the captured row in DynamoDB', () => probe.entity('users', id), {
        timeoutMs: 60_000,
      });
      await probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === id);
      // What DynamoDB held is gone (an expired tombstone would look the same): the guard has nothing to compare with.
      await awsClients().doc.send(
        new DeleteCommand({ TableName: p.config.tables.entities, Key: { pk: `users#${id}` } }),
      );
      const partitionKey = `users:{"id":"${id}"}`;
      const data = JSON.stringify(userChange(id, 0x100, 'an-old-image@example.com', 'u'));
      const [pk] = await park([{ seq: `8${base}2`, data, partitionKey }]);
      const progress = await (await startRedrive(p.client, p.config, { ids: [pk], ...who })).result();
      assert.deepEqual([progress.redriven, progress.failed], [1, 0], JSON.stringify(progress.failures));
      const now = (await probe.entity('users', id))!;
      assert.equal(now.deleted, false);
      assert.deepEqual(now.row, live.row, 'the current row, not the old image');
      const heard = await probe.receiveUntil(usersQueue(), (b) => detailOf(b).entityId === id);
      assert.equal(heard['detail-type'], 'user.snapshot');
    } finally {
      await p.pg.query('DELETE FROM users WHERE id = $1', [id]);
    }
  });
});
