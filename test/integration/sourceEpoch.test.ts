/**
 * Versions survive a new timeline (issue 19, item 4). The pipeline captures from the stack's
 * PostgreSQL, then is switched, as at a failover, to a second cluster made with `initdb` whose
 * LSNs start below the first one's. A change of a key DynamoDB already holds at a higher LSN from
 * the first cluster must be applied and published: capture sees another system identifier and
 * starts a new source epoch, which orders before the LSN in the version.
 *
 * Self-contained: its own cluster (free port, temporary directory, stopped in `after`), and its
 * own stream, tables, bus, queues, slot and task queue, served by a worker of its own whose
 * PostgreSQL connections go where `target.port` says: switching that port is the failover (the
 * pipeline's PostgreSQL endpoint now resolves to the new primary).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteStreamCommand } from '@aws-sdk/client-kinesis';
import type { Client as TemporalClient } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { Client as PgClient, type ClientConfig } from 'pg';
import { createActivities } from '../../activities';
import { defaultDeps } from '../../activities/deps';
import type { ChunkWatermark, SnapshotChunkInput, SnapshotChunkResult } from '../../domain/backfill/chunks';
import { lsnToBigInt } from '../../domain/core/lsn';
import { parseVersion } from '../../domain/processing/version';
import { awsClients } from '../../infra/aws';
import { configToEnv, loadConfig, type PipelineConfig } from '../../infra/config';
import { startPipeline } from '../../infra/pipelineClient';
import {
  deprovisionDeadLetters,
  deprovisionEvents,
  eventRouting,
  provisionAll,
  provisionDemoSchema,
} from '../../infra/provisioning';
import { temporalClient, workerConnection } from '../../infra/temporal';
import { applyLocalStackEnv, ROOT, stackUp } from '../../infra/localStack/localStack';
import { healthQuery, type CaptureStatus } from '../../workflows/capture';
import { captureWorkflowId } from '../../workflows/names';
import { startTestCluster, type TestCluster } from '../support/pgCluster';
import { probes } from '../support/pipelineProbes';
import type { TestPipeline } from '../support/testPipeline';
import { installTestRuntime } from '../support/testRuntime';
import { waitFor } from '../support/waitFor';

/** A second PostgreSQL cluster (initdb in a temporary directory, wal_level=logical) on a free port. */
function startSecondCluster(): Promise<TestCluster> {
  return startTestCluster({
    prefix: 'cdc-epoch-pg-',
    settings: () => [
      '-c listen_addresses=127.0.0.1',
      '-c wal_level=logical',
      '-c max_replication_slots=4',
      '-c max_wal_senders=4',
    ],
  });
}

/** `cdc --json provision` as the operator runs it, with PG* pointing at `port`. */
async function cdcProvision(
  config: PipelineConfig,
  port: number,
  args: string[] = [],
): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/index.ts', '--json', 'provision', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...configToEnv(config), PGPORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, `cdc provision failed: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('source epoch: versions survive a new timeline (a second PostgreSQL cluster)', function () {
  this.timeout(300_000);
  const id = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
  const sku = `EPOCH-${id}`.toUpperCase();
  let config: PipelineConfig;
  let second: { port: number; stop(): void } | undefined;
  /** Where the pipeline's PostgreSQL connections go: the failover switches it. */
  const target = { port: 0 };
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let client: TemporalClient | undefined;
  let first: PgClient | undefined;
  let probe: ReturnType<typeof probes>;

  /** The activities' I/O: the process's AWS clients, PostgreSQL at `port` (default: where `target` says). */
  const ioFor = (port: number | undefined) => {
    const base = defaultDeps(config);
    return {
      get keyring() {
        return base.keyring;
      },
      aws: base.aws,
      pg: (options?: { replication: 'database'; options?: string }) =>
        new PgClient({ ...(options as ClientConfig | undefined), port: port ?? target.port }),
    };
  };

  before(async function () {
    this.timeout(240_000);
    installTestRuntime();
    await stackUp();
    applyLocalStackEnv();
    target.port = Number(process.env.PGPORT);
    config = loadConfig({
      ...process.env,
      CDC_STREAM: `cdc-epoch-${id}`,
      CDC_CONSUMER: 'test',
      CDC_TASK_QUEUE: `cdc-epoch-${id}`,
      CDC_STATE_TABLE: `cdc_state_${id}`,
      CDC_ENTITIES_TABLE: `cdc_entities_${id}`,
      CDC_INVENTORY_TABLE: `inventory_realtime_${id}`,
      CDC_DLQ_TABLE: `cdc_dlq_${id}`,
      CDC_EVENT_BUS: `cdc-epoch-${id}`,
      CDC_SLOT: `cdc_epoch_${id}`,
      CDC_PUBLICATION: `cdc_epoch_${id}`,
      CDC_SHARD_COUNT: '1',
      CDC_RESERVATION_EXPIRY: 'off',
    });
    second = await startSecondCluster();
    await provisionAll(config); // the stack's PostgreSQL: the first primary
    const io = ioFor(undefined);
    const { connection, namespace, dataConverter } = await workerConnection();
    worker = await Worker.create({
      connection,
      namespace,
      dataConverter,
      taskQueue: config.taskQueue,
      workflowsPath: require.resolve('../../workflows'),
      activities: createActivities(config, io),
    });
    running = worker.run();
    client = await temporalClient();
    await startPipeline(client, config, {
      settings: { idleWaitMs: 1_000 },
      rescanSeconds: 2,
      capture: { healthSeconds: 1 },
    });
    first = new PgClient();
    await first.connect();
    probe = probes({ config, client } as TestPipeline);
  });

  after(async function () {
    this.timeout(120_000);
    if (client) {
      const query = `TaskQueue = '${config.taskQueue}' AND ExecutionStatus = 'Running'`;
      for await (const wf of client.workflow.list({ query }))
        await client.workflow
          .getHandle(wf.workflowId)
          .terminate('test finished')
          .catch(() => undefined);
    }
    worker?.shutdown();
    await running?.catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    // The slot on both clusters (once capture let it go), the publication on the first.
    const dropSlot = async (c: PgClient) =>
      waitFor(
        `slot ${config.slot} released`,
        async () => {
          await c.query(
            'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
            [config.slot],
          );
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    if (first) {
      await dropSlot(first).catch(() => undefined);
      await first.query(`DROP PUBLICATION IF EXISTS ${config.publication}`).catch(() => undefined);
      await first.end().catch(() => undefined);
    }
    second?.stop();
    if (config) {
      const { kinesis, dynamo } = awsClients();
      await kinesis.send(new DeleteStreamCommand({ StreamName: config.stream })).catch(() => undefined);
      await deprovisionEvents(config).catch(() => undefined);
      await deprovisionDeadLetters(config).catch(() => undefined);
      for (const TableName of Object.values(config.tables))
        await dynamo.send(new DeleteTableCommand({ TableName })).catch(() => undefined);
    }
  });

  const inventoryQueue = () => eventRouting(config.eventBus).queues.inventory;
  const entity = () => probe.entity('inventory', `${sku}#1`);
  const published = (onHand: number) =>
    probe.receiveUntil(
      inventoryQueue(),
      (body) => {
        const d = body.detail as { entityId?: string; changes?: { on_hand?: { new?: unknown } } };
        return d.entityId === `${sku}#1` && d.changes?.on_hand?.new === onHand;
      },
      60_000,
    );

  it('after a switch to a cluster whose LSNs are lower, its changes of a key DynamoDB holds are applied and published', async () => {
    const second_ = second!;
    // The first primary's WAL goes well past where the fresh cluster will be (a few segment
    // switches on the stack's cluster; a message so each switch has something to end).
    const fresh = new PgClient({ port: second_.port, database: 'postgres' });
    await fresh.connect();
    const startOfSecond = lsnToBigInt(
      (await fresh.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l,
    );
    await fresh.end();
    for (let i = 0; i < 20; i++) {
      const l = (await first!.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
      if (lsnToBigInt(l) > startOfSecond + 64n * 1024n * 1024n) break;
      await first!.query("SELECT pg_logical_emit_message(false, 'cdc-epoch-test', 'advance')");
      await first!.query('SELECT pg_switch_wal()');
    }

    // 1. On the first primary: the key, captured, applied, at epoch 0 (the form before epochs).
    await first!.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 10)', [sku]);
    await first!.query('UPDATE inventory SET on_hand = 11 WHERE sku = $1 AND warehouse_id = 1', [sku]);
    // A second key, for the backfill below.
    await first!.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 2, 30)', [sku]);
    const before = await waitFor("the first primary's change in DynamoDB", async () => {
      const item = await entity();
      return (item?.row as { on_hand?: number } | undefined)?.on_hand === 11 ? item : undefined;
    });
    const held = parseVersion(String(before.version));
    assert.ok(held, `a version: ${String(before.version)}`);
    assert.equal(held.epoch, 0, 'epoch 0 on the first source: the version form before epochs');
    await published(11);

    // 2. The failover: the new primary holds the application's tables (a promoted replica would;
    // this fresh cluster gets them here, as the application made them: cdc provision never creates
    // a user's database or table off the local stack) ...
    const stackPort = process.env.PGPORT;
    process.env.PGPORT = String(second_.port);
    try {
      await provisionDemoSchema(config);
    } finally {
      process.env.PGPORT = stackPort;
    }
    // ... and the operator provisions it for CDC (publication, slot) ...
    const provisioned = await cdcProvision(config, second_.port);
    const source = provisioned.source as { pending: boolean; epoch: number };
    assert.equal(source.pending, true, 'cdc provision sees that the source is not the recorded one');
    assert.equal(source.epoch, 1, 'and says capture starts epoch 1');
    await waitFor('the second key from the first primary', async () =>
      (await probe.entity('inventory', `${sku}#2`))?.version !== undefined ? true : undefined,
    );
    // ... and backfills what the stream cannot carry: a row the new primary holds that was
    // written before its slot. A backfill is not capture: while capture still streams the old
    // primary (the recorded source), a chunk that reaches the new one does not move the epoch; it
    // fails, retryably, and waits for capture to establish the new epoch.
    const onSecond = new PgClient({ port: second_.port });
    await onSecond.connect();
    await onSecond.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 2, 31)', [sku]);
    await onSecond.end();
    const backfillActivities = createActivities(config, ioFor(second_.port));
    const oldPrimaryActivities = createActivities(config, ioFor(Number(process.env.PGPORT)));
    const chunkOn = (activities: typeof backfillActivities, watermark?: ChunkWatermark) =>
      new MockActivityEnvironment().run<
        [SnapshotChunkInput],
        SnapshotChunkResult,
        typeof activities.backfillChunk
      >(activities.backfillChunk, {
        backfillId: `epoch-${id}`,
        table: 'inventory',
        limit: 100,
        ...(watermark ? { watermark } : {}),
      });
    const recorded = async () =>
      (await probe.state(`SOURCE#${config.slot}`)) as { epoch?: number; timeline?: number } | undefined;
    await assert.rejects(chunkOn(backfillActivities), (err: Error) => {
      assert.match(
        err.message,
        /SourceEpochMismatchError: snapshot chunk of inventory reached source system \d+ timeline 1, not the recorded source of slot cdc_epoch_\w+, system \d+ timeline 1 \(epoch 0\): it waits for capture/,
      );
      assert.ok(!err.message.includes(sku), 'no row values');
      return true;
    });
    assert.equal((await recorded())?.epoch, 0, 'the backfill did not move the epoch');
    // A watermark the workflow keeps for a chunk, taken on the old primary (epoch 0).
    const keptOnOld: ChunkWatermark = await new MockActivityEnvironment().run(
      oldPrimaryActivities.backfillWatermark,
      { backfillId: `epoch-${id}`, table: 'inventory' },
    );
    assert.equal(keptOnOld.epoch ?? 0, 0);
    // ... the pipeline's PostgreSQL endpoint now leads to it, and the old primary's connections end.
    target.port = second_.port;
    await first!.query(
      'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL',
      [config.slot],
    );

    // 3. On the new primary (restored without the key's last change): the key again, lower LSNs.
    const newPrimary = new PgClient({ port: second_.port });
    await newPrimary.connect();
    await newPrimary.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 1, 20)', [sku]);
    await newPrimary.query('UPDATE inventory SET on_hand = 21 WHERE sku = $1 AND warehouse_id = 1', [sku]);
    const commitLsn = lsnToBigInt(
      (await newPrimary.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l,
    );
    await newPrimary.end();
    assert.ok(
      commitLsn < BigInt(`0x${held.lsn}`),
      `the premise: the new primary's LSNs (${commitLsn.toString(16)}) are below the stored version's (${held.lsn})`,
    );

    let seen: unknown;
    const after = await waitFor(
      "the new primary's change in DynamoDB",
      async () => {
        const item = await entity();
        seen = { version: item?.version, row: item?.row };
        return (item?.row as { on_hand?: number } | undefined)?.on_hand === 21 ? item : undefined;
      },
      { timeoutMs: 90_000, lastSeen: () => JSON.stringify(seen) },
    );
    const version = parseVersion(String(after.version));
    assert.equal(version?.epoch, 1, `epoch 1 on the new source: ${String(after.version)}`);
    assert.ok(String(after.version) > String(before.version));
    const message = await published(21);
    const detail = message.detail as { metadata: { version: string } };
    assert.match(detail.metadata.version, /^e000001\./);

    // 4. Shown: the capture workflow's health query, and the state table's record.
    const status = await waitFor('capture health with the epoch', async () => {
      const s = await client!.workflow
        .getHandle(captureWorkflowId(config.slot))
        .query<CaptureStatus>(healthQuery);
      return s.epoch === 1 ? s : undefined;
    });
    assert.equal(status.health?.source?.reason, 'identity-changed');
    assert.equal(status.health?.source?.previous?.epoch, 0);
    assert.notEqual(status.health?.source?.systemId, status.health?.source?.previous?.systemId);

    // 5. The backfill, now that capture established epoch 1. The chunk is given the watermark
    // kept from the old primary (epoch 0, its LSN): it ignores it and takes a fresh one, so its
    // row carries epoch 1 and the new primary's LSN, and wins over the old primary's higher LSN.
    const chunk: SnapshotChunkResult = await chunkOn(backfillActivities, keptOnOld);
    assert.ok(chunk.applied >= 1, `the backfilled rows are applied: ${JSON.stringify(chunk)}`);
    assert.notEqual(chunk.watermark, keptOnOld.lsn, 'a fresh watermark, not the kept one');
    const backfilled = await probe.entity('inventory', `${sku}#2`);
    assert.equal((backfilled?.row as { on_hand?: number }).on_hand, 31);
    const backfilledVersion = parseVersion(String(backfilled?.version));
    assert.equal(backfilledVersion?.epoch, 1, `epoch 1: ${String(backfilled?.version)}`);
    assert.ok(BigInt(`0x${backfilledVersion!.lsn}`) < BigInt(`0x${held.lsn}`), "the new primary's LSN");
    // A backfill connection that still lands on the old primary (reachable during the failover)
    // fails retryably and leaves the epoch alone: no epoch 2 for the old cluster.
    await assert.rejects(
      chunkOn(oldPrimaryActivities),
      /SourceEpochMismatchError: .*timeline 1, the source of epoch 0 before it \(an old primary still reachable\?\)/,
    );
    assert.equal((await recorded())?.epoch, 1, 'the epoch stays 1');

    // 6. An operator's bump ends capture's replication connection: capture's next run stamps the
    // new epoch, so a change after a backfill at the new epoch is not stale.
    const bumped = await cdcProvision(config, second_.port, ['--bump-epoch']);
    const bump = bumped.source as { epoch: number; bumped: boolean; endedCapture?: { pid?: number } };
    assert.equal(bump.bumped, true);
    assert.equal(bump.epoch, 2);
    assert.ok(Number(bump.endedCapture?.pid) > 0, `capture's connection ended: ${JSON.stringify(bump)}`);
    assert.match(
      String(bumped.log),
      /ended capture's replication connection on slot cdc_epoch_\w+ \(pid \d+\)/,
    );
    const atTwo = await chunkOn(backfillActivities);
    assert.ok(atTwo.applied >= 1, `the backfill at epoch 2 is applied: ${JSON.stringify(atTwo)}`);
    const later = new PgClient({ port: second_.port });
    await later.connect();
    await later.query('UPDATE inventory SET on_hand = 22 WHERE sku = $1 AND warehouse_id = 1', [sku]);
    await later.end();
    const afterBump = await waitFor(
      'the change after the bump in DynamoDB, at epoch 2',
      async () => {
        const item = await entity();
        seen = { version: item?.version, row: item?.row };
        return (item?.row as { on_hand?: number } | undefined)?.on_hand === 22 ? item : undefined;
      },
      { timeoutMs: 90_000, lastSeen: () => JSON.stringify(seen) },
    );
    assert.equal(parseVersion(String(afterBump.version))?.epoch, 2, String(afterBump.version));
  });
});
