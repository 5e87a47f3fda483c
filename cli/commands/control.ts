/**
 * `cdc pause`, `cdc resume`, `cdc skip`: the operator's signals to the shard readers (one shard) or
 * the supervisor (`--all`), each confirmed by querying the status until the workflow shows it
 * acted (exit 1 when it does not within --timeout).
 */
import { Option, type Command } from 'commander';
import type { Client as TemporalClient } from '@temporalio/client';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { deadLetterKey } from '../../domain/core/itemKeys';
import { sortableSequence } from '../../domain/shards/shardTypes';
import { shardWorkflowId, supervisorWorkflowId } from '../../workflows/names';
import {
  pauseSignal,
  resumeSignal,
  skipRecordSignal,
  statusQuery,
  type ShardStatus,
} from '../../workflows/shardReader/definitions';
import {
  overviewQuery,
  pauseAllSignal,
  resumeAllSignal,
  type SupervisorOverview,
} from '../../workflows/supervisor/definitions';
import { ConsumerSchema, ReasonSchema, SequenceNumberSchema, ShardIdSchema, TimeoutSchema } from '../args';
import { table } from '../output';
import {
  CliError,
  notFound,
  pollUntil,
  usageError,
  zodParser,
  type Cli,
  type RegisterCommands,
  type Session,
} from '../runtime';

const QUERY_MS = 10_000;

interface TargetOptions {
  shard?: string;
  all?: boolean;
  consumer?: string;
  timeout: number;
}

const consumerOption = () =>
  new Option(
    '-c, --consumer <name>',
    'the consumer (default: CDC_CONSUMER, i.e. the configured one)',
  ).argParser(zodParser(ConsumerSchema));
const timeoutOption = () =>
  new Option('-t, --timeout <seconds>', 'how long to wait for the acknowledgement')
    .argParser(zodParser(TimeoutSchema))
    .default(10);
const shardOption = (what: string) =>
  new Option('-s, --shard <id>', `${what} (shardId-000000000001, or its number)`).argParser(
    zodParser(ShardIdSchema),
  );

/** The one target of pause/resume: a shard, or every shard (`--all`). */
function target(opts: TargetOptions): { shard: string } | { all: true } {
  if (opts.shard && opts.all) throw usageError('give either --shard or --all, not both');
  if (opts.shard) return { shard: opts.shard };
  if (opts.all) return { all: true };
  throw usageError('say which shard: --shard <id>, or --all for every shard');
}

export const registerControl: RegisterCommands = (program: Command, cli: Cli) => {
  program
    .command('pause')
    .description(
      'pause one shard reader (--shard) or every shard (--all, through the supervisor); waits until PAUSED',
    )
    .addOption(shardOption('the shard to pause'))
    .option('-a, --all', 'every shard of the consumer')
    .requiredOption(
      '-r, --reason <text>',
      'why (shown in the status and the Web UI)',
      zodParser(ReasonSchema),
    )
    .addOption(consumerOption())
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      `
A pause survives worker restarts and continue-as-new; the shard finishes its current step first.
Exit codes: 0 acknowledged (PAUSED), 1 not acknowledged in time, 2 usage, 3 workflow not found.

Examples:
  cdc pause --shard 1 --reason "deploying consumer"
  cdc pause --all --reason "maintenance window"`,
    )
    .action(async (opts: TargetOptions & { reason: string }) => {
      const t = target(opts);
      await cli.changingSession((s) => control(cli, s, opts, t, { action: 'pause', reason: opts.reason }));
    });

  program
    .command('resume')
    .description(
      'resume one shard reader (--shard) or every shard (--all); waits until it is no longer PAUSED',
    )
    .addOption(shardOption('the shard to resume'))
    .option('-a, --all', 'every shard of the consumer')
    .addOption(consumerOption())
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      `
Exit codes: 0 acknowledged, 1 not acknowledged in time, 2 usage, 3 workflow not found.

Examples:
  cdc resume --shard shardId-000000000001
  cdc resume --all`,
    )
    .action(async (opts: TargetOptions) => {
      const t = target(opts);
      await cli.changingSession((s) => control(cli, s, opts, t, { action: 'resume' }));
    });

  program
    .command('skip')
    .description('skip the record in trouble of a STUCK shard: park it in the DLQ with your reason, move on')
    .addOption(shardOption('the STUCK shard').makeOptionMandatory())
    .requiredOption(
      '-q, --seq <sequenceNumber>',
      'the sequence number of the record (cdc status shows it)',
      zodParser(SequenceNumberSchema),
    )
    .requiredOption('-r, --reason <text>', 'why (kept with the dead letter)', zodParser(ReasonSchema))
    .addOption(consumerOption())
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      `
The record must be in the batch the shard is holding (the record in trouble of a STUCK shard).
Exit codes: 0 skipped (in the DLQ), 1 refused or not acknowledged in time, 2 usage, 3 not found.

Example:
  cdc skip --shard 1 --seq 49660000000000000000000000000000000000000000000000000002 --reason "ticket OPS-42"`,
    )
    .action(
      async (opts: { shard: string; seq: string; reason: string; consumer?: string; timeout: number }) => {
        await cli.changingSession((s) => skip(cli, s, opts));
      },
    );
};

type Action = { action: 'pause'; reason: string } | { action: 'resume' };

async function control(
  cli: Cli,
  s: Session,
  opts: TargetOptions,
  t: { shard: string } | { all: true },
  a: Action,
): Promise<void> {
  const client = await s.temporal();
  const consumer = opts.consumer ?? s.config.consumer;
  const started = Date.now();
  const done = (st: ShardStatus) =>
    a.action === 'pause'
      ? st.state === 'PAUSED' && st.pausedReason === a.reason
      : st.state !== 'PAUSED' && !st.pausedReason;

  if ('shard' in t) {
    const workflowId = shardWorkflowId(s.config.stream, consumer, t.shard);
    await requireRunning(s, client, workflowId, `shard reader of ${t.shard} (consumer ${consumer})`);
    const handle = client.workflow.getHandle(workflowId);
    if (a.action === 'pause') await handle.signal(pauseSignal, { reason: a.reason });
    else await handle.signal(resumeSignal);
    let last: ShardStatus | undefined;
    const ok = await pollUntil(async () => {
      last = await s.deadline(QUERY_MS, () => handle.query(statusQuery));
      return done(last) ? last : undefined;
    }, opts.timeout * 1000);
    const result = {
      action: a.action,
      consumer,
      shardId: t.shard,
      workflowId,
      acknowledged: ok !== undefined,
      waitedMs: Date.now() - started,
      state: last?.state,
      pausedReason: last?.pausedReason ?? null,
    };
    cli.out.result(result, () =>
      ok
        ? `${t.shard}: ${a.action} acknowledged in ${(result.waitedMs / 1000).toFixed(1)}s, state ${ok.state}` +
          (ok.pausedReason ? ` (reason: ${ok.pausedReason})` : '')
        : `${t.shard}: ${a.action} signalled, not acknowledged within ${opts.timeout}s: state ${last?.state ?? '?'}`,
    );
    if (!ok)
      throw new CliError(
        `${a.action} of ${t.shard} not acknowledged within ${opts.timeout}s (state ${last?.state ?? '?'}` +
          (a.action === 'pause' && last?.pausedReason === a.reason
            ? ', pause recorded: the shard finishes its current step first)'
            : ')'),
      );
    return;
  }

  const workflowId = supervisorWorkflowId(s.config.stream, consumer);
  await requireRunning(s, client, workflowId, `supervisor of consumer ${consumer}`);
  const handle = client.workflow.getHandle(workflowId);
  if (a.action === 'pause') await handle.signal(pauseAllSignal, { reason: a.reason });
  else await handle.signal(resumeAllSignal);
  let statuses: { shardId: string; status?: ShardStatus; error?: string }[] = [];
  const ok = await pollUntil(async () => {
    const overview: SupervisorOverview = await s.deadline(QUERY_MS, () => handle.query(overviewQuery));
    if (a.action === 'pause' ? overview.pausedReason !== a.reason : overview.pausedReason !== undefined)
      return undefined;
    statuses = await Promise.all(
      overview.shards
        .filter((e) => e.phase === 'read')
        .map(async (e) => {
          try {
            return {
              shardId: e.shardId,
              status: await s.deadline(QUERY_MS, () =>
                client.workflow.getHandle(e.workflowId).query(statusQuery),
              ),
            };
          } catch (err) {
            return { shardId: e.shardId, error: (err as Error).message };
          }
        }),
    );
    return statuses.every((x) => x.status && done(x.status)) ? true : undefined;
  }, opts.timeout * 1000);
  const result = {
    action: a.action,
    consumer,
    all: true,
    workflowId,
    acknowledged: ok === true,
    waitedMs: Date.now() - started,
    shards: statuses.map((x) => ({
      shardId: x.shardId,
      state: x.status?.state,
      pausedReason: x.status?.pausedReason ?? null,
      ...(x.error ? { error: x.error } : {}),
    })),
  };
  cli.out.result(result, () =>
    [
      ok
        ? `every shard of ${consumer}: ${a.action} acknowledged in ${(result.waitedMs / 1000).toFixed(1)}s`
        : `every shard of ${consumer}: ${a.action} signalled, not acknowledged by every shard within ${opts.timeout}s`,
      table(
        ['SHARD', 'STATE', 'PAUSED REASON'],
        result.shards.map((x) => [x.shardId, x.state ?? x.error, x.pausedReason]),
        '  ',
      ),
    ].join('\n'),
  );
  if (!ok) throw new CliError(`${a.action} --all not acknowledged by every shard within ${opts.timeout}s`);
}

async function requireRunning(
  s: Session,
  client: TemporalClient,
  workflowId: string,
  what: string,
): Promise<void> {
  const d = await s.deadline(QUERY_MS, () => client.workflow.getHandle(workflowId).describe());
  if (d.status.name !== 'RUNNING')
    throw notFound(`${what} (${workflowId}) is not running (${d.status.name.toLowerCase()})`);
}

async function skip(
  cli: Cli,
  s: Session,
  opts: { shard: string; seq: string; reason: string; consumer?: string; timeout: number },
): Promise<void> {
  const client = await s.temporal();
  const consumer = opts.consumer ?? s.config.consumer;
  const workflowId = shardWorkflowId(s.config.stream, consumer, opts.shard);
  await requireRunning(s, client, workflowId, `shard reader of ${opts.shard} (consumer ${consumer})`);
  const handle = client.workflow.getHandle(workflowId);
  const before = await s.deadline(QUERY_MS, () => handle.query(statusQuery));
  if (!holds(before, opts.seq))
    throw new CliError(
      `record ${opts.seq} is not in the batch ${opts.shard} is holding (state ${before.state}` +
        (before.batch ? `, batch ${before.batch.first} .. ${before.batch.last}` : ', no batch in trouble') +
        (before.trouble ? `, record in trouble ${before.trouble.sequenceNumber}` : '') +
        '); skip applies to the record in trouble of a STUCK shard',
    );
  const started = Date.now();
  const notesBefore = before.notes.length;
  await handle.signal(skipRecordSignal, { sequenceNumber: opts.seq, reason: opts.reason });
  let last = before;
  let refused: string | undefined;
  const { doc } = s.aws();
  const key = deadLetterKey(consumer, s.config.stream, opts.shard, opts.seq);
  const readLetter = async () =>
    (
      await doc.send(
        new GetCommand({ TableName: s.config.tables.dlq, Key: { pk: key }, ConsistentRead: true }),
      )
    ).Item;
  let letter: Record<string, unknown> | undefined;
  // Acknowledged: the record is in the DLQ (skipped), or the shard counted it; refused: a note says so.
  const moved = await pollUntil(async () => {
    last = await s.deadline(QUERY_MS, () => handle.query(statusQuery));
    refused = last.notes
      .slice(notesBefore > last.notes.length ? 0 : notesBefore)
      .find((n) => n.includes(opts.seq) && /ignored/.test(n));
    if (refused) return true;
    letter = await readLetter();
    if (letter?.category === 'operator-skip') return true;
    return last.counters.skipped > before.counters.skipped && (letter = await readLetter())
      ? true
      : undefined;
  }, opts.timeout * 1000);
  if (refused) throw new CliError(`skip refused by ${opts.shard}: ${refused}`);
  const result = {
    action: 'skip',
    consumer,
    shardId: opts.shard,
    sequenceNumber: opts.seq,
    workflowId,
    acknowledged: moved === true,
    waitedMs: Date.now() - started,
    state: last.state,
    skipped: last.counters.skipped,
    trouble: last.trouble ?? null,
    deadLetter: letter
      ? {
          table: s.config.tables.dlq,
          pk: key,
          status: letter.status,
          category: letter.category,
          reason: letter.reason,
        }
      : null,
  };
  cli.out.result(result, () =>
    moved
      ? [
          `${opts.shard}: record ${opts.seq} skipped (acknowledged in ${(result.waitedMs / 1000).toFixed(1)}s); shard now ${last.state}` +
            (last.state === 'STUCK' && last.lastError
              ? ` in ${last.lastError.step}: ${last.lastError.message}` +
                (last.trouble ? ` (record in trouble ${last.trouble.sequenceNumber})` : '')
              : ''),
          letter
            ? `  dead letter ${key} in ${s.config.tables.dlq}: ${String(letter.status)}, ${String(letter.category)}, reason "${String(letter.reason)}"`
            : `  the dead letter ${key} is not in ${s.config.tables.dlq} yet`,
        ].join('\n')
      : `${opts.shard}: skip of ${opts.seq} signalled, not acknowledged within ${opts.timeout}s (state ${last.state})`,
  );
  if (!moved)
    throw new CliError(`skip of ${opts.seq} not acknowledged within ${opts.timeout}s (state ${last.state})`);
  if (!letter)
    throw new CliError(`record ${opts.seq} was skipped but its dead letter is not in ${s.config.tables.dlq}`);
}

/** Whether the shard holds the record: it is the record in trouble, or inside the batch in trouble. */
export function holds(status: Pick<ShardStatus, 'trouble' | 'batch' | 'lastError'>, seq: string): boolean {
  if (status.trouble?.sequenceNumber === seq) return true;
  const b = status.batch;
  if (!b || !status.lastError) return false;
  const x = sortableSequence(seq);
  return x >= sortableSequence(b.first) && x <= sortableSequence(b.last);
}
