import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { shardWorkflowId } from '../../workflows/names';
import type { ShardStatus } from '../../workflows/shardReader';
import {
  ClickCounter,
  launchChromium,
  presetWorkflowColumns,
  screenshot,
  watchNetwork,
  workflowListUrl,
} from '../support/browser';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

const MAX_CLICKS = 3;
const unique = () =>
  `W${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toUpperCase();
/** Compares text as the rendered markdown shows it: words only. */
const words = (s: string) => s.replace(/[^A-Za-z0-9]+/g, ' ').trim();

/**
 * Issue 10, item 5: an operator finds a STUCK shard in the Web UI and reads why, in headless
 * Chromium. The list is opened from a link carrying the filter (a bookmark, as docs/web-ui.md
 * gives it): navigating is not a click. From the list: the shard's row (click 1), the "User
 * Metadata" tab (click 2), where "Current Details" shows the step, the error and the record in
 * trouble, decoded through the codec server. See docs/web-ui.md.
 */
describe('Web UI: an operator finds a STUCK shard and reads why (headless Chromium)', function () {
  this.timeout(420_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;
  let browser: Browser | undefined;

  before(async function () {
    this.timeout(300_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { eventBridgeOutage: true });
    probe = probes(p);
    await waitFor(
      'shard readers to run',
      async () => ((await probe.allShardStatuses()).length === 2 ? true : undefined),
      { timeoutMs: 120_000 },
    );
  });
  after(async () => {
    await browser?.close();
    await p?.stop();
  });

  it(`shows the failing step, the error and the record's sequence number in ≤ ${MAX_CLICKS} clicks from the list`, async () => {
    const sku = unique();
    await p.eventBridge!.down(); // EventBridge down for this pipeline only
    try {
      await p.pg.query('INSERT INTO inventory (sku, warehouse_id, on_hand) VALUES ($1, 3, 50)', [sku]);
      let seen: ShardStatus[] = [];
      const stuck = await waitFor(
        'the shard with the new row to be STUCK',
        async () => {
          seen = await probe.allShardStatuses();
          return seen.find((s) => s.state === 'STUCK' && s.trouble?.entityId === `${sku}#3`);
        },
        {
          timeoutMs: 180_000,
          lastSeen: () =>
            JSON.stringify(
              seen.map((s) => ({
                shard: s.shardId,
                state: s.state,
                error: s.lastError,
                trouble: s.trouble,
                notes: s.notes.slice(-3),
              })),
            ),
        },
      );
      assert.equal(stuck.lastError?.step, 'publish', stuck.lastError?.message);
      const workflowId = shardWorkflowId(p.config.stream, p.config.consumer, stuck.shardId);

      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      // Once per browser, as docs/web-ui.md says: CdcState and CdcShard as list columns.
      await presetWorkflowColumns(page);
      const network = watchNetwork(page);
      const clicks = new ClickCounter();
      const shots: string[] = [];

      // The list, from a link that carries the filter (no click: a bookmark or a shared link).
      // This test's stream only, so other tests' STUCK shards do not interfere.
      const query = `CdcState = "STUCK" AND CdcStream = "${p.config.stream}"`;
      await page.goto(workflowListUrl(query, { savedView: 'Stuck shards' }), {
        waitUntil: 'domcontentloaded',
      });
      const row = page.getByRole('link', { name: workflowId, exact: true });
      await waitFor(
        'the STUCK shard in the filtered list',
        async () => {
          if (await row.isVisible()) return true;
          // Visibility lags the workflow a little: load the list again (not a click).
          await page.reload({ waitUntil: 'domcontentloaded' });
          await row.waitFor({ state: 'visible', timeout: 10_000 });
          return true;
        },
        { timeoutMs: 90_000, intervalMs: 1_000 },
      );
      const listText = await page.locator('main').innerText();
      assert.match(listText, /CdcState/, 'the CdcState column');
      assert.match(listText, new RegExp(`${stuck.shardId}`), 'the CdcShard column');
      assert.match(listText, /STUCK/);
      assert.match(listText, /Stuck shards/, 'the link saved the filter as a Custom View');
      shots.push(await screenshot(page, 'web-ui-stuck-1-list'));

      await clicks.click(row, 'the STUCK shard in the list');
      await page.waitForURL(/\/workflows\/[^/]+\/[^/]+\/history/, { timeout: 60_000 });
      await page.getByRole('heading', { name: workflowId }).waitFor({ timeout: 60_000 });
      shots.push(await screenshot(page, 'web-ui-stuck-2-workflow'));

      await clicks.click(
        page
          .getByRole('link', { name: 'User Metadata' })
          .or(page.getByRole('tab', { name: 'User Metadata' }))
          .first(),
        'the User Metadata tab',
      );
      await page.waitForURL(/\/user-metadata/, { timeout: 60_000 });
      const seq = stuck.trouble!.sequenceNumber;
      const { text: details, layout } = await currentDetails(page, [
        'publish',
        'error (',
        `seq ${seq}`,
        'DLQ',
      ]);
      shots.push(await screenshot(page, 'web-ui-stuck-3-current-details'));

      console.log(
        `      clicks from the list: ${clicks.count} (${clicks.clicked.join(' → ')})\n` +
          `      Current Details on the page:\n${details.replace(/^/gm, '        | ')}\n` +
          `      Current Details frame: ${layout.viewport}px high, content ${layout.content}px; not in view: ${layout.hidden.join(', ') || 'nothing'}\n` +
          `      codec server calls: ${network.codec.length} (${[...new Set(network.codec)].join(', ')})\n` +
          network.codecFailures
            .map((f) => `      codec server refused: ${f.status} ${f.answer} for ${f.sent}\n`)
            .join('') +
          `      screenshots: ${shots.join(', ')}`,
      );
      assert.ok(clicks.count <= MAX_CLICKS, `${clicks.count} clicks: ${clicks.clicked.join(', ')}`);

      // What workflows/shardReader/visibility.ts writes, as the page renders its markdown.
      assert.match(details, /STUCK in publish at seq \d+ after \d+ attempts/);
      // The error as the status has it when the page opened or now (it may change while the
      // shard retries: moto restarted empty by another test makes it "bus does not exist").
      const now = await probe.shardStatus(stuck.shardId).catch(() => stuck);
      const errors = [stuck, now].map((s: ShardStatus) => ({
        category: `error (${s.lastError?.category}): `,
        message: words(s.lastError?.message ?? '').slice(0, 60),
      }));
      assert.ok(
        errors.some((e) => e.message && details.includes(e.category) && words(details).includes(e.message)),
        `the error (${errors.map((e) => `${e.category}${e.message}`).join(' or ')}) not in:\n${details}`,
      );
      // Read on the page, not only present in it: the frame is not scrolled.
      const mustSee = ['publish', 'error (', `seq ${seq}`];
      assert.deepEqual(
        layout.hidden.filter((h) => mustSee.includes(h)),
        [],
        `not in view without scrolling the Current Details frame (${layout.viewport}px of ${layout.content}px)`,
      );
      assert.ok(
        details.includes(`record: seq ${seq}`),
        `the record's sequence number ${seq} not in:\n${details}`,
      );
      assert.ok(details.includes(`${sku}#3`), `the record's entity ${sku}#3 not in:\n${details}`);

      // Decoded by the codec server: the metadata query's result is an encrypted payload.
      assert.ok(
        network.api.some((a) => a.startsWith('POST') && a.endsWith('/query/__temporal_workflow_metadata')),
        `the UI did not query the workflow's metadata: ${network.api.join(', ')}`,
      );
      // The details above were decoded (they are readable); calls the codec server refused are
      // printed, not failed on: it refuses an empty encrypted payload (a `binary/null` activity
      // result, 53 bytes sealed), which is not what this test is about (webUiCodec.test.ts is).
      assert.ok(network.codec.includes(200), `the codec server decoded nothing: ${network.codec.join(', ')}`);
      assert.ok(!(await page.content()).includes('binary/encrypted'), 'the UI shows an undecoded payload');
    } finally {
      await p.eventBridge!.up();
    }
  });
});

/**
 * The text of "Current Details" on the User Metadata tab. Temporal UI 2.42 renders the markdown in
 * an iframe (`/render?content=…`) from the `__temporal_workflow_metadata` query it ran when the
 * workflow page opened; "R" (a key, not a click) runs the query again.
 */
async function currentDetails(page: Page, needles: string[]): Promise<{ text: string; layout: FrameLayout }> {
  const panel = page
    .locator('div')
    .filter({ has: page.getByRole('heading', { name: 'Current Details' }) })
    .filter({ has: page.locator('iframe[title="output"]') })
    .last();
  const frame = panel.locator('iframe[title="output"]').first();
  let text = '';
  await waitFor(
    'Current Details to show STUCK',
    async () => {
      if (await frame.count()) {
        text = await frame
          .contentFrame()
          .locator('body')
          .innerText({ timeout: 10_000 })
          .catch(() => '');
        if (text.includes('STUCK')) return true;
      } else {
        text = await page.locator('main').innerText();
      }
      await page.keyboard.press('r');
      return undefined;
    },
    { timeoutMs: 60_000, intervalMs: 2_000, lastSeen: () => text.slice(0, 500) || 'nothing' },
  );
  const content = await (await frame.elementHandle())?.contentFrame();
  const layout = (await content?.evaluate(`(${FRAME_LAYOUT})(${JSON.stringify(needles)})`)) as FrameLayout;
  return { text, layout };
}

/** How the details fit their frame: its height, its content's height, and the texts not in view. */
interface FrameLayout {
  viewport: number;
  content: number;
  hidden: string[];
}

/** Run in the frame (a string: this project compiles without DOM types). */
const FRAME_LAYOUT = `(needles) => {
  const out = { viewport: window.innerHeight, content: document.documentElement.scrollHeight, hidden: [] };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  for (const needle of needles) {
    const node = nodes.find((t) => t.data.includes(needle));
    if (!node) { out.hidden.push(needle + ' (absent)'); continue; }
    const range = document.createRange();
    const i = node.data.indexOf(needle);
    range.setStart(node, i);
    range.setEnd(node, i + needle.length);
    const rects = [...range.getClientRects()];
    if (!rects.length || rects.some((r) => r.bottom > window.innerHeight + 0.5)) out.hidden.push(needle);
  }
  return out;
}`;
