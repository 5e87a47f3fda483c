/**
 * The benchmark's report: one row per measured thing, the table printed on stdout, the limiting
 * component of each figure, and issue 13's targets with met / not met.
 */
import type { Percentiles } from './latency';
import { MIX } from './load';
import type { Ceiling } from './sinkCeilings';

export type Section = 'sink' | 'capture' | 'direct' | 'pipeline' | 'scale-out';

export interface Row {
  section: Section;
  name: string;
  /** Offered changes/s (null: a backlog, a ceiling). */
  offered: number | null;
  /** Delivered changes/s (sinks: items/s; capture: records/s on the stream). */
  delivered: number | null;
  dynamo: Percentiles | null;
  sqs: Percentiles | null;
  cpuPer1k: number | null;
  rssMb: number | null;
  historyPer1k: number | null;
  /** Shard-reader history bytes per change (encoded events, as the server stores them). */
  historyBytesPerChange?: number | null;
  wftPer1k: number | null;
  actionsPer1k: number | null;
  limiting: string;
  fellBehind?: boolean;
  details: Record<string, unknown>;
}

export type TargetStatus = 'met' | 'not met' | 'inconclusive';

export interface Target {
  name: string;
  status: TargetStatus;
  detail: string;
}

/** Items of each sink per change of the workload's mix: what a sink's ceiling means in changes/s. */
export function itemsPerChange(unit: Ceiling['unit'], name: string): number {
  if (unit === 'items' && /DynamoDB/.test(name)) return 1 + MIX.hot + MIX.inventory; // inventory writes two items
  return 1; // one PutEvents entry, one Kinesis record per change
}

export interface SinkLimit {
  name: string;
  changesPerSecond: number;
}

export function sinkLimits(ceilings: readonly Ceiling[]): SinkLimit[] {
  return ceilings.map((c) => ({
    name: c.name.replace(/ \(.*\)$/, ''),
    changesPerSecond: c.perSecond / itemsPerChange(c.unit, c.name),
  }));
}

const STAGE_LABEL: Record<string, string> = {
  pull: 'Kinesis GetRecords (pull)',
  prepare: 'transform + redact (CPU)',
  transform: 'transform (CPU)',
  redact: 'redact (CPU)',
  apply: 'DynamoDB apply',
  publish: 'EventBridge publish',
  checkpoint: 'checkpoint write',
  deadLetter: 'dead letters',
  dead_letter: 'dead letters',
  temporal: 'Temporal orchestration (task dispatch, workflow tasks)',
};

/**
 * What limits a consumer's figure: when it kept up, the offered load; otherwise a sink whose own
 * ceiling (in changes/s) the figure is at (0.8–1.25×), else the stage that took most of the
 * shards' time.
 */
export function limitingOf(input: {
  keptUp: boolean;
  delivered: number | null;
  sinks: readonly SinkLimit[];
  /** Fraction of the shards' wall time per stage. */
  shares: Record<string, number>;
}): string {
  const top = Object.entries(input.shares).sort((a, b) => b[1] - a[1])[0];
  const busiest = top ? `${STAGE_LABEL[top[0]] ?? top[0]} ${(top[1] * 100).toFixed(0)}%` : '';
  if (input.keptUp) return `offered load (kept up${busiest ? `; busiest: ${busiest}` : ''})`;
  const d = input.delivered ?? 0;
  // A sink limits when the figure is at its ceiling (0.8–1.25×); far above it, the ceiling (items
  // per change) overstates what the consumer needed (hot keys coalesce) and it is not the limit.
  const sink = [...input.sinks]
    .sort((a, b) => a.changesPerSecond - b.changesPerSecond)
    .find((s) => d >= 0.8 * s.changesPerSecond && d <= 1.25 * s.changesPerSecond);
  if (sink) return `${sink.name} ceiling (${sink.changesPerSecond.toFixed(0)} changes/s)`;
  return busiest ? `${busiest} of shard time` : 'unknown';
}

const fmtNum = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
const fmtMs = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(0)}s` : `${Math.round(v)}`);
const fmtP = (p: Percentiles | null) => (p ? `${fmtMs(p.p50)}/${fmtMs(p.p90)}/${fmtMs(p.p99)}` : '—');

export function formatTable(rows: readonly Row[]): string {
  const header = [
    'measured',
    'offered/s',
    'delivered/s',
    'DynamoDB p50/p90/p99 ms',
    'SQS p50/p90/p99 ms',
    'CPU-s/1k',
    'MB',
    'hist ev/1k',
    'hist B/change',
    'WFT/1k',
    'actions/1k',
    'limiting component',
  ];
  const lines = rows.map((r) => [
    r.name + (r.fellBehind ? ' *' : ''),
    fmtNum(r.offered),
    fmtNum(r.delivered, r.delivered !== null && r.delivered < 10 ? 1 : 0),
    fmtP(r.dynamo),
    fmtP(r.sqs),
    fmtNum(r.cpuPer1k, 2),
    fmtNum(r.rssMb),
    fmtNum(r.historyPer1k, 1),
    fmtNum(r.historyBytesPerChange ?? null),
    fmtNum(r.wftPer1k, 1),
    fmtNum(r.actionsPer1k, 1),
    r.limiting,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join(' | ')
      .trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.map(fmt)].join('\n');
}

/** The same table as Markdown (for docs/performance.md). */
export function markdownTable(rows: readonly Row[]): string {
  const head =
    '| measured | offered/s | delivered/s | DynamoDB p50/p90/p99 ms | SQS p50/p90/p99 ms | CPU-s/1k | MB | hist ev/1k | hist B/change | WFT/1k | actions/1k | limiting component |';
  const sep = '|' + ' --- |'.repeat(12);
  const lines = rows.map(
    (r) =>
      `| ${r.name}${r.fellBehind ? ' (fell behind)' : ''} | ${fmtNum(r.offered)} | ${fmtNum(r.delivered, r.delivered !== null && r.delivered < 10 ? 1 : 0)} | ${fmtP(r.dynamo)} | ${fmtP(r.sqs)} | ${fmtNum(r.cpuPer1k, 2)} | ${fmtNum(r.rssMb)} | ${fmtNum(r.historyPer1k, 1)} | ${fmtNum(r.historyBytesPerChange ?? null)} | ${fmtNum(r.wftPer1k, 1)} | ${fmtNum(r.actionsPer1k, 1)} | ${r.limiting} |`,
  );
  return [head, sep, ...lines].join('\n');
}

export function formatTargets(targets: readonly Target[]): string {
  return targets.map((t) => `  [${t.status.toUpperCase()}] ${t.name}: ${t.detail}`).join('\n');
}

export function evaluateTargets(input: {
  rows: readonly Row[];
  ceilings: readonly Ceiling[];
  capture: { perSecond: number; generatorRate: number } | null;
  raw: Ceiling | undefined;
}): Target[] {
  const { rows } = input;
  const pipeBacklog = rows.find((r) => r.section === 'pipeline' && r.offered === null);
  const directBacklog = rows.find((r) => r.section === 'direct' && r.offered === null);
  const pipeRates = rows.filter((r) => r.section === 'pipeline' && r.offered !== null);
  const targets: Target[] = [];
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a && b ? `${a.toFixed(0)} vs ${b.toFixed(0)} changes/s = ${(a / b).toFixed(2)}×` : 'not measured';

  const p = pipeBacklog?.delivered ?? null;
  const d = directBacklog?.delivered ?? null;
  targets.push({
    name: 'pipeline ≥ 0.8× direct consumer throughput (same backlog)',
    status: p && d ? (p >= 0.8 * d ? 'met' : 'not met') : 'inconclusive',
    detail: ratio(p, d),
  });

  const slowest = [...sinkLimits(input.ceilings)].sort((a, b) => a.changesPerSecond - b.changesPerSecond)[0];
  targets.push({
    name: 'pipeline ≥ 0.8× the slowest sink ceiling',
    status: p && slowest ? (p >= 0.8 * slowest.changesPerSecond ? 'met' : 'not met') : 'inconclusive',
    detail: slowest ? `${ratio(p, slowest.changesPerSecond)} (slowest: ${slowest.name})` : 'no ceilings',
  });

  const maxRate = Math.max(p ?? 0, ...pipeRates.filter((r) => !r.fellBehind).map((r) => r.delivered ?? 0));
  const half = maxRate / 2;
  const atHalf =
    [...pipeRates]
      .filter((r) => (r.offered ?? 0) <= half)
      .sort((a, b) => (b.offered ?? 0) - (a.offered ?? 0))[0] ??
    [...pipeRates].sort((a, b) => (a.offered ?? 0) - (b.offered ?? 0))[0];
  const p99 = atHalf?.sqs?.p99;
  targets.push({
    name: "commit→SQS p99 < 1 s at half the pipeline's max rate",
    status:
      p99 === undefined
        ? 'inconclusive'
        : (atHalf.offered ?? 0) > half && half > 0
          ? p99 < 1000
            ? 'met'
            : 'inconclusive'
          : p99 < 1000
            ? 'met'
            : 'not met',
    detail:
      p99 === undefined
        ? 'no rate measured'
        : `max ${maxRate.toFixed(0)} changes/s, half ${half.toFixed(0)}; at ${atHalf.offered}/s p99 ${Math.round(p99)} ms` +
          ((atHalf.offered ?? 0) > half ? ' (lowest rate measured is above half the max)' : ''),
  });

  const actions = pipeBacklog?.actionsPer1k ?? null;
  const batch = pipeBacklog?.details.meanBatch as number | undefined;
  targets.push({
    name: '≤ 10 Temporal actions per 1,000 changes at full batches',
    status: actions === null ? 'inconclusive' : actions <= 10 ? 'met' : 'not met',
    detail:
      actions === null
        ? 'not measured'
        : `${actions.toFixed(1)} actions/1k on the backlog (mean batch ${batch !== undefined ? batch.toFixed(0) : '?'} records)`,
  });

  const bytes = pipeBacklog?.historyBytesPerChange ?? null;
  targets.push({
    name: 'shard-reader history ≤ 300 bytes per change at full batches',
    status: bytes === null ? 'inconclusive' : bytes <= 300 ? 'met' : 'not met',
    detail: bytes === null ? 'not measured' : `${bytes.toFixed(0)} bytes per change on the backlog`,
  });

  // The lowest rate measured at or below 10/s (issue 20: the default linger at 10 changes/s).
  const atTen = pipeRates.filter((r) => (r.offered ?? Infinity) <= 10).at(-1);
  targets.push({
    name: '≤ 400 Temporal actions per 1,000 changes at 10 changes/s',
    status: atTen?.actionsPer1k == null ? 'inconclusive' : atTen.actionsPer1k <= 400 ? 'met' : 'not met',
    detail:
      atTen?.actionsPer1k == null
        ? 'no rate ≤ 10/s measured'
        : `${atTen.actionsPer1k.toFixed(0)} actions/1k at ${atTen.offered}/s (commit→SQS p99 ${atTen.sqs ? Math.round(atTen.sqs.p99) : '—'} ms)`,
  });

  const cap = input.capture;
  const raw = input.raw?.perSecond;
  const generatorBound = cap !== null && cap.perSecond >= 0.9 * cap.generatorRate;
  targets.push({
    name: 'capture ≥ 0.8× a raw PutRecords loop into the same stream',
    status:
      cap && raw
        ? cap.perSecond >= 0.8 * raw
          ? 'met'
          : generatorBound
            ? 'inconclusive'
            : 'not met'
        : 'inconclusive',
    detail:
      cap && raw
        ? `${cap.perSecond.toFixed(0)} vs ${raw.toFixed(0)} records/s = ${(cap.perSecond / raw).toFixed(2)}×` +
          (generatorBound
            ? ` (capture kept up with the load generator's ${cap.generatorRate.toFixed(0)} commits/s)`
            : '')
        : 'not measured',
  });
  return targets;
}
