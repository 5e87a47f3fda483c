import { awsClients } from '../../infra/aws';
import { readDeadLetterRaw } from '../../activities/deadLetters';
import { keyringFromEnv } from '../../infra/codec/keyring';
import assert from 'node:assert/strict';
import { eventRouting } from '../../infra/provisioning';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';
import { SA } from '../../workflows/names';

const unique = () =>
  `T${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toUpperCase();

describe('shard reader on the real dev server', function () {
  this.timeout(240_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;

  before(async function () {
    this.timeout(240_000);
    // A low continue-as-new threshold, so the tests below also run across several runs.
    p = await startTestPipeline({ maxHistoryEvents: 200, idleWaitMs: 1_000 }, { eventBridgeOutage: true });
    probe = probes(p);
    await waitFor('shard readers to run', async () =>
      (await probe.allShardStatuses()).length === 2 ? true : undefined,
    );
  });
  after(async () => {
    await p?.stop();
  });

  it('dead-letters poison records (and one for an unconfigured table) with a reason and keeps the shard moving', async () => {
    const sku = unique();
    const pk = `inventory:${sku}`;
    const [notJson, unknownShape, unknownTable] = await probe.putRaw([
      { partitionKey: pk, data: 'not json at all' },
      { partitionKey: pk, data: JSON.stringify({ foo: 1, bar: 2 }) },
      {
        partitionKey: pk,
        data: JSON.stringify({
          tableName: 'widgets',
          operation: 'INSERT',
          beforeImage: null,
          afterImage: { id: 1 },
          timestamp: new Date().toISOString(),
        }),
      },
      {
        partitionKey: pk,
        data: JSON.stringify({ op: 'INSERT', sku, wh: 7, qty: 42, ts: new Date().toISOString() }),
      },
    ]);
    const item = await waitFor('the good record after the poison ones to be applied', () =>
      probe.entity('inventory', `${sku}#7`),
    );
    assert.equal(item.row.on_hand, 42);
    const letters = await Promise.all(
      [notJson, unknownShape, unknownTable].map((r) => probe.dlq(r.shardId, r.sequenceNumber)),
    );
    assert.deepEqual(
      letters.map((l) => [l?.category, l?.status]),
      [
        ['poison', 'PARKED'],
        ['poison', 'PARKED'],
        // A table the table file does not list is a configuration error in every format (issue 23).
        ['configuration', 'PARKED'],
      ],
    );
    assert.match(String(letters[0]?.reason), /^not JSON/);
    assert.match(String(letters[1]?.reason), /unrecognised record format: has keys \[foo, bar\]/);
    assert.match(String(letters[2]?.reason), /widgets.*not configured/);
    assert.equal(letters[0]?.raw, undefined, 'no plaintext at rest');
    const kept = await readDeadLetterRaw({ aws: awsClients(), keyring: keyringFromEnv() }, letters[0]!);
    assert.equal(
      kept.bytes.toString('utf8'),
      'not json at all',
      'the raw record is kept (encrypted) for redrive',
    );
    const alert = await probe.receiveUntil(
      eventRouting(p.config.eventBus).queues.alerts,
      (b) =>
        b['detail-type'] === 'alert.dead_letter' &&
        (b.detail as { details: { sequenceNumber: string } }).details.sequenceNumber ===
          notJson.sequenceNumber,
    );
    assert.equal((alert.detail as { kind: string }).kind, 'DEAD_LETTER');
  });

  it('dead-letters a change for an unconfigured table as a configuration error', async () => {
    const [rec] = await probe.putRaw([
      {
        partitionKey: 'nope:1',
        data: JSON.stringify({
          source: {
            db: 'inventory',
            schema: 'public',
            table: 'nope',
            lsn: '0/1',
            commitTs: new Date().toISOString(),
            index: 0,
          },
          op: 'c',
          key: { id: 1 },
          before: null,
          after: { id: 1 },
        }),
      },
    ]);
    const letter = await waitFor('the dead letter', () => probe.dlq(rec.shardId, rec.sequenceNumber));
    assert.equal(letter.category, 'configuration');
    assert.match(String(letter.reason), /table 'nope' is not configured/);
  });

  it('goes STUCK while EventBridge is down, shows the record in trouble, and recovers by itself', async () => {
    const sku = unique();
    await p.eventBridge!.down(); // EventBridge down for this pipeline only
    try {
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 3, 50)', [sku]);
      const stuck = await waitFor(
        'a shard to show STUCK',
        async () => (await probe.allShardStatuses()).find((s) => s.state === 'STUCK'),
        { timeoutMs: 60_000 },
      );
      assert.equal(stuck.lastError?.step, 'publish', stuck.lastError?.message);
      assert.equal(stuck.lastError?.category, 'transient', stuck.lastError?.message);
      assert.equal(stuck.trouble?.table, 'inventory');
      assert.equal(stuck.trouble?.entityId, `${sku}#3`);
      const meta = await probe
        .shardHandle(stuck.shardId)
        .query<{ currentDetails: string }>('__temporal_workflow_metadata');
      assert.match(meta.currentDetails, /\*\*STUCK\*\* in `publish`/);
      assert.match(meta.currentDetails, new RegExp(`${sku}#3`));
      const described = await probe.shardHandle(stuck.shardId).describe();
      assert.equal(described.typedSearchAttributes.get(SA.state), 'STUCK');
    } finally {
      await p.eventBridge!.up();
    }
    await probe.receiveUntil(
      eventRouting(p.config.eventBus).queues.inventory,
      (b) => (b.detail as { entityId: string }).entityId === `${sku}#3`,
      60_000,
    );
    await waitFor('every shard out of STUCK', async () =>
      (await probe.allShardStatuses()).every((s) => s.state !== 'STUCK') ? true : undefined,
    );
  });

  it('skips the record in trouble to the DLQ with the operator’s reason', async () => {
    const sku = unique();
    await p.eventBridge!.down(); // EventBridge down for this pipeline only
    let skipped: { shardId: string; sequenceNumber: string };
    try {
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 4, 5)', [sku]);
      const stuck = await waitFor(
        'the shard with the new row to be STUCK',
        async () =>
          (await probe.allShardStatuses()).find(
            (s) => s.state === 'STUCK' && s.trouble?.entityId === `${sku}#4`,
          ),
        { timeoutMs: 60_000 },
      );
      skipped = { shardId: stuck.shardId, sequenceNumber: stuck.trouble!.sequenceNumber };
      await probe
        .shardHandle(stuck.shardId)
        .signal('skipRecord', { sequenceNumber: skipped.sequenceNumber, reason: 'ops ticket 42' });
      const letter = await waitFor('the skipped record in the DLQ', () =>
        probe.dlq(skipped.shardId, skipped.sequenceNumber),
      );
      assert.equal(letter.category, 'operator-skip');
      assert.equal(letter.reason, 'ops ticket 42');
    } finally {
      await p.eventBridge!.up();
    }
    const status = await waitFor('the shard to move past the skipped record', async () => {
      const s = await probe.shardStatus(skipped.shardId);
      return s.counters.skipped === 1 &&
        s.checkpoint &&
        BigInt(s.checkpoint) >= BigInt(skipped.sequenceNumber)
        ? s
        : undefined;
    });
    assert.ok(
      BigInt(status.checkpoint!) >= BigInt(skipped.sequenceNumber),
      'the checkpoint moved past the skipped record',
    );
  });

  it('an older change of a key that arrives after a newer one is neither applied nor published', async () => {
    const sku = unique();
    const pk = `inventory:${sku}`;
    const change = (lsn: string, onHand: number) =>
      JSON.stringify({
        source: {
          db: 'inventory',
          schema: 'public',
          table: 'inventory',
          lsn,
          commitTs: new Date().toISOString(),
          index: 0,
        },
        op: 'u',
        key: { sku, warehouse_id: 3 },
        before: null,
        after: { sku, warehouse_id: 3, on_hand: onHand, reserved: 0 },
      });
    // Newer first, then the older one, then a marker: one key, one shard, in this order.
    const [newer, older, marker] = await probe.putRaw([
      { partitionKey: pk, data: change('7/200', 20) },
      { partitionKey: pk, data: change('7/100', 10) },
      { partitionKey: pk, data: change('7/300', 30) },
    ]);
    const queue = eventRouting(p.config.eventBus).queues.inventory;
    const seen: number[] = [];
    await probe.receiveUntil(queue, (b) => {
      const d = b.detail as { entityId: string; changes: { on_hand?: { new: number } } };
      if (d.entityId !== `${sku}#3`) return false;
      seen.push(Number(d.changes.on_hand?.new));
      return d.changes.on_hand?.new === 30;
    });
    // The marker comes after both on the same key: whatever was published of them is in `seen`.
    assert.deepEqual(seen, [20, 30], 'consumers never hear the old state after the new one');
    const status = await probe.shardStatus(older.shardId);
    assert.ok((status.counters.outdated ?? 0) >= 1, 'counted as outdated in the status');
    assert.equal(newer.shardId, marker.shardId);
  });

  it('keeps a pause across a worker restart and applies nothing until resumed', async () => {
    const sku = unique();
    await probe.supervisor().signal('pause', { reason: 'maintenance window' });
    await waitFor('every shard PAUSED', async () =>
      (await probe.allShardStatuses()).every(
        (s) => s.state === 'PAUSED' && s.pausedReason === 'maintenance window',
      )
        ? true
        : undefined,
    );
    await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 5, 9)', [sku]);
    await p.restartWorker();
    // The shard readers had their chance: the row is on the stream, and after that every reader ran
    // a workflow task on the new worker (a second pause, its reason shown). A reader that lost its
    // pause would have pulled it then: a pull running, or the row applied.
    await waitFor('the row on the stream', async () =>
      (await probe.streamContains(sku)) ? true : undefined,
    );
    await probe.supervisor().signal('pause', { reason: 'maintenance window, after the restart' });
    const statuses = await waitFor(
      'every shard reader to handle the second pause on the new worker',
      async () => {
        const all = await probe.allShardStatuses();
        return all.every((s) => s.pausedReason === 'maintenance window, after the restart') ? all : undefined;
      },
    );
    assert.ok(
      statuses.every((s) => s.state === 'PAUSED'),
      'still paused after the worker restart',
    );
    for (const s of statuses) {
      const pending = (await probe.shardHandle(s.shardId).describe()).raw.pendingActivities ?? [];
      assert.deepEqual(
        pending.map((a) => a.activityType?.name),
        [],
        `${s.shardId}: no activity runs while paused`,
      );
    }
    assert.equal(await probe.entity('inventory', `${sku}#5`), undefined, 'nothing is applied while paused');
    await probe.supervisor().signal('resume');
    const item = await waitFor('the row after resume', () => probe.entity('inventory', `${sku}#5`));
    assert.equal(item.row.on_hand, 9);
  });

  it('continues as new under a lowered threshold, carrying checkpoint and counters', async () => {
    const sku = unique();
    for (let i = 1; i <= 25; i++) {
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, $2, $2)', [sku, i]);
    }
    await waitFor('all 25 rows', async () =>
      (await probe.entity('inventory', `${sku}#25`)) ? true : undefined,
    );
    for (const s of await probe.allShardStatuses()) {
      const handle = probe.shardHandle(s.shardId);
      let seen = '';
      const d = await waitFor(
        `${s.shardId} to continue as new`,
        async () => {
          const desc = await handle.describe();
          seen = `history ${desc.historyLength}, run ${desc.runId}, first ${desc.raw.workflowExecutionInfo?.firstRunId}`;
          const first = desc.raw.workflowExecutionInfo?.firstRunId;
          assert.ok(first, 'the server reports the first run id');
          return desc.runId !== first ? desc : undefined;
        },
        { lastSeen: () => seen },
      );
      assert.ok(d.historyLength <= 200 + 50, 'history stays bounded by the lowered threshold');
      const after = await probe.shardStatus(s.shardId);
      assert.ok(
        after.counters.records > 0 && after.checkpoint,
        'checkpoint and counters carried across runs',
      );
    }
    for (let i = 1; i <= 25; i++) {
      assert.equal((await probe.entity('inventory', `${sku}#${i}`))?.row.on_hand, i);
    }
  });
});
