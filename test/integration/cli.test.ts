import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configToEnv } from '../../infra/config';
import { ROOT } from '../../infra/localStack/localStack';
import type { StatusReport } from '../../cli/commands/status';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The acknowledgement wait (default 10 s), longer for a loaded machine running other tests' pipelines. */
const WAIT = ['--timeout', '30'];

const unique = () =>
  `CLI${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toUpperCase();

/**
 * `cdc` (bin/cdc) against a test pipeline of its own on the local stack (issue 10, item 1): the
 * pipeline's names reach the CLI through the environment, as they reach a worker.
 */
describe('cdc on the local stack', function () {
  this.timeout(240_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;

  const cdc = (...args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(join(ROOT, 'bin', 'cdc'), args, {
        cwd: ROOT,
        env: { ...process.env, ...configToEnv(p.config) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  const statusJson = async () => {
    const r = await cdc('status', '--json');
    return { run: r, report: JSON.parse(r.stdout) as StatusReport };
  };
  const shardsOf = (report: StatusReport) =>
    report.consumers.find((c) => c.consumer === p.config.consumer)!.shards;

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { eventBridgeOutage: true });
    probe = probes(p);
    await waitFor('shard readers to run', async () =>
      (await probe.allShardStatuses()).length === 2 ? true : undefined,
    );
  });
  after(async () => {
    await p?.stop();
  });

  it('status --json shows every shard RUNNING or CAUGHT_UP, capture running, exit 0', async () => {
    const { run, report } = await statusJson();
    assert.equal(run.code, 0, show(run));
    assert.equal(report.stream, p.config.stream);
    assert.equal(report.healthy, true, show(run));
    const shards = shardsOf(report);
    assert.equal(shards.length, 2);
    for (const s of shards) assert.ok(['RUNNING', 'CAUGHT_UP'].includes(s.status!.state), show(run));
    assert.equal(report.capture.workflowStatus, 'RUNNING');
    assert.equal(report.capture.status?.state, 'RUNNING');
    assert.equal(report.capture.slotHealth?.slot, p.config.slot);
    assert.deepEqual(report.backfills.open, []);
    assert.equal(report.dlq.error, undefined);

    const human = await cdc('status');
    assert.equal(human.code, 0, show(human));
    assert.match(human.stdout, new RegExp(`consumer ${p.config.consumer} `));
    assert.match(human.stdout, /backfills: none/);
    assert.match(human.stdout, /\nhealthy\n$/);
  });

  it('pause --shard is acknowledged, status shows PAUSED with the reason; resume brings it back', async () => {
    const [first] = shardsOf((await statusJson()).report);
    const paused = await cdc('pause', '--shard', first.shardId, '--reason', 'test', ...WAIT);
    assert.equal(paused.code, 0, show(paused));
    assert.match(
      paused.stdout,
      new RegExp(`${first.shardId}: pause acknowledged in .*state PAUSED \\(reason: test\\)`),
    );
    const during = shardsOf((await statusJson()).report).find((s) => s.shardId === first.shardId)!;
    assert.equal(during.status?.state, 'PAUSED');
    assert.equal(during.status?.pausedReason, 'test');
    assert.match((await cdc('status')).stdout, new RegExp(`${first.shardId} paused: test`));

    const resumed = await cdc('--json', 'resume', '--shard', first.shardId, ...WAIT);
    assert.equal(resumed.code, 0, show(resumed));
    const ack = JSON.parse(resumed.stdout) as { acknowledged: boolean; state: string; pausedReason: null };
    assert.equal(ack.acknowledged, true);
    assert.notEqual(ack.state, 'PAUSED');
    assert.equal(ack.pausedReason, null);
  });

  it('pause --all and resume --all go through the supervisor', async () => {
    const paused = await cdc('pause', '--all', '--reason', 'maintenance', ...WAIT);
    assert.equal(paused.code, 0, show(paused));
    assert.match(paused.stdout, /pause acknowledged/);
    assert.equal((paused.stdout.match(/PAUSED\s+maintenance/g) ?? []).length, 2, show(paused));
    const resumed = await cdc('resume', '--all', ...WAIT);
    assert.equal(resumed.code, 0, show(resumed));
  });

  it('a shard or workflow that does not exist is exit 3', async () => {
    const r = await cdc('pause', '--shard', '999', '--reason', 'x');
    assert.equal(r.code, 3, show(r));
    // A command that changes something says where it goes first (issue 22: the target is explicit).
    assert.match(
      r.stderr,
      /^environment: PostgreSQL → .*; AWS → .*; Temporal → .*\ncdc: workflow .*shardId-000000000999.* not found\n$/,
    );
    const entity = await cdc('inspect', 'inventory', 'NO-SUCH#1');
    assert.equal(entity.code, 3, show(entity));
  });

  it('status while a shard is STUCK: exit 4 naming the step, the error and the record; skip parks it in the DLQ', async () => {
    const sku = unique();
    await p.eventBridge!.down(); // EventBridge down for this pipeline only
    try {
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 5, 7)', [sku]);
      let seen: unknown;
      const stuck = await waitFor(
        'the shard with the new row to be STUCK',
        async () => {
          const statuses = await probe.allShardStatuses();
          seen = statuses.map((s) => ({
            shardId: s.shardId,
            state: s.state,
            lastError: s.lastError,
            trouble: s.trouble,
          }));
          return statuses.find((s) => s.state === 'STUCK' && s.trouble?.entityId === `${sku}#5`);
        },
        { timeoutMs: 90_000 },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last seen: ${JSON.stringify(seen)}`);
      });
      const seq = stuck.trouble!.sequenceNumber;
      const human = await cdc('status');
      mkdirSync(join(ROOT, '.cache', 'test-artifacts'), { recursive: true });
      writeFileSync(join(ROOT, '.cache', 'test-artifacts', 'cdc-status-stuck.txt'), human.stdout);
      assert.equal(human.code, 4, show(human));
      assert.match(human.stdout, new RegExp(`${stuck.shardId} STUCK in step ${stuck.lastError!.step}: `));
      assert.ok(human.stdout.includes(stuck.lastError!.message.split('\n')[0]), show(human));
      assert.match(
        human.stdout,
        new RegExp(`record in trouble: seq ${seq}, table inventory, entity ${sku}#5`),
      );
      assert.match(human.stdout, /UNHEALTHY:/);
      const json = await statusJson();
      assert.equal(json.run.code, 4);
      assert.equal(json.report.healthy, false);

      const refused = await cdc('skip', '--shard', stuck.shardId, '--seq', '1', '--reason', 'wrong record');
      assert.equal(refused.code, 1, show(refused));
      assert.match(refused.stderr, /is not in the batch/);

      const skipped = await cdc(
        'skip',
        '--shard',
        stuck.shardId,
        '--seq',
        seq,
        '--reason',
        'cli test',
        ...WAIT,
      );
      assert.equal(skipped.code, 0, show(skipped));
      assert.match(skipped.stdout, new RegExp(`record ${seq} skipped`));
      assert.match(skipped.stdout, /PARKED, operator-skip, reason "cli test"/);
      const letter = await probe.dlq(stuck.shardId, seq);
      assert.equal(letter?.category, 'operator-skip');
      assert.equal(letter?.reason, 'cli test');
    } finally {
      await p.eventBridge!.up();
    }
    await waitFor('every shard out of STUCK', async () =>
      (await probe.allShardStatuses()).every((s) => s.state !== 'STUCK') ? true : undefined,
    );
    const after = await statusJson();
    assert.equal(after.run.code, 0, show(after.run));
    assert.ok((after.report.dlq.byCategory['operator-skip'] ?? 0) >= 1, show(after.run));
  });
});
