import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { temporalClient } from '../../infra/temporal';
import { applyLocalStackEnv, codecEndpoint, PORTS, ROOT, stackUp } from '../../infra/localStack/localStack';

const TEMPORAL = join(ROOT, '.cache', 'venv', 'bin', 'temporal');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, '.cache', 'test-artifacts');

/**
 * Encrypted payloads on the local stack (infra/codec): a workflow started through the project's
 * client keeps its input (and memo) out of Temporal's history in plaintext; the `temporal` CLI
 * with the stack's codec server, and the Web UI wired to it at server start, show them decoded.
 * The workflow runs on a task queue of its own with no worker: its input stays in history as it
 * was sent, and the test terminates it.
 */
describe('encrypted payloads: CLI and Web UI decode through the codec server', function () {
  this.timeout(180_000);
  const marker = `codec-marker-${randomBytes(6).toString('hex')}`;
  const memoMarker = `memo-marker-${randomBytes(6).toString('hex')}`;
  // Workflow ids and task queues are not payloads (never encrypted): no marker in them.
  const runTag = randomBytes(6).toString('hex');
  const workflowId = `codec-test:${runTag}`;
  let client: Client;
  let handle: WorkflowHandleWithFirstExecutionRunId;

  before(async function () {
    this.timeout(240_000);
    await stackUp();
    applyLocalStackEnv();
    client = await temporalClient();
    handle = await client.workflow.start('shardReaderWorkflow', {
      workflowId,
      taskQueue: `codec-test-${runTag}`,
      args: [{ note: 'a row with PII', row: { email: `${marker}@example.com`, ssn: '123-45-6789' } }],
      memo: { note: memoMarker },
    });
  });

  after(async () => {
    await handle?.terminate('test finished').catch(() => undefined);
    await client?.connection.close();
  });

  const show = (...extra: string[]) => {
    const r = spawnSync(
      TEMPORAL,
      [
        'workflow',
        'show',
        '--address',
        `127.0.0.1:${PORTS.temporal}`,
        '--namespace',
        'default',
        '--workflow-id',
        workflowId,
        '--output',
        'json',
        ...extra,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, `temporal workflow show failed: ${r.stderr}`);
    return r.stdout;
  };

  it('history holds ciphertext only: no marker in `temporal workflow show` without the codec', () => {
    const raw = show();
    assert.ok(raw.includes('WORKFLOW_EXECUTION_STARTED') || raw.includes('WorkflowExecutionStarted'), raw);
    const base64 = (s: string) => Buffer.from(s).toString('base64').slice(0, 16);
    for (const secret of [marker, memoMarker, '123-45-6789'])
      assert.ok(!raw.includes(secret) && !raw.includes(base64(secret)), `${secret} in plaintext history`);
    assert.ok(raw.includes(Buffer.from('binary/encrypted').toString('base64')), 'encrypted payloads');
  });

  it('`temporal workflow show --codec-endpoint` shows the input and memo decoded', () => {
    const decoded = show('--codec-endpoint', codecEndpoint());
    // The CLI prints payloads decoded; JSON ones inline, others as base64 data.
    const all = [decoded, ...[...decoded.matchAll(/"data":\s*"([^"]+)"/g)].map((m) => fromBase64(m[1]))].join(
      '\n',
    );
    assert.ok(all.includes(marker), `marker not decoded:\n${decoded.slice(0, 2000)}`);
    assert.ok(all.includes(memoMarker), 'memo not decoded');
  });

  describe('Web UI (headless Chromium)', () => {
    let browser: Browser | undefined;
    before(function () {
      if (!existsSync(CHROMIUM)) {
        // scripts/setup.sh installs Debian's chromium; never download a browser of our own.
        throw new Error(`${CHROMIUM} not found; run: bash scripts/setup.sh`);
      }
    });
    after(async () => {
      await browser?.close();
    });

    it('shows the decoded input of the workflow (the UI calls the codec server configured at server start)', async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      });
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const codecCalls: number[] = [];
      page.on('response', (res) => {
        if (res.url().startsWith(codecEndpoint())) codecCalls.push(res.status());
      });
      const runId = handle.firstExecutionRunId;
      const url = `http://127.0.0.1:${PORTS.temporalUi}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      mkdirSync(ARTIFACTS, { recursive: true });
      const screenshot = join(ARTIFACTS, 'web-ui-codec.png');
      try {
        await page.getByText(marker).first().waitFor({ state: 'attached', timeout: 60_000 });
      } catch (err) {
        await page.screenshot({ path: screenshot, fullPage: true });
        throw new Error(
          `decoded marker not in the Web UI page (codec calls: ${codecCalls.join(', ') || 'none'}; screenshot ${screenshot}): ${(err as Error).message}`,
          { cause: err },
        );
      }
      await page.getByText(marker).first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: screenshot, fullPage: true });
      assert.ok(
        codecCalls.length > 0 && codecCalls.every((s) => s === 200),
        `codec calls: ${codecCalls.join(', ')}`,
      );
      assert.ok(!(await page.content()).includes('binary/encrypted'), 'the UI shows an undecoded payload');
    });
  });
});

function fromBase64(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}
