/**
 * `cdc dlq list|show|redrive|discard`: the dead letters of the pipeline (`config.tables.dlq`).
 * Redrive runs as the `cdc-redrive:<requestId>` workflow (durable, progress in the Web UI) on
 * the task queue of the consumer the letters belong to (`--consumer`; a selection of several
 * consumers' letters is refused); discard is a direct conditional write. Both leave an audit
 * entry (who, when, why, what happened) on every item they touch.
 */
import { userInfo } from 'node:os';
import { temporal } from '@temporalio/proto';
import { Option, type Command } from 'commander';
import { z } from 'zod';
import {
  DEAD_LETTER_STATUSES,
  discardDeadLetters,
  getDeadLetter,
  letterConsumer,
  listDeadLetters,
  readItem,
  type DeadLetterFilter,
  type DeadLetterSummary,
  type DiscardOutcome,
} from '../../activities/deadLetterAdmin';
import { defaultDeps } from '../../activities/deps';
import { RedriveRefused, startRedrive } from '../../infra/redriveClient';
import { redriveProgressQuery, type RedriveProgress } from '../../workflows/redrive';
import { ReasonSchema } from '../args';
import { table } from '../output';
import {
  CliError,
  EXIT,
  notFound,
  parseArg,
  usageError,
  zodParser,
  type Cli,
  type RegisterCommands,
  type Session,
} from '../runtime';

interface FilterOptions {
  status?: string;
  table?: string;
  category?: string;
  since?: string;
  source?: string;
  consumer?: string;
}

const filterOptions = (cmd: Command, withStatus: boolean): Command => {
  if (withStatus)
    cmd.addOption(
      new Option('--status <status>', 'PARKED, REDRIVEN or DISCARDED').choices(DEAD_LETTER_STATUSES),
    );
  return cmd
    .option('--table <name>', 'source table (users or public.users)')
    .addOption(
      new Option('--category <category>', 'why it was parked').choices([
        'poison',
        'configuration',
        'permanent',
        'operator-skip',
      ]),
    )
    .option('--since <iso>', 'parked at or after this time (ISO-8601)')
    .addOption(new Option('--source <source>', 'who parked it').choices(['shard', 'capture']))
    .option(
      '--consumer <name>',
      'the consumer the letters belong to (e.g. analytics; `cdc dlq list` shows it)',
    );
};

function filterOf(o: FilterOptions): DeadLetterFilter {
  const f = Object.fromEntries(
    Object.entries({
      status: o.status,
      table: o.table,
      category: o.category,
      since: o.since,
      source: o.source,
      consumer: o.consumer,
    }).filter(([, v]) => v !== undefined),
  );
  return f as DeadLetterFilter;
}

const ActorOptionSchema = z.string().trim().min(1).max(200);
const defaultActor = () => process.env.CDC_ACTOR || process.env.USER || userInfo().username || 'operator';
const LimitSchema = z.coerce.number().int().min(1).max(100_000);

/** Every page of a listing, up to `limit` items. */
async function listAll(s: Session, filter: DeadLetterFilter, limit: number): Promise<DeadLetterSummary[]> {
  const deps = { aws: s.aws(), config: s.config };
  const items: DeadLetterSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await listDeadLetters(deps, filter, {
      limit: Math.min(1000, limit - items.length),
      ...(cursor ? { cursor } : {}),
    });
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor && items.length < limit);
  return items.slice(0, limit);
}

const rowOf = (d: DeadLetterSummary) => [
  d.pk,
  d.consumer ?? '',
  d.status,
  d.category,
  d.table ?? '',
  d.parkedAt,
  d.attempts,
  (d.lastRedriveError ?? d.reason).slice(0, 80),
];

function bar(p: RedriveProgress): string {
  const total = Math.max(p.total, p.done, 1);
  const width = 30;
  const filled = Math.round((p.done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total} done: ${p.redriven} redriven, ${p.stale} stale, ${p.failed} failed, ${p.skipped} skipped (${p.state})`;
}

export const registerDlq: RegisterCommands = (program: Command, cli: Cli) => {
  const dlq = program
    .command('dlq')
    .description('dead letters: list, show (decrypted), redrive (a workflow), discard; every action audited');
  registerDlqList(dlq, cli);
  registerDlqShow(dlq, cli);
  registerDlqRedrive(dlq, cli);
  registerDlqDiscard(dlq, cli);
};

/** `cdc dlq list`: dead letters, newest first, without their data. */
function registerDlqList(dlq: Command, cli: Cli): void {
  filterOptions(dlq.command('list').description('list dead letters (newest first), without their data'), true)
    .option('-n, --limit <n>', 'at most this many', zodParser(LimitSchema), 100)
    .addHelpText(
      'after',
      `
Examples:
  cdc dlq list --status PARKED
  cdc dlq list --consumer analytics --status PARKED
  cdc dlq list --table users --category poison --since 2026-11-01T00:00:00Z --json`,
    )
    .action(async (o: FilterOptions & { limit: number }) => {
      await cli.session(async (s) => {
        const items = (await listAll(s, filterOf(o), o.limit)).sort((a, b) =>
          b.parkedAt.localeCompare(a.parkedAt),
        );
        cli.out.result({ count: items.length, items }, () =>
          items.length
            ? table(
                ['ID', 'CONSUMER', 'STATUS', 'CATEGORY', 'TABLE', 'PARKED AT', 'ATTEMPTS', 'REASON'],
                items.map(rowOf),
              )
            : 'no dead letters match',
        );
      });
    });
}

/** `cdc dlq show <id>`: one dead letter, its audit trail and its record decrypted. */
function registerDlqShow(dlq: Command, cli: Cli): void {
  dlq
    .command('show')
    .description(
      'one dead letter: why, its audit trail, and its record decrypted (row data: do not paste it around)',
    )
    .argument('<id>', 'the item key (SHARD#… or CAPTURE#…, as `cdc dlq list` shows)')
    .option('--consumer <name>', 'only if the letter belongs to this consumer')
    .action(async (id: string, o: { consumer?: string }) => {
      await cli.session(async (s) => {
        s.aws();
        const detail = await getDeadLetter(defaultDeps(s.config), id);
        if (!detail) throw notFound(`no dead letter ${id}`);
        if (o.consumer !== undefined && detail.item.consumer !== o.consumer)
          throw notFound(
            `no dead letter ${id} of consumer ${o.consumer} (it belongs to ${detail.item.consumer ?? 'no known consumer'})`,
          );
        cli.out.result(detail, () =>
          [
            `${detail.item.pk}`,
            `  consumer ${detail.item.consumer ?? '?'}, status ${detail.item.status}, category ${detail.item.category}, table ${detail.item.table ?? '?'}, parked ${detail.item.parkedAt}, attempts ${detail.item.attempts}`,
            `  reason: ${detail.item.reason}`,
            ...(detail.item.ttl !== undefined
              ? [
                  `  redrive window ends ${new Date(detail.item.ttl * 1000).toISOString()} (after it, a redrive reads the row again from PostgreSQL; DynamoDB deletes the letter)`,
                ]
              : []),
            ...(detail.item.lastRedriveError
              ? [`  last redrive error: ${detail.item.lastRedriveError}`]
              : []),
            ...(detail.item.appliedNotPublished ? ['  applied to DynamoDB but never published'] : []),
            'audit:',
            ...(detail.audit.length
              ? detail.audit.map(
                  (a) =>
                    `  ${a.at} ${a.actor} ${a.action} → ${a.result}: ${a.reason}${a.detail ? ` (${a.detail})` : ''}`,
                )
              : ['  (none)']),
            detail.raw
              ? `record (${detail.raw.encoding}, ${detail.raw.bytes} bytes):`
              : `record: ${detail.rawError}`,
            ...(detail.raw ? [detail.raw.text] : []),
          ].join('\n'),
        );
      });
    });
}

/** `cdc dlq redrive`: dead letters back through the pipeline, as a redrive workflow of their consumer. */
function registerDlqRedrive(dlq: Command, cli: Cli): void {
  filterOptions(
    dlq
      .command('redrive')
      .description('send dead letters back through transform → redact → apply (version-guarded) → publish')
      .argument('[ids...]', 'item keys; or use the filter options for every PARKED item matching'),
    false,
  )
    .requiredOption('-r, --reason <text>', 'why (kept in each item’s audit trail)', zodParser(ReasonSchema))
    .option('--actor <name>', 'who (default: CDC_ACTOR or your user name)')
    .option('--request-id <id>', 'name of the request: workflow cdc-redrive:<id> (default: generated)')
    .option('--no-wait', 'start the workflow and return')
    .addHelpText(
      'after',
      `
A letter is redriven only by its own consumer, through its sink (the analytics consumer's into
the analytics database): the redrive runs on that consumer's task queue. A selection holding
letters of more than one consumer is refused: add --consumer <name>.
A redrive can never move state backwards: a record older than what DynamoDB holds becomes
REDRIVEN as "stale" and is not published. A letter parked longer ago than the redrive window
(CDC_DLQ_REDRIVE_WINDOW_DAYS), or an update or delete of a key DynamoDB holds nothing of, is not
replayed: the row is read again from PostgreSQL (a deleted row stays deleted).
A record that fails again stays PARKED with the new error.
Exit codes: 0 done (or started with --no-wait), 1 some items failed again, 2 usage (also: a
selection of several consumers' letters).

Examples:
  cdc dlq redrive 'SHARD#inventory-pipeline#cdc-inventory#shardId-000000000000#4968…' --reason "fixed in OPS-42"
  cdc dlq redrive --category configuration --table widgets --reason "table added to the table file"
  cdc dlq redrive --consumer analytics --category poison --reason "analytics schema fixed"`,
    )
    .action(
      async (
        ids: string[],
        o: FilterOptions & { reason: string; actor?: string; requestId?: string; wait: boolean },
      ) => {
        const { consumer, ...selection } = filterOf(o);
        const filter = consumer !== undefined && !ids.length ? { ...selection, consumer } : selection;
        const byFilter = Object.keys(selection).length > 0;
        if (ids.length && byFilter) throw usageError('give item ids or filter options, not both');
        if (!ids.length && !byFilter && consumer === undefined)
          throw usageError('say which items: ids, or filter options (e.g. --category poison)');
        const actor = parseArg(ActorOptionSchema, o.actor ?? defaultActor(), '--actor');
        await cli.changingSession(async (s) => {
          s.aws();
          const client = await s.temporal();
          let handle: Awaited<ReturnType<typeof startRedrive>>;
          try {
            handle = await startRedrive(client, s.config, {
              ...(ids.length ? { ids } : { filter }),
              ...(o.consumer !== undefined ? { consumer: o.consumer } : {}),
              actor,
              reason: o.reason,
              ...(o.requestId ? { requestId: o.requestId } : {}),
            });
          } catch (err) {
            if (err instanceof RedriveRefused) throw usageError(`nothing redriven: ${err.message}`);
            throw err;
          }
          const taskQueue = (await handle.describe()).taskQueue;
          cli.out.info(
            `redrive ${handle.workflowId} started on task queue ${taskQueue} (Web UI: search WorkflowId = "${handle.workflowId}")`,
          );
          // A consumer whose worker is not running (CDC_ANALYTICS=off) never picks the redrive up.
          if (!(await polled(client, taskQueue)))
            cli.out.info(
              `warning: no worker polls task queue ${taskQueue} now: the redrive waits until that consumer's worker runs`,
            );
          if (!o.wait) {
            cli.out.result(
              { workflowId: handle.workflowId, started: true },
              () => `started ${handle.workflowId}`,
            );
            return;
          }
          const poll = setInterval(() => {
            handle
              .query(redriveProgressQuery)
              .then((p) => cli.out.info(bar(p)))
              .catch(() => undefined);
          }, 1000);
          let progress: RedriveProgress;
          try {
            progress = await handle.result();
          } finally {
            clearInterval(poll);
          }
          cli.out.result({ workflowId: handle.workflowId, ...progress }, () =>
            [bar(progress), ...progress.failures.map((f) => `  ${f.pk}: ${f.reason}`)].join('\n'),
          );
          if (progress.state === 'FAILED')
            throw new CliError(`redrive failed: ${progress.error ?? 'see the workflow'}`);
          if (progress.failed > 0) cli.setExit(EXIT.ERROR);
        });
      },
    );
}

/** `cdc dlq discard`: dead letters given up (PARKED → DISCARDED), audited. */
function registerDlqDiscard(dlq: Command, cli: Cli): void {
  filterOptions(
    dlq
      .command('discard')
      .description('give dead letters up: PARKED → DISCARDED, with an audit entry each')
      .argument('[ids...]', 'item keys; or use the filter options for every PARKED item matching'),
    false,
  )
    .requiredOption('-r, --reason <text>', 'why (kept in each item’s audit trail)', zodParser(ReasonSchema))
    .option('--actor <name>', 'who (default: CDC_ACTOR or your user name)')
    .addHelpText(
      'after',
      `
Exit codes: 0 every item discarded, 1 some were not PARKED or not found, 2 usage.

Examples:
  cdc dlq discard 'CAPTURE#cdc_inventory_slot#0/16C4460#3' --reason "test row, not needed"
  cdc dlq discard --category poison --since 2026-11-20T00:00:00Z --reason "garbage from the load test"`,
    )
    .action(async (ids: string[], o: FilterOptions & { reason: string; actor?: string }) => {
      const filter = filterOf(o);
      const { consumer: _consumer, ...selection } = filter;
      if (ids.length && Object.keys(selection).length)
        throw usageError('give item ids or filter options, not both');
      if (!ids.length && !Object.keys(filter).length)
        throw usageError('say which items: ids, or filter options');
      const actor = parseArg(ActorOptionSchema, o.actor ?? defaultActor(), '--actor');
      await cli.changingSession(async (s) => {
        const deps = { aws: s.aws(), config: s.config };
        const pks = ids.length
          ? await ofConsumer(s, ids, o.consumer)
          : (await listAll(s, { ...filter, status: 'PARKED' }, 100_000)).map((d) => d.pk);
        const outcomes: DiscardOutcome[] = [];
        for (let i = 0; i < pks.length; i += 25) {
          outcomes.push(
            ...(await discardDeadLetters(deps, pks.slice(i, i + 25), { actor, reason: o.reason })),
          );
          if (pks.length > 25) cli.out.info(`discarded ${Math.min(i + 25, pks.length)}/${pks.length}`);
        }
        const discarded = outcomes.filter((x) => x.result === 'discarded').length;
        cli.out.result({ discarded, outcomes }, () =>
          [
            `${discarded}/${outcomes.length} discarded`,
            ...outcomes
              .filter((x) => x.result !== 'discarded')
              .map((x) => `  ${x.pk}: ${x.result}${x.status ? ` (${x.status})` : ''}`),
          ].join('\n'),
        );
        if (discarded < outcomes.length) cli.setExit(EXIT.ERROR);
      });
    });
}

/** The given ids, refused when `consumer` is given and some belong to another consumer. */
async function ofConsumer(s: Session, ids: string[], consumer: string | undefined): Promise<string[]> {
  if (consumer === undefined) return ids;
  const deps = { aws: s.aws(), config: s.config };
  const others: string[] = [];
  for (const pk of ids) {
    const item = await readItem(deps, pk);
    const owner: string | undefined = item ? letterConsumer(item, s.config) : consumer;
    if (owner !== consumer) others.push(`${pk} (${owner ?? 'no known consumer'})`);
  }
  if (others.length)
    throw usageError(
      `not letters of consumer ${consumer}: ${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''}`,
    );
  return ids;
}

/** Whether any worker polls the task queue for workflow tasks (unknown: assumed so). */
async function polled(client: Awaited<ReturnType<Session['temporal']>>, taskQueue: string): Promise<boolean> {
  try {
    const out = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (out.pollers ?? []).length > 0;
  } catch {
    return true;
  }
}
