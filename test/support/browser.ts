import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { codecEndpoint, PORTS, ROOT } from '../../infra/localStack/localStack';

/**
 * Headless Chromium for the Web UI tests: Debian's chromium (scripts/setup.sh installs it), never
 * a downloaded browser. Screenshots go to .cache/test-artifacts/.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, '.cache', 'test-artifacts');
export const uiUrl = (path: string) => `http://127.0.0.1:${PORTS.temporalUi}${path}`;

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found; run: bash scripts/setup.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/** The workflow list filtered by a visibility query: what a bookmark or a shared link opens. */
export function workflowListUrl(
  query: string,
  options: { namespace?: string; savedView?: string } = {},
): string {
  const params = new URLSearchParams({ query });
  // Temporal UI 2.42: `savedQuery=<name>` adds the query to the browser's Custom Views under that name.
  if (options.savedView) params.set('savedQuery', options.savedView);
  return uiUrl(`/namespaces/${options.namespace ?? 'default'}/workflows?${params.toString()}`);
}

/** Where Temporal UI 2.42 keeps the workflow list's columns (per browser, per namespace). */
export const WORKFLOW_COLUMNS_KEY = 'namespace-workflow-table-columns';
/** The list columns docs/web-ui.md recommends: the shard and its state next to the workflow id. */
export const CDC_WORKFLOW_COLUMNS = [
  'Status',
  'Workflow ID',
  'CdcState',
  'CdcShard',
  'CdcLagMs',
  'Type',
  'Start',
];

/** Sets the workflow list's columns before any page loads, as "Configure Workflows" (gear icon) would. */
export async function presetWorkflowColumns(
  page: Page,
  columns = CDC_WORKFLOW_COLUMNS,
  namespace = 'default',
): Promise<void> {
  const value = JSON.stringify({ [namespace]: columns.map((label) => ({ label })) });
  // A script run in the page (no DOM types here): only when the browser has no columns of its own.
  const key = JSON.stringify(WORKFLOW_COLUMNS_KEY);
  await page.addInitScript({
    content: `if (!localStorage.getItem(${key})) localStorage.setItem(${key}, ${JSON.stringify(value)});`,
  });
}

/** A call the codec server refused: its status, its answer, and the metadata of what was sent (no data). */
export interface CodecFailure {
  status: number;
  answer: string;
  sent: string;
}

/** The page's calls to the codec server (status codes, refusals) and to the Temporal UI API (paths). */
export function watchNetwork(page: Page): { codec: number[]; codecFailures: CodecFailure[]; api: string[] } {
  const seen = { codec: [] as number[], codecFailures: [] as CodecFailure[], api: [] as string[] };
  page.on('response', (res) => {
    const url = res.url();
    if (url.startsWith(codecEndpoint())) {
      seen.codec.push(res.status());
      if (res.status() !== 200 && res.request().method() === 'POST')
        void res.text().then(
          (answer) =>
            seen.codecFailures.push({
              status: res.status(),
              answer,
              sent: sentMetadata(res.request().postData()),
            }),
          () => undefined,
        );
    } else if (url.startsWith(uiUrl('/api/')))
      seen.api.push(`${res.request().method()} ${new URL(url).pathname}`);
  });
  return seen;
}

/** The payloads' metadata of a codec request, decoded, with the size of their data. */
function sentMetadata(body: string | null): string {
  try {
    const { payloads } = JSON.parse(body ?? '') as {
      payloads?: { metadata?: Record<string, string>; data?: string }[];
    };
    return JSON.stringify(
      (payloads ?? []).map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata ?? {}).map(([k, v]) => [
            k,
            Buffer.from(v, 'base64').toString('utf8').slice(0, 80),
          ]),
        ),
        dataBytes: p.data === undefined ? 'absent' : Buffer.from(p.data, 'base64').length,
      })),
    );
  } catch {
    return (body ?? '').slice(0, 300);
  }
}

/** Counts what an operator clicks: every click in a test goes through `click`. */
export class ClickCounter {
  readonly clicked: string[] = [];
  get count(): number {
    return this.clicked.length;
  }
  async click(target: Locator, what: string): Promise<void> {
    await target.click();
    this.clicked.push(what);
  }
}

/** A full-page screenshot in .cache/test-artifacts/; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
