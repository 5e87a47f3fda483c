import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { configToEnv } from '../../infra/config';
import { ROOT } from '../../scripts/lib/localStack';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `cdc dlq list|show|redrive|discard` against a test pipeline of its own (issue 10). */
describe('cdc dlq on the local stack', function () {
  this.timeout(240_000);
  let p: TestPipeline;

  const cdc = (...args: string[]): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(join(ROOT, 'bin', 'cdc'), args, {
        cwd: ROOT,
        env: { ...process.env, ...configToEnv(p.config), CDC_ACTOR: 'test-operator' },
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

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 });
  });
  after(async () => {
    await p?.stop();
  });

  it('lists, shows (decrypted), redrives (fails again, stays PARKED) and discards, each audited', async () => {
    const probe = probes(p);
    const marker = `dlq-cli-${Date.now().toString(36)}`;
    const [rec] = await probe.putRaw([
      {
        partitionKey: 'widgets:1',
        data: JSON.stringify({
          tableName: 'widgets',
          operation: 'INSERT',
          timestamp: new Date().toISOString(),
          beforeImage: null,
          afterImage: { id: 1, note: marker },
        }),
      },
    ]);
    const item = await waitFor('the dead letter', () => probe.dlq(rec!.shardId, rec!.sequenceNumber));
    const id = String(item.pk);

    const list = await cdc(
      'dlq',
      'list',
      '--status',
      'PARKED',
      '--category',
      String(item.category),
      '--json',
    );
    assert.equal(list.code, 0, show(list));
    const listed = JSON.parse(list.stdout) as { items: { pk: string; table?: string }[] };
    assert.ok(
      listed.items.some((i) => i.pk === id && i.table === 'widgets'),
      show(list),
    );
    assert.ok(!list.stdout.includes(marker), 'a listing carries no record data');

    const shown = await cdc('dlq', 'show', id);
    assert.equal(shown.code, 0, show(shown));
    assert.ok(shown.stdout.includes(marker), 'show decrypts the record for the operator');

    // The cause (an unconfigured table) is not fixed: the redrive fails again, the item stays PARKED.
    const redrive = await cdc('dlq', 'redrive', id, '--reason', 'try again', '--json');
    assert.equal(redrive.code, 1, show(redrive));
    const progress = JSON.parse(redrive.stdout) as { failed: number; state: string };
    assert.deepEqual([progress.failed, progress.state], [1, 'DONE'], show(redrive));
    const afterRedrive = await probe.dlq(rec!.shardId, rec!.sequenceNumber);
    assert.equal(afterRedrive?.status, 'PARKED');

    const discard = await cdc('dlq', 'discard', id, '--reason', 'test data');
    assert.equal(discard.code, 0, show(discard));
    const detail = await cdc('dlq', 'show', id, '--json');
    const d = JSON.parse(detail.stdout) as {
      item: { status: string };
      audit: { actor: string; action: string; result: string; reason: string }[];
    };
    assert.equal(d.item.status, 'DISCARDED');
    assert.deepEqual(
      d.audit.map((a) => [a.actor, a.action, a.result, a.reason]),
      [
        ['test-operator', 'redrive', 'failed', 'try again'],
        ['test-operator', 'discard', 'discarded', 'test data'],
      ],
    );

    const again = await cdc('dlq', 'discard', id, '--reason', 'twice');
    assert.equal(again.code, 1, 'a DISCARDED item cannot be discarded again');
    assert.match(again.stdout, /not-parked \(DISCARDED\)/);
    const missing = await cdc('dlq', 'show', 'SHARD#nope');
    assert.equal(missing.code, 3, show(missing));
  });
});
