/**
 * The benchmark's chart: commit→SQS and commit→DynamoDB latency percentiles (p50, p90, p99)
 * against the offered rate, for the pipeline (solid) and the direct consumer (dashed), both axes
 * logarithmic. Drawn as inline SVG and rendered to PNG by Debian's Chromium (the one the Web UI
 * tests drive with playwright-core), so no charting dependency is needed.
 */
import { writeFileSync } from 'node:fs';
import { launchChromium } from '../../test/support/browser';
import type { Percentiles } from './latency';

export interface ChartPoint {
  rate: number;
  sqs: Percentiles | null;
  dynamo: Percentiles | null;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
  dashed?: boolean;
  /** Markers only (a single measurement, e.g. the scale-out run). */
  markers?: boolean;
}

const W = 1160;
const H = 520;
const PANEL = { w: 500, h: 370, top: 70, left: [80, 650] as const };
const COLORS = { p50: '#2b8a3e', p90: '#e67700', p99: '#c92a2a' } as const;
type P = keyof typeof COLORS;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const msLabel = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);

export function chartSvg(title: string, series: readonly ChartSeries[]): string {
  const rates = series.flatMap((s) => s.points.map((p) => p.rate)).filter((r) => r > 0);
  const values = series.flatMap((s) =>
    s.points.flatMap((p) => [p.sqs, p.dynamo].flatMap((x) => (x ? [x.p50, x.p90, x.p99] : []))),
  );
  const xMin = Math.max(1, Math.min(...rates, 25) / 1.4);
  const xMax = Math.max(...rates, 50) * 1.4;
  const yMin = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...values.filter((v) => v > 0), 100))));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values, 2000) * 1.05));
  const x = (rate: number, left: number) =>
    left + ((Math.log2(rate) - Math.log2(xMin)) / (Math.log2(xMax) - Math.log2(xMin))) * PANEL.w;
  const y = (ms: number) =>
    PANEL.top +
    PANEL.h -
    ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * PANEL.h;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  const panels: { key: 'sqs' | 'dynamo'; name: string }[] = [
    { key: 'sqs', name: 'commit → SQS (event received)' },
    { key: 'dynamo', name: 'commit → DynamoDB (item visible)' },
  ];
  panels.forEach((panel, i) => {
    const left = PANEL.left[i];
    parts.push(
      `<text x="${left + PANEL.w / 2}" y="${PANEL.top - 12}" text-anchor="middle" font-size="14">${esc(panel.name)}</text>`,
      `<rect x="${left}" y="${PANEL.top}" width="${PANEL.w}" height="${PANEL.h}" fill="none" stroke="#999"/>`,
    );
    for (let d = yMin; d <= yMax; d *= 10) {
      parts.push(
        `<line x1="${left}" x2="${left + PANEL.w}" y1="${y(d)}" y2="${y(d)}" stroke="#eee"/>`,
        `<text x="${left - 6}" y="${y(d) + 4}" text-anchor="end">${msLabel(d)}</text>`,
      );
    }
    if (panel.key === 'sqs' && 1000 > yMin && 1000 < yMax)
      parts.push(
        `<line x1="${left}" x2="${left + PANEL.w}" y1="${y(1000)}" y2="${y(1000)}" stroke="#c92a2a" stroke-dasharray="2,3"/>`,
        `<text x="${left + 4}" y="${y(1000) + 14}" fill="#c92a2a">target p99 &lt; 1 s (at half the max rate)</text>`,
      );
    const ticks = [...new Set(rates)].sort((a, b) => a - b);
    for (const r of ticks)
      parts.push(
        `<line x1="${x(r, left)}" x2="${x(r, left)}" y1="${PANEL.top}" y2="${PANEL.top + PANEL.h}" stroke="#f3f3f3"/>`,
        `<text x="${x(r, left)}" y="${PANEL.top + PANEL.h + 16}" text-anchor="middle">${r}</text>`,
      );
    parts.push(
      `<text x="${left + PANEL.w / 2}" y="${PANEL.top + PANEL.h + 36}" text-anchor="middle">offered changes/s (log scale)</text>`,
    );
    for (const s of series) {
      for (const p of ['p50', 'p90', 'p99'] as P[]) {
        const pts = s.points
          .filter((pt) => pt[panel.key] && pt.rate > 0)
          .map((pt) => [x(pt.rate, left), y(pt[panel.key]![p])] as const);
        if (!pts.length) continue;
        if (!s.markers && pts.length > 1)
          parts.push(
            `<polyline fill="none" stroke="${COLORS[p]}" stroke-width="2" ${s.dashed ? 'stroke-dasharray="6,4"' : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`,
          );
        for (const [a, b] of pts)
          parts.push(
            s.markers
              ? `<path d="M${a} ${b - 6} L${a + 6} ${b} L${a} ${b + 6} L${a - 6} ${b} Z" fill="none" stroke="${COLORS[p]}" stroke-width="2"/>`
              : `<circle cx="${a}" cy="${b}" r="3.5" fill="${s.dashed ? '#fff' : COLORS[p]}" stroke="${COLORS[p]}" stroke-width="1.5"/>`,
          );
      }
    }
  });
  // Legend.
  let lx = 80;
  const ly = H - 22;
  for (const p of ['p50', 'p90', 'p99'] as P[]) {
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${COLORS[p]}" stroke-width="3"/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${p}</text>`,
    );
    lx += 80;
  }
  for (const s of series) {
    const style = s.markers
      ? `<path d="M${lx + 12} ${ly - 6} L${lx + 18} ${ly} L${lx + 12} ${ly + 6} L${lx + 6} ${ly} Z" fill="none" stroke="#333" stroke-width="2"/>`
      : `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="#333" stroke-width="2" ${s.dashed ? 'stroke-dasharray="6,4"' : ''}/>` +
        `<circle cx="${lx + 12}" cy="${ly}" r="3.5" fill="${s.dashed ? '#fff' : '#333'}" stroke="#333" stroke-width="1.5"/>`;
    parts.push(style, `<text x="${lx + 30}" y="${ly + 4}">${esc(s.label)}</text>`);
    lx += 40 + esc(s.label).length * 7;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Renders the SVG to a PNG file with headless Chromium; also writes the SVG next to it. */
export async function renderPng(svg: string, pngPath: string): Promise<void> {
  writeFileSync(pngPath.replace(/\.png$/, '.svg'), svg);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: W, height: H }, deviceScaleFactor: 1 });
    await page.setContent(`<!doctype html><html><body style="margin:0;background:#fff">${svg}</body></html>`);
    await page.locator('svg').screenshot({ path: pngPath });
  } finally {
    await browser.close();
  }
}
