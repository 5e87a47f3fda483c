/**
 * `cdc status [--watch [--interval s]]`: every consumer's shards of the configured stream, capture
 * and its replication slot, open backfills (on the pipeline's task queue), dead letters by status and category.
 * Exit 4 when something is STUCK or capture is failing, 3 when the pipeline's workflows are not
 * running, else 0.
 */
import { Option, type Command } from 'commander';
import type { Client as TemporalClient, WorkflowExecutionStatusName } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { ScanCommand, type ScanCommandOutput } from '@aws-sdk/lib-dynamodb';
import { slotHealth } from '../../activities/capture/slots';
import type { SlotHealth } from '../../domain/capture/captureTypes';
import { pgClient } from '../../infra/pgConnection';
import { captureWorkflowId, SA, supervisorWorkflowId } from '../../workflows/names';
import { healthQuery, type CaptureStatus } from '../../workflows/capture';
import { overviewQuery, type SupervisorOverview } from '../../workflows/supervisor/definitions';
import { statusQuery, type ShardCounters, type ShardStatus } from '../../workflows/shardReader/definitions';
import { ConsumerSchema, IntervalSchema } from '../args';
import { ago, formatBytes, formatDuration, formatRate, shortSequence, table } from '../output';
import {
  EXIT,
  toCliError,
  zodParser,
  type Cli,
  type ExitCode,
  type RegisterCommands,
  type Session,
} from '../runtime';

/** How long one query may take (a workflow without a worker never answers). */
const QUERY_MS = 10_000;

export interface ShardRates {
  records: number;
  applied: number;
  published: number;
}

export interface ShardRow {
  shardId: string;
  workflowId: string;
  phase: string;
  waitingFor?: string[];
  status?: ShardStatus;
  /** Per second, between two `--watch` refreshes. */
  rates?: ShardRates;
  error?: string;
}

export interface ConsumerReport {
  consumer: string;
  supervisorWorkflowId: string;
  /** The supervisor's execution status (RUNNING, TERMINATED, …), or NOT_FOUND. */
  workflowStatus: WorkflowExecutionStatusName | 'NOT_FOUND';
  pausedReason?: string;
  lastScan?: string;
  notes: string[];
  shards: ShardRow[];
  error?: string;
}

export interface CaptureReport {
  workflowId: string;
  slot: string;
  workflowStatus?: WorkflowExecutionStatusName | 'NOT_FOUND';
  status?: CaptureStatus;
  error?: string;
  /** Read from PostgreSQL (pg_replication_slots) now. */
  slotHealth?: SlotHealth;
  slotError?: string;
}

export interface BackfillRow {
  workflowId: string;
  type: string;
  startTime: string;
  /** Its CdcState. */
  state?: string;
  /** The tables it covers (its memo). */
  tables?: string[];
}

export interface DlqReport {
  table: string;
  total: number;
  byStatus: Record<string, number>;
  byCategory: Record<string, number>;
  error?: string;
}

export interface StatusReport {
  at: string;
  stream: string;
  consumers: ConsumerReport[];
  capture: CaptureReport;
  backfills: { open: BackfillRow[]; error?: string };
  dlq: DlqReport;
  /** Why the exit code is 4: something STUCK, capture failing. */
  problems: string[];
  /** Why the exit code is 3: the pipeline's workflows not running. */
  missing: string[];
  /** Worth knowing, no effect on the exit code (a query that timed out, a section that failed). */
  warnings: string[];
  healthy: boolean;
}

interface StatusOptions {
  watch?: boolean;
  interval: number;
  consumer?: string;
}

export const registerStatus: RegisterCommands = (program: Command, cli: Cli) => {
  program
    .command('status')
    .description(
      "the pipeline at a glance: every consumer's shards (state, lag, checkpoint, counters, errors, the record in trouble), capture and its slot, open backfills, dead letters",
    )
    .option('-w, --watch', 'refresh in place until Ctrl-C (with --json: one JSON document per line)')
    .addOption(
      new Option('-i, --interval <seconds>', 'seconds between refreshes with --watch')
        .argParser(zodParser(IntervalSchema))
        .default(5),
    )
    .option(
      '-c, --consumer <name>',
      'only this consumer (default: every consumer of the stream)',
      zodParser(ConsumerSchema),
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 healthy, 4 a shard STUCK or capture failing, 3 the consumer's supervisor or capture
not running, 1 error. With --watch: 0 on Ctrl-C.
Rates (records, applied, published per second) are computed between two --watch refreshes.

Examples:
  cdc status
  cdc status --json | jq '.consumers[].shards[] | {shardId, state: .status.state}'
  cdc status --watch --interval 2`,
    )
    .action(async (opts: StatusOptions) => {
      await cli.session(async (s) => {
        if (opts.watch) await watch(cli, s, opts);
        else {
          const report = await collectStatus(s, opts);
          cli.out.result(report, () => renderStatus(report));
          cli.setExit(statusExitCode(report));
        }
      });
    });
};

/** 4 when something is STUCK or capture fails, 3 when the workflows are missing, else 0. */
export function statusExitCode(report: Pick<StatusReport, 'problems' | 'missing'>): ExitCode {
  if (report.problems.length) return EXIT.UNHEALTHY;
  if (report.missing.length) return EXIT.NOT_FOUND;
  return EXIT.OK;
}

async function watch(cli: Cli, s: Session, opts: StatusOptions): Promise<void> {
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on('SIGINT', onSigint);
  const stopped = new Promise<undefined>((r) => stop.signal.addEventListener('abort', () => r(undefined)));
  let previous: { at: number; counters: Map<string, ShardCounters> } | undefined;
  try {
    while (!stop.signal.aborted) {
      const report = await Promise.race([collectStatus(s, opts), stopped]);
      if (!report) break;
      const now = Date.parse(report.at);
      if (previous) addRates(report, previous.counters, (now - previous.at) / 1000);
      previous = { at: now, counters: countersOf(report) };
      const footer = `\nrefreshing every ${opts.interval}s; Ctrl-C to exit`;
      cli.out.stream(report, () => `\x1b[H\x1b[2J${renderStatus(report)}${footer}`);
      await Promise.race([new Promise((r) => setTimeout(r, opts.interval * 1000)), stopped]);
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  cli.exitCode = EXIT.OK;
}

const shardKey = (consumer: string, shardId: string) => `${consumer}/${shardId}`;

function countersOf(report: StatusReport): Map<string, ShardCounters> {
  const m = new Map<string, ShardCounters>();
  for (const c of report.consumers)
    for (const row of c.shards) if (row.status) m.set(shardKey(c.consumer, row.shardId), row.status.counters);
  return m;
}

/** Per-second rates of each shard from the counters of the previous refresh, `seconds` ago. */
export function addRates(report: StatusReport, previous: Map<string, ShardCounters>, seconds: number): void {
  if (!(seconds > 0)) return;
  for (const c of report.consumers)
    for (const row of c.shards) {
      const before = previous.get(shardKey(c.consumer, row.shardId));
      const now = row.status?.counters;
      if (!before || !now) continue;
      const rate = (k: keyof ShardRates) => Math.max(0, now[k] - before[k]) / seconds;
      row.rates = { records: rate('records'), applied: rate('applied'), published: rate('published') };
    }
}

/** Reads everything `status` shows; a failing section is reported in it, never thrown. */
export async function collectStatus(s: Session, opts: { consumer?: string } = {}): Promise<StatusReport> {
  const { config } = s;
  const client = await s.temporal();
  const [consumers, capture, backfills, dlq] = await Promise.all([
    collectConsumers(s, client, opts.consumer),
    collectCapture(s, client),
    collectBackfills(s, client),
    collectDlq(s),
  ]);
  const report: StatusReport = {
    at: new Date().toISOString(),
    stream: config.stream,
    consumers,
    capture,
    backfills,
    dlq,
    problems: [],
    missing: [],
    warnings: [],
    healthy: true,
  };
  judge(report);
  return report;
}

/** Fills problems, missing, warnings and healthy from what was read. */
export function judge(report: StatusReport): void {
  const { problems, missing, warnings } = report;
  for (const c of report.consumers) {
    if (c.workflowStatus !== 'RUNNING')
      missing.push(
        `consumer ${c.consumer}: supervisor ${c.supervisorWorkflowId} ${describeStatus(c.workflowStatus)}`,
      );
    if (c.error) warnings.push(`consumer ${c.consumer}: ${c.error}`);
    for (const row of c.shards) {
      if (row.error) warnings.push(`shard ${row.shardId} (${c.consumer}): ${row.error}`);
      const st = row.status;
      if (st?.state === 'STUCK')
        problems.push(`shard ${row.shardId} (${c.consumer}) STUCK${stuckDetail(st)}`);
      if (st?.retentionGap)
        problems.push(
          `shard ${row.shardId} (${c.consumer}): records after ${st.retentionGap.afterSequenceNumber} were lost to the stream's retention (backfill what was missed)`,
        );
    }
  }
  const cap = report.capture;
  if (
    cap.workflowStatus === 'NOT_FOUND' ||
    cap.workflowStatus === 'TERMINATED' ||
    cap.workflowStatus === 'COMPLETED'
  )
    missing.push(`capture: ${cap.workflowId} ${describeStatus(cap.workflowStatus)}`);
  else if (cap.workflowStatus && cap.workflowStatus !== 'RUNNING')
    problems.push(`capture: ${cap.workflowId} ${describeStatus(cap.workflowStatus)}`);
  if (cap.status?.state === 'STUCK') {
    const e = cap.status.lastError;
    problems.push(
      `capture STUCK` +
        (e
          ? `: ${e.message} (${e.category}, ${e.failures} failed runs since ${e.since}${e.retryAt ? `, retry at ${e.retryAt}` : ''})`
          : ''),
    );
  }
  if (cap.error) warnings.push(`capture: ${cap.error}`);
  if (cap.slotHealth?.walStatus === 'lost')
    problems.push(`slot ${cap.slot} was invalidated (WAL removed): re-provision it and backfill`);
  if (cap.slotError) warnings.push(`slot ${cap.slot}: ${cap.slotError}`);
  if (report.backfills.error) warnings.push(`backfills: ${report.backfills.error}`);
  if (report.dlq.error) warnings.push(`dead letters: ${report.dlq.error}`);
  report.healthy = problems.length === 0 && missing.length === 0;
}

const describeStatus = (s: string | undefined) =>
  s === 'NOT_FOUND' ? 'not found' : s === undefined ? 'unknown' : `is ${s.toLowerCase().replace('_', ' ')}`;

function stuckDetail(st: ShardStatus): string {
  const parts: string[] = [];
  const e = st.lastError;
  if (e) parts.push(` in ${e.step}: ${e.message} (${e.category}, ${e.attempts} attempts)`);
  const t = st.trouble;
  if (t) parts.push(`; record in trouble: ${troubleText(t)}`);
  return parts.join('');
}

function troubleText(t: NonNullable<ShardStatus['trouble']>): string {
  return [
    `seq ${t.sequenceNumber}`,
    t.table ? `table ${t.table}` : undefined,
    t.entityId ? `entity ${t.entityId}` : undefined,
    t.op ? `op ${t.op}` : undefined,
    t.version ? `version ${t.version}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

async function describeWorkflow(
  client: TemporalClient,
  workflowId: string,
): Promise<WorkflowExecutionStatusName | 'NOT_FOUND'> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

const message = (err: unknown) => toCliError(err).message;

/** The consumers of the stream: the configured one (or --consumer) and every running supervisor. */
async function collectConsumers(
  s: Session,
  client: TemporalClient,
  only: string | undefined,
): Promise<ConsumerReport[]> {
  const { stream } = s.config;
  const names = new Set<string>([only ?? s.config.consumer]);
  if (!only) {
    const prefix = supervisorWorkflowId(stream, '');
    try {
      const query = `WorkflowId STARTS_WITH "${prefix}" AND ExecutionStatus = "Running"`;
      for await (const wf of client.workflow.list({ query })) names.add(wf.workflowId.slice(prefix.length));
    } catch {
      // visibility unavailable: the configured consumer only
    }
  }
  return Promise.all([...names].sort().map((consumer) => collectConsumer(s, client, consumer)));
}

async function collectConsumer(
  s: Session,
  client: TemporalClient,
  consumer: string,
): Promise<ConsumerReport> {
  const { stream } = s.config;
  const workflowId = supervisorWorkflowId(stream, consumer);
  const report: ConsumerReport = {
    consumer,
    supervisorWorkflowId: workflowId,
    workflowStatus: 'NOT_FOUND',
    notes: [],
    shards: [],
  };
  try {
    report.workflowStatus = await s.deadline(QUERY_MS, () => describeWorkflow(client, workflowId));
    if (report.workflowStatus !== 'RUNNING') return report;
    const overview: SupervisorOverview = await s.deadline(QUERY_MS, () =>
      client.workflow.getHandle(workflowId).query(overviewQuery),
    );
    Object.assign(report, {
      ...(overview.pausedReason ? { pausedReason: overview.pausedReason } : {}),
      ...(overview.lastScan ? { lastScan: overview.lastScan } : {}),
      notes: overview.notes,
    });
    report.shards = await Promise.all(
      overview.shards.map(async (entry): Promise<ShardRow> => {
        const row: ShardRow = {
          shardId: entry.shardId,
          workflowId: entry.workflowId,
          phase: entry.phase,
          ...(entry.waitingFor?.length ? { waitingFor: entry.waitingFor } : {}),
        };
        if (entry.phase !== 'read') return row;
        try {
          row.status = await s.deadline(QUERY_MS, () =>
            client.workflow.getHandle(entry.workflowId).query(statusQuery),
          );
        } catch (err) {
          row.error = `status query failed: ${message(err)}`;
        }
        return row;
      }),
    );
  } catch (err) {
    report.error = message(err);
  }
  return report;
}

async function collectCapture(s: Session, client: TemporalClient): Promise<CaptureReport> {
  const { slot } = s.config;
  const workflowId = captureWorkflowId(slot);
  const report: CaptureReport = { workflowId, slot };
  const workflow = (async () => {
    try {
      report.workflowStatus = await s.deadline(QUERY_MS, () => describeWorkflow(client, workflowId));
      if (report.workflowStatus === 'RUNNING')
        report.status = await s.deadline(QUERY_MS, () =>
          client.workflow.getHandle(workflowId).query(healthQuery),
        );
    } catch (err) {
      report.error = message(err);
    }
  })();
  const pg = (async () => {
    try {
      report.slotHealth = await slotHealth(() => {
        const c = pgClient({ connectionTimeoutMillis: 5_000 });
        c.on('error', () => undefined);
        return c;
      }, slot);
    } catch (err) {
      report.slotError = message(err);
    }
  })();
  await Promise.all([workflow, pg]);
  return report;
}

/** The backfills running on this pipeline's task queue. */
async function collectBackfills(s: Session, client: TemporalClient): Promise<StatusReport['backfills']> {
  try {
    const open: BackfillRow[] = [];
    const query =
      `WorkflowId STARTS_WITH "cdc-backfill:" AND ExecutionStatus = "Running" ` +
      `AND TaskQueue = "${s.config.taskQueue.replace(/"/g, '')}"`;
    for await (const wf of client.workflow.list({ query })) {
      const state = wf.typedSearchAttributes.get(SA.state);
      const tables = wf.memo?.tables;
      open.push({
        workflowId: wf.workflowId,
        type: wf.type,
        startTime: wf.startTime.toISOString(),
        ...(state ? { state } : {}),
        ...(Array.isArray(tables) ? { tables: tables.map(String) } : {}),
      });
    }
    return { open };
  } catch (err) {
    return { open: [], error: message(err) };
  }
}

/** Counts of this pipeline's dead letters (this consumer's shards and this slot's capture). */
async function collectDlq(s: Session): Promise<DlqReport> {
  const { config } = s;
  const report: DlqReport = { table: config.tables.dlq, total: 0, byStatus: {}, byCategory: {} };
  const prefixes = [`SHARD#${config.consumer}#${config.stream}#`, `CAPTURE#${config.slot}#`];
  try {
    let start: Record<string, unknown> | undefined;
    do {
      const page: ScanCommandOutput = await s.aws().doc.send(
        new ScanCommand({
          TableName: config.tables.dlq,
          ProjectionExpression: 'pk, #status, category',
          FilterExpression: 'begins_with(pk, :shards) OR begins_with(pk, :capture)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':shards': prefixes[0], ':capture': prefixes[1] },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        report.total++;
        const status = String(item.status ?? 'unknown');
        const category = String(item.category ?? 'unknown');
        report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
        report.byCategory[category] = (report.byCategory[category] ?? 0) + 1;
      }
      start = page.LastEvaluatedKey;
    } while (start);
  } catch (err) {
    report.error = message(err);
  }
  return report;
}

/** The report for humans. */
export function renderStatus(r: StatusReport, now = Date.parse(r.at)): string {
  const lines: string[] = [];
  lines.push(`cdc status: stream ${r.stream} at ${r.at}`);
  for (const c of r.consumers) {
    lines.push('');
    const head = [`consumer ${c.consumer}`, `supervisor ${c.supervisorWorkflowId}`];
    if (c.workflowStatus !== 'RUNNING') head.push(describeStatus(c.workflowStatus).toUpperCase());
    if (c.lastScan) head.push(`last scan ${ago(c.lastScan, now)}`);
    lines.push(head.join('  '));
    if (c.pausedReason) lines.push(`  every shard paused: ${c.pausedReason}`);
    if (c.error) lines.push(`  error: ${c.error}`);
    if (c.shards.length) {
      const rows = c.shards.map((row) => {
        const st = row.status;
        const k = st?.counters;
        return [
          row.shardId,
          st?.state ?? (row.phase === 'read' ? '?' : row.phase),
          st ? formatDuration(st.lagMs) : undefined,
          shortSequence(st?.checkpoint),
          k?.records,
          k?.applied,
          k?.published,
          k?.stale,
          k?.outdated,
          k?.deadLettered,
          k?.skipped,
          row.rates ? formatRate(row.rates.records) : undefined,
        ];
      });
      lines.push(
        table(
          [
            'SHARD',
            'STATE',
            'LAG',
            'CHECKPOINT',
            'RECORDS',
            'APPLIED',
            'PUBLISHED',
            'STALE',
            'OUTDATED',
            'DLQ',
            'SKIPPED',
            'REC/S',
          ],
          rows,
          '  ',
        ),
      );
    } else if (c.workflowStatus === 'RUNNING' && !c.error) lines.push('  (no shards yet)');
    for (const row of c.shards) lines.push(...shardDetails(row));
    for (const n of c.notes.slice(-3)) lines.push(`  note: ${n}`);
  }

  lines.push('');
  const cap = r.capture;
  const capHead = [`capture ${cap.workflowId}`];
  if (cap.status) capHead.push(cap.status.state, `runs ${cap.status.captureRuns}`);
  else if (cap.workflowStatus) capHead.push(describeStatus(cap.workflowStatus).toUpperCase());
  if (cap.status?.lagging) capHead.push('LAG ALERT');
  lines.push(capHead.join('  '));
  if (cap.error) lines.push(`  error: ${cap.error}`);
  const e = cap.status?.lastError;
  if (e)
    lines.push(
      `  ${cap.status?.state === 'STUCK' ? 'failing' : 'last error'}: ${e.message} (${e.category}, ${e.failures} failed runs, at ${e.at}${e.retryAt && cap.status?.state === 'STUCK' ? `, retry at ${e.retryAt}` : ''})`,
    );
  const h = cap.slotHealth;
  if (h)
    lines.push(
      `  slot ${h.slot}: ${h.active ? 'active' : 'inactive'}, wal_status ${h.walStatus ?? '-'}, confirmed_flush_lsn ${h.confirmedFlushLsn ?? '-'}, lag ${formatBytes(h.lagBytes)}, WAL retained ${formatBytes(h.walRetainedBytes)}`,
    );
  else if (cap.slotError) lines.push(`  slot ${cap.slot}: ${cap.slotError}`);

  lines.push('');
  if (r.backfills.error) lines.push(`backfills: unknown (${r.backfills.error})`);
  else if (!r.backfills.open.length) lines.push('backfills: none');
  else {
    lines.push('backfills:');
    lines.push(
      table(
        ['WORKFLOW', 'STATE', 'TABLES', 'STARTED'],
        r.backfills.open.map((b) => [b.workflowId, b.state, b.tables?.join(','), ago(b.startTime, now)]),
        '  ',
      ),
    );
  }

  lines.push('');
  const d = r.dlq;
  if (d.error) lines.push(`dead letters (${d.table}): unknown (${d.error})`);
  else {
    const counts = (m: Record<string, number>) =>
      Object.entries(m)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    lines.push(
      `dead letters (${d.table}): ${d.total}` +
        (d.total ? `; by status: ${counts(d.byStatus)}; by category: ${counts(d.byCategory)}` : ''),
    );
  }

  lines.push('');
  if (r.problems.length) {
    lines.push('UNHEALTHY:');
    for (const p of r.problems) lines.push(`  - ${p}`);
  }
  if (r.missing.length) {
    lines.push('NOT RUNNING:');
    for (const m of r.missing) lines.push(`  - ${m}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.healthy) lines.push('healthy');
  return lines.join('\n');
}

function shardDetails(row: ShardRow): string[] {
  const out: string[] = [];
  const st = row.status;
  if (row.waitingFor?.length) out.push(`  ${row.shardId}: waiting for parent ${row.waitingFor.join(', ')}`);
  if (row.error) out.push(`  ${row.shardId}: ${row.error}`);
  if (!st) return out;
  if (st.state === 'STUCK' && st.lastError) {
    const e = st.lastError;
    out.push(`  ${row.shardId} STUCK in step ${e.step}: ${e.message}`);
    out.push(`      category ${e.category}, ${e.attempts} attempts, last at ${e.at}`);
    if (st.trouble) out.push(`      record in trouble: ${troubleText(st.trouble)}`);
    if (st.batch) out.push(`      batch: ${st.batch.size} records, ${st.batch.first} .. ${st.batch.last}`);
    if (st.trouble)
      out.push(
        `      to skip it: cdc skip --shard ${row.shardId} --seq ${st.trouble.sequenceNumber} --reason "…"`,
      );
  } else if (st.lastError && st.state !== 'STUCK')
    out.push(
      `  ${row.shardId} last error in ${st.lastError.step}: ${st.lastError.message} (at ${st.lastError.at})`,
    );
  if (st.pausedReason) out.push(`  ${row.shardId} paused: ${st.pausedReason}`);
  if (st.retentionGap)
    out.push(
      `  ${row.shardId} RETENTION GAP after ${st.retentionGap.afterSequenceNumber} (${st.retentionGap.detectedAt}): backfill what was missed`,
    );
  return out;
}
