/**
 * `cdc backfill start|status|pause|resume|cancel|rate`: the backfill workflows (issue 11,
 * docs/backfill.md). `start` validates the request (zod), refuses a second backfill of a table
 * one already runs, and with `--wait` follows the progress bar to the end.
 */
import { Command, Option } from 'commander';
import { z } from 'zod';
import {
  BackfillConflictError,
  backfillWorkflowIdOf,
  runningBackfills,
  startBackfill,
} from '../../infra/backfillClient';
import type { BackfillRequest } from '../../domain/backfill/request';
import { MAX_CHUNK_SIZE, MAX_RATE_LIMIT } from '../../domain/backfill/request';
import {
  backfillProgressQuery,
  cancelBackfillSignal,
  pauseBackfillSignal,
  resumeBackfillSignal,
  setRateLimitSignal,
  type BackfillProgress,
} from '../../workflows/backfill/definitions';
import { NameSchema, ReasonSchema, TimeoutSchema } from '../args';
import { table } from '../output';
import {
  CliError,
  EXIT,
  notFound,
  pollUntil,
  usageError,
  zodParser,
  type Cli,
  type RegisterCommands,
  type Session,
} from '../runtime';

const QUERY_MS = 10_000;

const PositiveInt = (max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1).max(max);
const Rate = z.coerce
  .number({ message: 'must be a number of rows per second' })
  .positive()
  .max(MAX_RATE_LIMIT);
const IsoTime = z
  .string()
  .trim()
  .pipe(z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time, e.g. 2026-11-23T10:00:00Z' }));
const IdSchema = z
  .string()
  .trim()
  .regex(
    /^(cdc-backfill:)?[A-Za-z0-9._-]{1,100}$/,
    'a backfill id (letters, digits, . _ -), or its workflow id',
  );
/** `col=value`: numbers and true/false as such, `col=null` IS NULL, anything else a string. */
const WhereSchema = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*=.*$/, 'must be column=value (a lower-case column name)')
  .transform((s) => {
    const i = s.indexOf('=');
    const raw = s.slice(i + 1);
    const value: string | number | boolean | null =
      raw === 'null'
        ? null
        : raw === 'true'
          ? true
          : raw === 'false'
            ? false
            : /^-?\d+(\.\d+)?$/.test(raw)
              ? Number(raw)
              : raw;
    return [s.slice(0, i), value] as const;
  });
/** `shardId-000000000001=4960…` or `1=4960…`. */
const FromSeqSchema = z
  .string()
  .regex(
    /^(shardId-)?\d{1,12}=\d{1,128}$/,
    'must be <shard>=<sequence number>, e.g. 1=49660000000000000000000000000000000000000000000000000002',
  )
  .transform((s) => {
    const [shard, seq] = s.split('=');
    return [shard.startsWith('shardId-') ? shard : `shardId-${shard.padStart(12, '0')}`, seq] as const;
  });

const collect =
  <T>(parse: (v: string) => T) =>
  (value: string, previous: T[] | undefined) => [...(previous ?? []), parse(value)];

interface StartOptions {
  table?: string[];
  all?: boolean;
  mode: 'snapshot' | 'replay' | 'reconcile';
  chunkSize?: number;
  rate?: number;
  fromKey?: string;
  toKey?: string;
  where?: (readonly [string, string | number | boolean | null])[];
  since?: string;
  fromSeq?: (readonly [string, string])[];
  atSeq?: boolean;
  until?: string;
  id?: string;
  wait?: boolean;
}

/** The request `start` sends, from its options (a usage error for what does not fit together). */
export function requestFromOptions(o: StartOptions): BackfillRequest {
  if (!o.all && !o.table?.length) throw usageError('say which tables: --table <name> (repeatable) or --all');
  if (o.all && o.table?.length) throw usageError('give either --table or --all, not both');
  const filter =
    o.fromKey !== undefined || o.toKey !== undefined || o.where?.length
      ? {
          ...(o.fromKey !== undefined || o.toKey !== undefined
            ? {
                keyRange: {
                  ...(o.fromKey !== undefined ? { from: o.fromKey } : {}),
                  ...(o.toKey !== undefined ? { to: o.toKey } : {}),
                },
              }
            : {}),
          ...(o.where?.length ? { equals: Object.fromEntries(o.where) } : {}),
        }
      : undefined;
  const replay =
    o.mode === 'replay'
      ? {
          ...(o.since ? { since: o.since } : {}),
          ...(o.fromSeq?.length ? { fromSequence: Object.fromEntries(o.fromSeq) } : {}),
          ...(o.atSeq ? { inclusive: true } : {}),
          ...(o.until ? { until: o.until } : {}),
        }
      : undefined;
  if (o.mode !== 'replay' && (o.since || o.fromSeq?.length || o.until))
    throw usageError('--since, --from-seq and --until apply to --mode replay');
  return {
    tables: o.all ? 'all' : o.table!,
    mode: o.mode,
    ...(o.id ? { id: o.id } : {}),
    ...(filter ? { filter } : {}),
    ...(o.chunkSize !== undefined ? { chunkSize: o.chunkSize } : {}),
    ...(o.rate !== undefined ? { rateLimit: o.rate } : {}),
    ...(replay ? { replay } : {}),
  };
}

/** The `backfill` command and its subcommands. */
export function backfillCommand(cli: Cli): Command {
  const backfill = new Command('backfill').description(
    'backfill workflows (cdc-backfill:<id>): snapshot tables, replay the stream, reconcile after a TRUNCATE',
  );
  registerStart(backfill, cli);
  registerStatus(backfill, cli);
  registerSignalCommand(
    backfill,
    cli,
    'pause',
    'pause a backfill after its current chunk (survives worker restarts and continue-as-new)',
    (h, reason) => h.signal(pauseBackfillSignal, reason ? { reason } : {}),
    (p) => p.state === 'PAUSED',
  );
  registerSignalCommand(
    backfill,
    cli,
    'resume',
    'resume a paused backfill',
    (h) => h.signal(resumeBackfillSignal),
    (p) => p.state !== 'PAUSED',
  );
  registerSignalCommand(
    backfill,
    cli,
    'cancel',
    'stop a backfill cleanly: it finishes the current chunk and ends with a final report (CANCELLED)',
    (h, reason) => h.signal(cancelBackfillSignal, reason ? { reason } : {}),
    (p) => p.state === 'CANCELLED',
  );
  registerSignalCommand(
    backfill,
    cli,
    'rate',
    'change the rate limit (rows per second) of a running backfill',
    (h, n) => h.signal(setRateLimitSignal, { rowsPerSecond: Number(n) }),
    (p, n) => p.rateLimit === Number(n),
    { name: '<rowsPerSecond>', description: 'the new limit', parse: (v) => String(zodParser(Rate)(v)) },
  );
  return backfill;
}

/** `cdc backfill start`: a new backfill workflow, optionally followed to its end. */
function registerStart(backfill: Command, cli: Cli): void {
  backfill
    .command('start')
    .description('start a backfill; refused while another one runs on one of its tables')
    .option('--table <name>', 'a table of the table file (repeatable)', collect(zodParser(NameSchema)))
    .option('--all', 'every configured table')
    .addOption(
      new Option('--mode <mode>', 'what to do')
        .choices(['snapshot', 'replay', 'reconcile'])
        .default('snapshot'),
    )
    .option('--chunk-size <n>', 'rows per chunk (default 1000)', zodParser(PositiveInt(MAX_CHUNK_SIZE)))
    .option(
      '--rate <n>',
      'rows per second (default 2000; change it later with `cdc backfill rate`)',
      zodParser(Rate),
    )
    .option('--from-key <k>', 'snapshot: first value of the first key column (inclusive)')
    .option('--to-key <k>', 'snapshot: end of the first key column (exclusive)')
    .option(
      '--where <col=value>',
      'snapshot: only rows where the column equals the value (repeatable)',
      collect(zodParser(WhereSchema)),
    )
    .option('--since <iso>', 'replay: from this time (AT_TIMESTAMP on every shard)', zodParser(IsoTime))
    .option(
      '--from-seq <shard=seq>',
      'replay: after this sequence number of that shard (repeatable)',
      collect(zodParser(FromSeqSchema)),
    )
    .option('--at-seq', 'replay: with --from-seq, start at the record itself')
    .option(
      '--until <iso>',
      'replay: records that arrived up to this time (default: when the backfill starts)',
      zodParser(IsoTime),
    )
    .option('--id <id>', 'the backfill id (default <mode>-<table>-<time>)')
    .option('--wait', 'follow the progress until the backfill ends')
    .addHelpText(
      'after',
      `
Examples:
  cdc backfill start --table inventory
  cdc backfill start --table products --where category=tools --rate 500 --wait
  cdc backfill start --table inventory --from-key SKU-1000 --to-key SKU-2000 --chunk-size 500
  cdc backfill start --all --mode reconcile
  cdc backfill start --all --mode replay --since 2026-11-23T10:00:00Z --until 2026-11-23T11:00:00Z
Exit codes: 0 started (with --wait: DONE), 1 refused (another backfill runs on the table) or failed,
2 usage (an invalid request), 3 --wait: the workflow vanished.`,
    )
    .action(async (o: StartOptions) => {
      const request = requestFromOptions(o);
      await cli.changingSession(async (s) => {
        const client = await s.temporal();
        let handle;
        try {
          handle = await startBackfill(client, s.config, request);
        } catch (err) {
          if (err instanceof BackfillConflictError) throw new CliError(err.message, EXIT.ERROR);
          throw err;
        }
        const id = handle.workflowId.replace(/^cdc-backfill:/, '');
        if (!o.wait) {
          cli.out.result({ started: true, id, workflowId: handle.workflowId, request }, () =>
            [
              `started ${handle.workflowId}`,
              `  follow it: cdc backfill status ${id}`,
              `  pause/resume/cancel: cdc backfill pause ${id} | resume ${id} | cancel ${id}`,
            ].join('\n'),
          );
          return;
        }
        cli.out.info(`started ${handle.workflowId}`);
        const final = await follow(cli, s, handle.workflowId);
        cli.out.result(final, () => report(final));
        if (final.state !== 'DONE') cli.setExit(EXIT.ERROR);
      });
    });
}

/** `cdc backfill status [id]`: one backfill’s progress, or every running one’s. */
function registerStatus(backfill: Command, cli: Cli): void {
  backfill
    .command('status')
    .description('the progress of one backfill, or every backfill running on this pipeline')
    .argument('[id]', 'backfill id or workflow id', zodParser(IdSchema))
    .option('--watch', 'follow the progress until the backfill ends')
    .action(async (id: string | undefined, o: { watch?: boolean }) => {
      await cli.session(async (s) => {
        const client = await s.temporal();
        if (!id) {
          const running = await runningBackfills(client, s.config);
          const rows = await Promise.all(
            running.map(async (r) => {
              const p = await s
                .deadline(QUERY_MS, () =>
                  client.workflow.getHandle(r.workflowId).query(backfillProgressQuery),
                )
                .catch(() => undefined);
              return { ...r, progress: p };
            }),
          );
          cli.out.result(
            rows.map((r) => ({
              id: r.id,
              workflowId: r.workflowId,
              tables: r.tables,
              progress: r.progress ?? null,
            })),
            () =>
              rows.length
                ? table(
                    ['ID', 'MODE', 'STATE', 'TABLES', 'PROGRESS'],
                    rows.map((r) => [
                      r.id,
                      r.progress?.mode ?? r.mode,
                      r.progress?.state ?? r.state,
                      r.tables.join(','),
                      r.progress?.line,
                    ]),
                  )
                : 'no backfill running',
          );
          return;
        }
        const workflowId = backfillWorkflowIdOf(id);
        const p = o.watch ? await follow(cli, s, workflowId) : await progressOf(s, workflowId);
        cli.out.result(p, () => report(p));
        if (p.state === 'FAILED' || p.state === 'STUCK') cli.setExit(EXIT.UNHEALTHY);
      });
    });
}

/** A subcommand that signals a running backfill and waits until its progress shows the effect. */
function registerSignalCommand(
  backfill: Command,
  cli: Cli,
  name: string,
  description: string,
  send: (
    h: ReturnType<Awaited<ReturnType<Session['temporal']>>['workflow']['getHandle']>,
    arg: string | undefined,
  ) => Promise<void>,
  done: (p: BackfillProgress, arg: string | undefined) => boolean,
  argument?: { name: string; description: string; parse: (v: string) => string },
): void {
  const c = backfill
    .command(name)
    .description(description)
    .argument('<id>', 'backfill id or workflow id', zodParser(IdSchema));
  if (argument) c.argument(argument.name, argument.description, argument.parse);
  if (name === 'pause' || name === 'cancel')
    c.option('-r, --reason <text>', 'why (kept in the notes)', zodParser(ReasonSchema));
  c.addOption(
    new Option('-t, --timeout <seconds>', 'how long to wait for the acknowledgement')
      .argParser(zodParser(TimeoutSchema))
      .default(30),
  );
  c.action(async (id: string, ...rest: unknown[]) => {
    const arg = argument ? (rest[0] as string) : undefined;
    const o = (argument ? rest[1] : rest[0]) as { reason?: string; timeout: number };
    await cli.changingSession(async (s) => {
      const client = await s.temporal();
      const workflowId = backfillWorkflowIdOf(id);
      const handle = client.workflow.getHandle(workflowId);
      const d = await s.deadline(QUERY_MS, () => handle.describe());
      if (d.status.name !== 'RUNNING')
        throw notFound(`${workflowId} is not running (${d.status.name.toLowerCase()})`);
      await send(handle, name === 'pause' || name === 'cancel' ? o.reason : arg);
      let last: BackfillProgress | undefined;
      const ok = await pollUntil(async () => {
        if (name === 'cancel') {
          const st = await s.deadline(QUERY_MS, () => handle.describe());
          if (st.status.name !== 'RUNNING') {
            last = (await handle.result()) as BackfillProgress;
            return last;
          }
        }
        last = await s.deadline(QUERY_MS, () => handle.query(backfillProgressQuery));
        return done(last, arg) ? last : undefined;
      }, o.timeout * 1000);
      const result = { action: name, workflowId, acknowledged: ok !== undefined, progress: last ?? null };
      cli.out.result(result, () =>
        ok
          ? `${workflowId}: ${name} acknowledged\n${report(ok)}`
          : `${workflowId}: ${name} signalled, not acknowledged within ${o.timeout}s`,
      );
      if (!ok)
        throw new CliError(
          `${name} of ${workflowId} not acknowledged within ${o.timeout}s (state ${last?.state ?? '?'})`,
        );
    });
  });
}

/** The registration every group of cli/commands/ has. */
export const registerBackfill: RegisterCommands = (program: Command, cli: Cli) => {
  program.addCommand(backfillCommand(cli));
};

async function progressOf(s: Session, workflowId: string): Promise<BackfillProgress> {
  const client = await s.temporal();
  const handle = client.workflow.getHandle(workflowId);
  const d = await s.deadline(QUERY_MS, () => handle.describe());
  if (d.status.name === 'COMPLETED') return (await handle.result()) as BackfillProgress;
  return s.deadline(QUERY_MS, () => handle.query(backfillProgressQuery));
}

/** Prints the progress line every 2 s until the backfill closes; returns the final report. */
async function follow(cli: Cli, s: Session, workflowId: string): Promise<BackfillProgress> {
  const client = await s.temporal();
  const handle = client.workflow.getHandle(workflowId);
  let lastLine = '';
  for (;;) {
    const d = await s.deadline(QUERY_MS, () => handle.describe());
    if (d.status.name !== 'RUNNING') {
      if (d.status.name === 'COMPLETED') return (await handle.result()) as BackfillProgress;
      throw new CliError(`${workflowId} ended ${d.status.name.toLowerCase()}`);
    }
    const p = await s.deadline(QUERY_MS, () => handle.query(backfillProgressQuery)).catch(() => undefined);
    if (p) {
      const line = `${p.state} ${p.current ?? ''} ${p.line}`.replace(/\s+/g, ' ');
      if (line !== lastLine) cli.out.info(line);
      lastLine = line;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function report(p: BackfillProgress): string {
  const c = p.counters;
  return [
    `${p.id} (${p.mode}) ${p.state}${p.current ? ` on ${p.current}` : ''}`,
    `  ${p.line}`,
    `  read ${c.read}, applied ${c.applied}, stale ${c.stale}, published ${c.published}` +
      (c.tombstoned ? `, tombstoned ${c.tombstoned}` : '') +
      (c.rejected ? `, refused ${c.rejected}` : '') +
      (c.skipped ? `, skipped ${c.skipped}` : '') +
      `; ${p.chunks} chunks; rate limit ${p.rateLimit} rows/s`,
    `  tables: ${p.tables.join(', ')}`,
    p.lastKey !== undefined ? `  last key: ${p.lastKey}` : '',
    p.pausedReason ? `  paused: ${p.pausedReason}` : '',
    p.lastError ? `  error (${p.lastError.type}): ${p.lastError.message}` : '',
    p.notes.length
      ? `  notes:\n${p.notes
          .slice(-5)
          .map((n) => `    ${n}`)
          .join('\n')}`
      : '',
  ]
    .filter(Boolean)
    .join('\n');
}
