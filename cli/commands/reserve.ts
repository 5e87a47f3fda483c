/**
 * `cdc reserve` and `cdc reserve confirm|cancel|extend|show|list`: holds on inventory that never
 * oversell (issue 12, docs/reservations.md). Every change is one conditional statement of
 * infra/reservationStore.ts on PostgreSQL; `show` and `list` add what the reservation-expiry
 * workflows (Temporal) wait for, and still print PostgreSQL's rows when Temporal is unreachable.
 */
import type { Command } from 'commander';
import type { z } from 'zod';
import type { Client as TemporalClient, WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { RESERVATION_STATUSES } from '../../domain/reservations/hold';
import {
  extendRequestSchema,
  ListRequestSchema,
  OrderIdSchema,
  QuantitySchema,
  ReservationIdSchema,
  SkuSchema,
  TtlSchema,
  WarehouseIdSchema,
  type ListRequest,
  type ReserveRequest,
} from '../../domain/reservations/requests';
import {
  cancelReservation,
  confirmReservation,
  extendReservation,
  getReservation,
  listReservations,
  reserve,
  type Reservation,
  type ReserveResult,
} from '../../infra/reservationStore';
import { RESERVATION_EXPIRY_WORKFLOW_TYPE, reservationExpiryWorkflowId, SA } from '../../workflows/names';
import {
  reservationStatusQuery,
  type ReservationExpiryStatus,
} from '../../workflows/reservationExpiry/definitions';
import { formatDuration, table } from '../output';
import {
  CliError,
  EXIT,
  notFound,
  usageError,
  zodParser,
  type Cli,
  type ExitCode,
  type RegisterCommands,
  type Session,
} from '../runtime';

/** How long `show` and `list` wait for Temporal (connect, describe, query, list) before going on without it. */
const TEMPORAL_MS = 5_000;
/** Workflow ids per `WorkflowId IN (…)` visibility query. */
const IDS_PER_QUERY = 100;
/** Running expiry workflows read from the window query of `--expiring-within` at most. */
const WINDOW_MAX = 10_000;

// ---------------------------------------------------------------------------------------------
// what the commands print (pure; test/unit/cli/reserveCommand.test.ts)

/** A refusal: the JSON document, the one line on stderr, the exit code. */
export interface Refusal {
  doc: Record<string, unknown>;
  message: string;
  exitCode: ExitCode;
}

const what = (r: Pick<Reservation, 'quantity' | 'sku' | 'warehouseId'>) =>
  `${r.quantity} × ${r.sku} in warehouse ${r.warehouseId}`;

/** When a deadline is, relative to `now`: "in 14m58s", "4.0s ago". */
export function untilText(iso: string, now = Date.now()): string {
  const ms = Date.parse(iso) - now;
  return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`;
}

/** Why `cdc reserve` took nothing. */
export function reserveRefusal(
  r: Exclude<ReserveResult, { ok: true }>,
  req: Pick<ReserveRequest, 'sku' | 'warehouseId'>,
): Refusal {
  switch (r.reason) {
    case 'insufficient-stock':
      return {
        doc: { ok: false, reason: r.reason, available: r.available, requested: r.requested },
        message: `insufficient stock of ${req.sku} in warehouse ${req.warehouseId}: ${r.available} available, ${r.requested} requested`,
        exitCode: EXIT.ERROR,
      };
    case 'unknown-sku':
      return {
        doc: { ok: false, reason: r.reason, sku: req.sku, warehouseId: req.warehouseId },
        message: `unknown SKU: no inventory row for ${req.sku} in warehouse ${req.warehouseId}`,
        exitCode: EXIT.NOT_FOUND,
      };
    case 'duplicate-id':
      return {
        doc: { ok: false, reason: r.reason, reservation: r.reservation },
        message: `reservation ${r.reservation.reservationId} already exists: ${stateText(r.reservation)}, ${what(r.reservation)}`,
        exitCode: EXIT.ERROR,
      };
  }
}

/** A reservation's state in words: "HELD until …", "HELD, expired 3.0s ago (not yet released)", "CONFIRMED". */
export function stateText(r: Reservation, now = Date.now()): string {
  if (r.status !== 'HELD') return `${r.status} (since ${r.updatedAt})`;
  const due = Date.parse(r.expiresAt) <= now;
  return due
    ? `HELD, expired ${untilText(r.expiresAt, now)} (not yet released)`
    : `HELD until ${r.expiresAt} (${untilText(r.expiresAt, now)})`;
}

export type ChangeAction = 'confirm' | 'cancel' | 'extend';

/** A change that did not happen: the hold is in another state (exit 1), or there is none (exit 3). */
export function changeRefusal(
  action: ChangeAction,
  reservationId: string,
  outcome: { outcome: string; reservation?: Reservation },
): Refusal {
  const r = outcome.reservation;
  if (!r)
    return {
      doc: { ok: false, outcome: 'missing', reservationId },
      message: `no reservation ${reservationId}`,
      exitCode: EXIT.NOT_FOUND,
    };
  const reason =
    outcome.outcome === 'expired'
      ? `it expired at ${r.expiresAt}${r.status === 'HELD' ? ' (not yet released)' : ` (${r.status} since ${r.updatedAt})`}`
      : `it is ${r.status} (since ${r.updatedAt})`;
  return {
    doc: { ok: false, outcome: outcome.outcome, reservation: r },
    message: `cannot ${action} reservation ${reservationId}: ${reason}`,
    exitCode: EXIT.ERROR,
  };
}

const reservedText = (r: Reservation, available: number) =>
  [
    `reserved ${r.reservationId}: ${what(r)}${r.orderId ? ` for order ${r.orderId}` : ''}`,
    `  ${stateText(r)}`,
    `  available after the hold: ${available}`,
    `  confirm: cdc reserve confirm ${r.reservationId}   cancel: cdc reserve cancel ${r.reservationId}`,
  ].join('\n');

const changedText: Record<ChangeAction, (r: Reservation) => string> = {
  confirm: (r) =>
    `confirmed ${r.reservationId}: ${what(r)} left the warehouse (on hand and reserved −${r.quantity})`,
  cancel: (r) => `cancelled ${r.reservationId}: ${what(r)} available again`,
  extend: (r) => `extended ${r.reservationId}: ${stateText(r)}`,
};

/** Prints a refusal (the JSON document with --json) and ends with its exit code and line. */
function refuse(cli: Cli, refusal: Refusal): never {
  if (cli.out.json) cli.out.result(refusal.doc, () => '');
  throw new CliError(refusal.message, refusal.exitCode);
}

// ---------------------------------------------------------------------------------------------
// Temporal: the expiry workflows, tolerated when unreachable

/** The expiry workflow of one reservation as visibility shows it (its search attributes). */
export interface ExpiryWorkflowInfo {
  workflowId: string;
  status: string;
  /** CdcState: the hold's state as the workflow last saw it. */
  state?: string;
  /** CdcExpiresAt: the deadline its timer waits for (ISO-8601). */
  expiresAt?: string;
}

const infoOf = (
  wf: Pick<WorkflowExecutionInfo, 'workflowId' | 'status' | 'typedSearchAttributes'>,
): ExpiryWorkflowInfo => {
  const state = wf.typedSearchAttributes.get(SA.state);
  const expiresAt = wf.typedSearchAttributes.get(SA.expiresAt);
  return {
    workflowId: wf.workflowId,
    status: wf.status.name,
    ...(state ? { state } : {}),
    ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
  };
};

const reservationIdOf = (workflowId: string) => workflowId.slice(reservationExpiryWorkflowId('').length);

/** Rejects after `ms` (Connection.connect to a server that is down can take longer). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const errorText = (err: unknown) => ((err as Error)?.message ?? String(err)).split('\n')[0];

/**
 * A value as a string literal of a visibility query (`"value"`), or undefined when it cannot be
 * one safely: a quote or backslash could end the literal or escape its end (and so break or widen
 * the query), a control character could end the line, and servers strip quotes at a literal's
 * ends when they convert it (temporalio/temporal#12019), so escaping is not exact either. Callers
 * leave such a value out of the query and look it up another way.
 */
export function visibilityLiteral(value: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  return /^[^"'\\\u0000-\u001f\u007f]+$/.test(value) ? `"${value}"` : undefined;
}

/**
 * The running expiry workflows of `rows`: with a window, first the brief's query of the holds
 * about to expire (`CdcExpiresAt < now + window`), then every row not found there by its workflow
 * id, so a workflow that waits for another deadline (the extension not yet seen) still shows.
 */
export async function runningExpiryWorkflows(
  client: TemporalClient,
  rows: readonly Reservation[],
  filter: ListRequest,
): Promise<Map<string, ExpiryWorkflowInfo>> {
  const found = new Map<string, ExpiryWorkflowInfo>();
  const wanted = new Set(rows.map((r) => r.reservationId));
  // No TaskQueue filter: the workflow id is the reservation's in the whole namespace, whichever
  // pipeline (task queue) started it.
  const base = `WorkflowType = '${RESERVATION_EXPIRY_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  const collect = async (query: string, max = Infinity) => {
    let seen = 0;
    for await (const wf of client.workflow.list({ query })) {
      const id = reservationIdOf(wf.workflowId);
      if (wanted.has(id)) found.set(id, infoOf(wf));
      if (++seen >= max) break;
    }
  };
  if (filter.expiringWithinSeconds !== undefined && rows.length) {
    const before = new Date(Date.now() + filter.expiringWithinSeconds * 1000).toISOString();
    // A SKU that cannot be a literal is left out of the query (the id lookup below is exact anyway).
    const skuLiteral = filter.sku === undefined ? undefined : visibilityLiteral(filter.sku);
    const sku = skuLiteral ? ` AND CdcSku = ${skuLiteral}` : '';
    await collect(`${base} AND CdcExpiresAt < "${before}"${sku}`, WINDOW_MAX);
  }
  const rest = [...wanted].filter((id) => !found.has(id));
  // Ids come from PostgreSQL's rows, which any application writes: one that cannot be a plain
  // literal is never put in a query; its workflow is described by id instead (exact, no query).
  const literals: string[] = [];
  const exact: string[] = [];
  for (const id of rest) {
    const literal = visibilityLiteral(reservationExpiryWorkflowId(id));
    if (literal) literals.push(literal);
    else exact.push(id);
  }
  for (let i = 0; i < literals.length; i += IDS_PER_QUERY)
    await collect(`${base} AND WorkflowId IN (${literals.slice(i, i + IDS_PER_QUERY).join(', ')})`);
  for (const id of exact) {
    try {
      const wf = await client.workflow.getHandle(reservationExpiryWorkflowId(id)).describe();
      if (wf.type === RESERVATION_EXPIRY_WORKFLOW_TYPE && wf.status.name === 'RUNNING')
        found.set(id, infoOf(wf));
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return found;
}

export interface ShownWorkflow {
  workflowId: string;
  exists: boolean;
  info?: ExpiryWorkflowInfo;
  status?: ReservationExpiryStatus;
  /** Why Temporal told less than that (unreachable, no worker to answer the query). */
  error?: string;
}

/** The reservation's expiry workflow: describe (search attributes), then its status query. */
async function expiryWorkflowOf(s: Session, reservationId: string): Promise<ShownWorkflow> {
  const workflowId = reservationExpiryWorkflowId(reservationId);
  let client: TemporalClient;
  let info: ExpiryWorkflowInfo;
  try {
    client = await within(TEMPORAL_MS, 'Temporal', s.temporal());
    const handle = client.workflow.getHandle(workflowId);
    info = infoOf(await s.deadline(TEMPORAL_MS, () => handle.describe()));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { workflowId, exists: false };
    return { workflowId, exists: false, error: `Temporal: ${errorText(err)}` };
  }
  try {
    const status = await s.deadline(TEMPORAL_MS, () =>
      client.workflow.getHandle(workflowId).query(reservationStatusQuery),
    );
    return { workflowId, exists: true, info, status };
  } catch (err) {
    return {
      workflowId,
      exists: true,
      info,
      error: `status query failed (no worker answered?): ${errorText(err)}`,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// list: PostgreSQL's rows joined with the workflows

export interface ListedReservation extends Reservation {
  workflow: ExpiryWorkflowInfo | null;
  /** What an operator should look at. */
  note?: string;
}

/** Flags a row: a HELD hold with no workflow, a deadline the workflow has not seen, an overdue hold. */
export function noteFor(
  r: Reservation,
  wf: ExpiryWorkflowInfo | undefined,
  now = Date.now(),
): string | undefined {
  if (r.status !== 'HELD') return wf ? 'workflow still running (has not seen the change yet)' : undefined;
  if (!wf) return 'no expiry workflow';
  if (wf.expiresAt && wf.expiresAt !== r.expiresAt)
    return `workflow waits for ${wf.expiresAt} (change not seen yet)`;
  const overdue = now - Date.parse(r.expiresAt);
  return overdue > 0 ? `overdue by ${formatDuration(overdue)}` : undefined;
}

export function listText(
  rows: readonly ListedReservation[],
  temporalError?: string,
  now = Date.now(),
): string {
  if (!rows.length) return 'no reservations match';
  const lines = [
    table(
      ['ID', 'SKU', 'WH', 'QTY', 'STATUS', 'EXPIRES AT', 'EXPIRES', 'WORKFLOW', 'WAITS FOR', 'NOTE'],
      rows.map((r) => [
        r.reservationId,
        r.sku,
        r.warehouseId,
        r.quantity,
        r.status,
        r.expiresAt,
        r.status === 'HELD' ? untilText(r.expiresAt, now) : undefined,
        temporalError ? '?' : r.workflow ? (r.workflow.state ?? r.workflow.status) : undefined,
        r.workflow?.expiresAt,
        r.note,
      ]),
    ),
  ];
  const held = rows.filter((r) => r.status === 'HELD');
  const orphans = held.filter((r) => !r.workflow).length;
  if (!temporalError && orphans)
    lines.push(
      `${orphans} of ${held.length} HELD reservations have no expiry workflow: the pipeline has not ` +
        'reached them yet, or reservation expiry is off',
    );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// the commands

interface ReserveOptions {
  sku?: string;
  warehouse?: number;
  qty?: number;
  ttl?: number;
  id?: string;
  order?: string;
}

/** The request of `cdc reserve`, or a usage error naming what is missing. */
export function reserveRequestOf(o: ReserveOptions): ReserveRequest {
  const missing = (
    [
      ['--sku', o.sku],
      ['--warehouse', o.warehouse],
      ['--qty', o.qty],
      ['--ttl', o.ttl],
    ] as const
  )
    .filter(([, v]) => v === undefined)
    .map(([name]) => name);
  if (missing.length)
    throw usageError(
      `say what to hold: --sku, --warehouse, --qty and --ttl (missing ${missing.join(', ')}); or a subcommand (cdc reserve --help)`,
    );
  return {
    sku: o.sku!,
    warehouseId: o.warehouse!,
    quantity: o.qty!,
    ttlSeconds: o.ttl!,
    ...(o.id ? { reservationId: o.id } : {}),
    ...(o.order ? { orderId: o.order } : {}),
  };
}

/**
 * Validates options with a request schema; an invalid one is a usage error naming the option
 * (`--ttl: at least 1s`), not the request's field.
 */
function parseOptions<T>(schema: z.ZodType<T>, value: unknown, flags: Record<string, string>): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw usageError(
    r.error.issues
      .slice(0, 3)
      .map((i) => {
        const field = i.path.map(String).join('.');
        return field ? `${flags[field] ?? field}: ${i.message}` : i.message;
      })
      .join('; '),
  );
}

const idArgument = (c: Command) => c.argument('<id>', 'the reservation id', zodParser(ReservationIdSchema));

/**
 * The `reserve` group. Holding is its default subcommand `hold` (`cdc reserve --sku …` is
 * `cdc reserve hold --sku …`): the group itself has no options, so `extend <id> --ttl` and
 * `list --sku` keep theirs (commander would give an option the group also has to the group).
 */
export function reserveCommand(cli: Cli, program: Command): Command {
  const cmd = program
    .command('reserve')
    .description(
      'hold stock for an order without ever overselling (PostgreSQL); confirm, cancel, extend, show, list holds',
    )
    .addHelpText(
      'after',
      `
A hold takes units from "available" (on_hand − reserved) in one conditional statement: two holds
can never take the same last unit. A hold not confirmed in time expires (its expiry workflow
returns the units). docs/reservations.md explains the model.
\`cdc reserve --sku …\` is \`cdc reserve hold --sku …\` (cdc reserve hold --help).

Examples:
  cdc reserve --sku SKU-1 --warehouse 1 --qty 2 --ttl 15m --order o-1001
  cdc reserve confirm res-mbx3k2f1-4f9a0c2e7d1b
  cdc reserve extend res-mbx3k2f1-4f9a0c2e7d1b --ttl 10m
  cdc reserve show res-mbx3k2f1-4f9a0c2e7d1b
  cdc reserve list --expiring-within 5m`,
    );
  holdCommand(cli, cmd);
  changeCommand(cli, cmd, 'confirm', 'confirm a live hold: its units leave (on hand and reserved drop)');
  changeCommand(cli, cmd, 'cancel', 'cancel a hold at any time: its units are available again');
  changeCommand(cli, cmd, 'extend', 'move the deadline of a live hold: --ttl (from now) or --until (a time)')
    .option('--ttl <duration>', 'the new deadline is now + this: 90, 90s, 15m, 2h, 1d')
    .option('--until <iso>', 'the new deadline, e.g. 2026-11-23T10:15:00Z');
  showCommand(cli, cmd);
  listCommand(cli, cmd);
  return cmd;
}

/** `cdc reserve [hold] --sku S --warehouse W --qty N --ttl D [--id ID] [--order O]`. */
function holdCommand(cli: Cli, parent: Command): void {
  parent
    .command('hold', { isDefault: true })
    .description('hold units of a SKU in a warehouse (the default: cdc reserve --sku …)')
    .option('--sku <sku>', 'the SKU', zodParser(SkuSchema))
    .option('--warehouse <id>', 'the warehouse (a whole number)', zodParser(WarehouseIdSchema))
    .option('--qty <n>', 'units to hold (1 to 1000000)', zodParser(QuantitySchema))
    .option(
      '--ttl <duration>',
      'how long the hold lasts: 90, 90s, 15m, 2h, 1d (1s to 30d)',
      zodParser(TtlSchema),
    )
    .option('--id <id>', 'the reservation id (default res-<time>-<random>)', zodParser(ReservationIdSchema))
    .option('--order <id>', 'the order the hold is for', zodParser(OrderIdSchema))
    .addHelpText(
      'after',
      `
Exit codes: 0 held, 1 insufficient stock / duplicate id / error, 2 usage, 3 unknown SKU in that warehouse.

Examples:
  cdc reserve --sku SKU-1 --warehouse 1 --qty 2 --ttl 15m --order o-1001
  cdc reserve --sku SKU-1 --warehouse 1 --qty 1 --ttl 90 --id checkout-42 --json`,
    )
    .action(async (o: ReserveOptions) => {
      const req = reserveRequestOf(o);
      await cli.changingSession(async (s) => {
        const r = await reserve(await s.pg(), req);
        if (!r.ok) refuse(cli, reserveRefusal(r, req));
        cli.out.result(r, () => reservedText(r.reservation, r.available));
      });
    });
}

/**
 * confirm, cancel, extend: one conditional statement each. Not found → 3; the hold in another
 * state (expired, confirmed, cancelled) → 1 with that state in the message.
 */
function changeCommand(cli: Cli, parent: Command, action: ChangeAction, description: string): Command {
  const c = idArgument(parent.command(action).description(description)).addHelpText(
    'after',
    `\nExit codes: 0 done, 1 the hold is not live (expired, confirmed, cancelled), 2 usage, 3 no such reservation.`,
  );
  c.action(async (id: string, o: { ttl?: string; until?: string }) => {
    const extendTo =
      action === 'extend'
        ? parseOptions(
            extendRequestSchema(),
            { reservationId: id, ttl: o.ttl, until: o.until },
            { reservationId: 'id', ttl: '--ttl', until: '--until' },
          ).to
        : undefined;
    await cli.changingSession(async (s) => {
      const pg = await s.pg();
      const outcome =
        action === 'confirm'
          ? await confirmReservation(pg, id)
          : action === 'cancel'
            ? await cancelReservation(pg, id)
            : await extendReservation(pg, id, extendTo!);
      const done = { confirm: 'confirmed', cancel: 'released', extend: 'extended' }[action];
      if (outcome.outcome !== done || !('reservation' in outcome))
        refuse(cli, changeRefusal(action, id, outcome));
      const reservation = outcome.reservation;
      cli.out.result({ ok: true, outcome: outcome.outcome, reservation }, () =>
        changedText[action](reservation),
      );
    });
  });
  return c;
}

function showCommand(cli: Cli, parent: Command): void {
  idArgument(
    parent
      .command('show')
      .description("one reservation: its PostgreSQL row and its expiry workflow's status"),
  )
    .addHelpText('after', `\nExit codes: 0 found, 2 usage, 3 no such reservation (and no workflow).`)
    .action(async (id: string) => {
      await cli.session(async (s) => {
        const reservation = (await getReservation(await s.pg(), id)) ?? null;
        const workflow = await expiryWorkflowOf(s, id);
        if (!reservation && !workflow.exists) throw notFound(`no reservation ${id}`);
        cli.out.result({ reservation, workflow }, () => showText(id, reservation, workflow));
        if (!reservation) cli.setExit(EXIT.NOT_FOUND);
      });
    });
}

export function showText(id: string, r: Reservation | null, wf: ShownWorkflow): string {
  const lines = r
    ? [
        `${r.reservationId}: ${what(r)}${r.orderId ? `, order ${r.orderId}` : ''}`,
        `  ${stateText(r)}`,
        `  expires at ${r.expiresAt}, created ${r.createdAt}, updated ${r.updatedAt}`,
      ]
    : [`${id}: no row in PostgreSQL (deleted?)`];
  if (!wf.exists)
    lines.push(
      wf.error
        ? `expiry workflow: unknown (${wf.error})`
        : `expiry workflow ${wf.workflowId}: none (the pipeline has not seen this hold yet, or reservation expiry is off)`,
    );
  else {
    lines.push(`expiry workflow ${wf.workflowId}: ${wf.info?.status ?? '?'}`);
    const st = wf.status;
    if (st) {
      lines.push(
        `  state ${st.state}${st.expiresAt ? `, waits for ${st.expiresAt}` : ''}, changes seen: ${st.signalsSeen}` +
          (st.version ? `, last version ${st.version}` : ''),
      );
      if (st.releasedAt)
        lines.push(`  released at ${st.releasedAt} (${formatDuration(st.lateMs ?? 0)} after the deadline)`);
      for (const note of st.notes.slice(-5)) lines.push(`  ${note}`);
    } else {
      const info = wf.info;
      lines.push(`  CdcState ${info?.state ?? '-'}, CdcExpiresAt ${info?.expiresAt ?? '-'}`);
      if (wf.error) lines.push(`  (${wf.error})`);
    }
  }
  return lines.join('\n');
}

interface ListOptions {
  status?: string;
  sku?: string;
  warehouse?: string;
  expiringWithin?: string;
  limit?: string;
}

function listCommand(cli: Cli, parent: Command): void {
  parent
    .command('list')
    .description('reservations (nearest deadline first) and whether an expiry workflow waits for each')
    .option('--status <status>', `${RESERVATION_STATUSES.join(', ')} or all (default HELD)`)
    .option('--sku <sku>', 'only this SKU')
    .option('--warehouse <id>', 'only this warehouse')
    .option('--expiring-within <duration>', 'only deadlines at most this far away (or past): 5m, 1h')
    .option('-n, --limit <n>', 'at most this many rows (default 50, at most 1000)')
    .addHelpText(
      'after',
      `
Each row is joined with Temporal's visibility (running reservationExpiryWorkflow, its CdcState and
CdcExpiresAt). A HELD row without a workflow is flagged: the pipeline has not reached it yet, or
reservation expiry is off. Temporal unreachable: the rows are printed with a warning.

Examples:
  cdc reserve list
  cdc reserve list --sku SKU-1 --expiring-within 5m
  cdc reserve list --status all --limit 200 --json`,
    )
    .action(async (o: ListOptions) => {
      const filter = parseOptions(
        ListRequestSchema,
        {
          status: o.status,
          sku: o.sku,
          warehouseId: o.warehouse,
          expiringWithinSeconds: o.expiringWithin,
          limit: o.limit,
        },
        {
          status: '--status',
          sku: '--sku',
          warehouseId: '--warehouse',
          expiringWithinSeconds: '--expiring-within',
          limit: '--limit',
        },
      );
      await cli.session(async (s) => {
        const rows = await listReservations(await s.pg(), filter);
        let workflows = new Map<string, ExpiryWorkflowInfo>();
        let temporalError: string | undefined;
        try {
          const client = await within(TEMPORAL_MS, 'Temporal', s.temporal());
          workflows = await s.deadline(TEMPORAL_MS * 2, () => runningExpiryWorkflows(client, rows, filter));
        } catch (err) {
          temporalError = errorText(err);
          cli.out.warn(
            `warning: could not read the expiry workflows from Temporal (${temporalError}); showing PostgreSQL's rows only`,
          );
        }
        const now = Date.now();
        const listed: ListedReservation[] = rows.map((r) => {
          const wf = workflows.get(r.reservationId);
          const note = temporalError ? undefined : noteFor(r, wf, now);
          return { ...r, workflow: wf ?? null, ...(note ? { note } : {}) };
        });
        cli.out.result(
          {
            count: listed.length,
            filter,
            temporal: temporalError ? { ok: false, error: temporalError } : { ok: true },
            withoutWorkflow: temporalError
              ? null
              : listed.filter((r) => r.status === 'HELD' && !r.workflow).length,
            reservations: listed,
          },
          () => listText(listed, temporalError, now),
        );
      });
    });
}

/** The registration every group of cli/commands/ has. */
export const registerReserve: RegisterCommands = (program: Command, cli: Cli) => {
  reserveCommand(cli, program);
};
