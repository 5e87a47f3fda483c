/**
 * `cdc provision` and its parts, split by who owns what (also `npm run provision`):
 * - `cdc provision` (no part): everything below but Temporal, after the PostgreSQL schema check;
 *   the demo database and tables only when PostgreSQL is the local stack's. `--check-schema`: only
 *   the (read-only) schema check. Then it shows the source's identity against the one capture
 *   recorded (the source epoch, docs/failover.md); `--bump-epoch` starts a new epoch and ends the
 *   slot's active replication connection, so the running capture's next run stamps it at once.
 * - `cdc provision source [--dry-run]`: the user's database: heartbeat table, REPLICA IDENTITY of
 *   the configured tables, publication, slot; never a database or a table of the user's. The dry
 *   run prints the SQL and the grants it needs.
 * - `cdc provision aws`: stream, tables, bus, rules, queues, archive, bucket (without the CDK app).
 * - `cdc provision analytics`: the analytics consumer's database.
 * - `cdc provision temporal [--dry-run]`: the search attributes the workflows write (the tcld
 *   command when the namespace is Temporal Cloud's).
 * Each says where it goes before it changes anything (cli/runtime.ts `changingSession`).
 */
import type { Command } from 'commander';
import {
  readSourceEpoch,
  readSourceIdentity,
  resolveSourceEpoch,
} from '../../activities/capture/sourceEpoch';
import { sameIdentity, type SourceEpochRecord, type SourceIdentity } from '../../domain/capture/sourceEpoch';
import { consumerConfig, deploymentConsumers, provisionConsumer } from '../../infra/consumers';
import { provisionAll, provisionAws, provisionSource } from '../../infra/provisioning';
import { checkSchemaAtStartup } from '../../infra/schemaCheck';
import { provisionSearchAttributes, type SearchAttributeAdmin } from '../../infra/searchAttributes';
import type { SourcePlan } from '../../infra/sourcePlan';
import type { Cli, RegisterCommands, Session } from '../runtime';

export const registerProvision: RegisterCommands = (program: Command, cli: Cli) => {
  const provision = program
    .command('provision')
    .description(
      'create the resources of the pipeline, idempotently: everything (no part named: PostgreSQL publication and slot, Kinesis, DynamoDB, EventBridge, SQS, S3, the analytics database), or one part: source, aws, analytics, temporal',
    )
    .option('--check-schema', 'only check the PostgreSQL schema against the table file (read-only)')
    .option(
      '--bump-epoch',
      'start a new source epoch: every change from now on orders after everything stored (after a failover, restore, major upgrade or blue/green switch; docs/failover.md)',
    )
    .addHelpText(
      'after',
      `
Goes where --target says (local or aws), else to endpoints you set, else to the running local stack;
it prints where before it changes anything. The demo database and tables are created only on the
local stack's PostgreSQL; elsewhere the configured tables must exist (docs/deploy.md).
Capture starts a new epoch by itself when the source's system identifier or timeline differs from
the recorded one; --bump-epoch is for a switch it cannot see, or to go back to the cluster of the
epoch before (capture refuses that by itself). The bump ends the slot's active replication
connection (capture's), so capture's next run, a few seconds later, stamps the new epoch.
Exit codes: 0 ready, 1 error (a schema error stops provisioning).

Examples:
  cdc provision
  cdc provision --check-schema
  cdc provision --bump-epoch
  cdc provision source --dry-run
  cdc --target aws provision aws
  cdc provision temporal`,
    )
    .action((opts: { checkSchema?: boolean; bumpEpoch?: boolean }) => provisionEverything(cli, opts));
  provision
    .command('source')
    .description(
      "the user's database under CDC: heartbeat table, REPLICA IDENTITY of the configured tables, publication, slot (never a database or a table of yours)",
    )
    .option('--dry-run', 'change nothing: print the SQL it would run and the grants it needs')
    .action((o: { dryRun?: boolean }) => provisionSourceCommand(cli, Boolean(o.dryRun)));
  provision
    .command('aws')
    .description(
      'the AWS resources (without the CDK app in deploy/): stream, tables, bus, rules, queues, archive, bucket',
    )
    .action(() =>
      cli.changingSession(async (s) => {
        s.aws();
        const log = logger(cli);
        await provisionAws(s.config, async (name, fn) => {
          await fn();
          log(`${name} ready`);
        });
        cli.out.result({ ok: true, stream: s.config.stream, log: log.lines }, () => 'aws resources ready');
      }),
    );
  provision
    .command('analytics')
    .description("the analytics consumer's database and tables")
    .action(() =>
      cli.changingSession(async (s) => {
        const consumers = deploymentConsumers(s.config);
        for (const c of consumers) await provisionConsumer(consumerConfig(s.config, c));
        cli.out.result(
          { ok: true, consumers },
          () => `ready: ${consumers.join(', ') || 'no consumer needs a database'}`,
        );
      }),
    );
  provision
    .command('temporal')
    .description(
      'the search attributes the workflows write, in the namespace (the tcld command for Temporal Cloud)',
    )
    .option('--dry-run', 'change nothing: say which are missing and the command that creates them')
    .action((o: { dryRun?: boolean }) => provisionTemporalCommand(cli, Boolean(o.dryRun)));
};

/** Lines shown as they come (stderr) and kept for --json. */
function logger(cli: Cli): ((l: string) => void) & { lines: string[] } {
  const lines: string[] = [];
  const line = (l: string) => {
    lines.push(l);
    cli.out.info(l);
  };
  return Object.assign(line, { lines });
}

async function provisionEverything(
  cli: Cli,
  opts: { checkSchema?: boolean; bumpEpoch?: boolean },
): Promise<void> {
  await cli.changingSession(async (s) => {
    const line = logger(cli);
    if (opts.checkSchema) {
      const report = await checkSchemaAtStartup(s.config, line);
      cli.out.result(
        {
          ok: true,
          schema: report.schema,
          source: report.source,
          warnings: report.warnings,
          log: line.lines,
        },
        () =>
          `schema ${report.schema} matches the table file ${report.source}` +
          (report.warnings.length ? ` (${report.warnings.length} warning(s))` : ''),
      );
      return;
    }
    s.aws(); // its clients are closed at the end
    // The demo database and tables only where PostgreSQL is the local stack's.
    const demoSchema = s.environment.choices.some(
      (c) => c.dependency === 'postgres' && c.source === 'local-stack',
    );
    await provisionAll(s.config, line, { demoSchema });
    // Every consumer of the deployment (infra/consumers.ts): the analytics database too.
    for (const c of deploymentConsumers(s.config)) await provisionConsumer(consumerConfig(s.config, c));
    const source = await sourceEpoch(s, Boolean(opts.bumpEpoch), line);
    cli.out.result(
      { ok: true, stream: s.config.stream, slot: s.config.slot, demoSchema, source, log: line.lines },
      () => `provisioned; ${source.summary}`,
    );
  });
}

async function provisionSourceCommand(cli: Cli, dryRun: boolean): Promise<void> {
  const run = async (s: Session) => {
    const line = logger(cli);
    const plan = await provisionSource(s.config, { dryRun, log: line });
    cli.out.result({ ok: true, dryRun, ...plan, log: line.lines }, () => renderPlan(plan, dryRun));
  };
  await (dryRun ? cli.session(run) : cli.changingSession(run));
}

/** The plan as SQL a database administrator can read and run. */
export function renderPlan(plan: SourcePlan, dryRun: boolean): string {
  const out: string[] = [];
  out.push(
    plan.statements.length
      ? `-- ${dryRun ? 'would run' : 'ran'} (${plan.statements.length}):`
      : '-- nothing to change: heartbeat table, replica identity, publication and slot are as configured',
  );
  for (const sql of plan.statements) out.push(`${sql};`);
  out.push('', '-- grants the connecting role needs (run once, as an administrator):');
  for (const g of plan.grants) out.push(`${g.sql};  -- ${g.why}`);
  return out.join('\n');
}

async function provisionTemporalCommand(cli: Cli, dryRun: boolean): Promise<void> {
  const run = async (s: Session) => {
    const client = await s.temporal();
    const namespace = client.options.namespace;
    const r = await provisionSearchAttributes(
      client.connection as unknown as SearchAttributeAdmin,
      namespace,
      {
        dryRun,
      },
    );
    cli.out.result({ ok: !r.wrongType.length && (!r.refused || dryRun), dryRun, ...r }, () =>
      [
        `namespace ${namespace}: ${r.present.length} search attribute(s) present` +
          (r.created.length ? `, created ${r.created.join(', ')}` : ''),
        ...(r.refused
          ? [
              `${dryRun ? 'missing; to create them' : `not created (${r.refused.reason}); run`}: ${r.refused.command}`,
            ]
          : []),
        ...r.wrongType.map(
          (w) => `${w.name} is ${w.actual}, not ${w.type}: delete and create it with the right type`,
        ),
      ].join('\n'),
    );
    if (r.wrongType.length || (r.refused && !dryRun)) cli.setExit(1);
  };
  await (dryRun ? cli.session(run) : cli.changingSession(run));
}

interface SourceEpochReport {
  /** What PostgreSQL shows now. */
  identity: SourceIdentity;
  /** What capture recorded (after the bump, with --bump-epoch). */
  recorded?: SourceEpochRecord;
  /** The epoch the next changes carry: the recorded one, or recorded + 1 when the source changed. */
  epoch: number;
  /** The source differs from the recorded one: capture starts `epoch` at its next run. */
  pending: boolean;
  bumped: boolean;
  /** With --bump-epoch: the slot's active replication connection (capture's) that was ended. */
  endedCapture?: { pid: number } | { error: string } | null;
  summary: string;
}

/** The source's identity against the recorded one; with `bump`, a new epoch (conditional write). */
async function sourceEpoch(s: Session, bump: boolean, line: (l: string) => void): Promise<SourceEpochReport> {
  const identity = await readSourceIdentity(await s.pg());
  const store = { doc: s.aws().doc, table: s.config.tables.state, slot: s.config.slot };
  const shown = `system ${identity.systemId} timeline ${identity.timeline}`;
  if (bump) {
    const { record } = await resolveSourceEpoch(store, identity, { force: true, log: line });
    // The running capture stamps the epoch it read at the start of its run: end its replication
    // connection so its next run (capture retries by itself) stamps the new one. Else backfill and
    // redrive would write at the new epoch while capture's changes still carry the old one (stale).
    const ended = await endCaptureConnection(s, s.config.slot);
    const what =
      ended === null
        ? `no replication connection was active on slot ${s.config.slot}: capture's next run stamps epoch ${record.epoch}`
        : 'pid' in ended
          ? `ended capture's replication connection on slot ${s.config.slot} (pid ${ended.pid}): its next run, in a few seconds, stamps epoch ${record.epoch}`
          : `could not end the replication connection on slot ${s.config.slot} (${ended.error}): the running capture notices the new epoch within its status interval (10 s) and starts a new run`;
    line(what);
    return {
      identity,
      recorded: record,
      epoch: record.epoch,
      pending: false,
      bumped: true,
      endedCapture: ended,
      summary: `source ${shown}: epoch bumped to ${record.epoch}; ${what}`,
    };
  }
  const recorded = await readSourceEpoch(store);
  const pending = recorded !== undefined && !sameIdentity(recorded, identity);
  // The source of the epoch before: capture refuses it (no new epoch) unless bumped.
  const back = pending && recorded?.previous !== undefined && sameIdentity(recorded.previous, identity);
  const epoch = recorded ? recorded.epoch + (pending && !back ? 1 : 0) : 0;
  const summary = !recorded
    ? `source ${shown}: no epoch recorded yet (capture records epoch 0 at its first run)`
    : back
      ? `source ${shown} is the source of epoch ${recorded.previous!.epoch}, before the recorded system ${recorded.systemId} timeline ${recorded.timeline} (epoch ${recorded.epoch}): capture refuses to go back to it (an old primary?); if the switch back is deliberate, run cdc provision --bump-epoch`
      : pending
        ? `source ${shown} differs from the recorded system ${recorded.systemId} timeline ${recorded.timeline} (epoch ${recorded.epoch}): capture starts epoch ${epoch} at its next run`
        : `source ${shown}, epoch ${epoch}`;
  line(summary);
  return { identity, ...(recorded ? { recorded } : {}), epoch, pending, bumped: false, summary };
}

/** Ends the slot's active walsender (capture's connection); null when none is active. */
async function endCaptureConnection(
  s: Session,
  slot: string,
): Promise<{ pid: number } | { error: string } | null> {
  try {
    const r = await (
      await s.pg()
    ).query<{ pid: number; ended: boolean }>(
      `SELECT active_pid AS pid, pg_terminate_backend(active_pid) AS ended
         FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`,
      [slot],
    );
    const row = r.rows[0];
    if (!row) return null;
    return row.ended
      ? { pid: Number(row.pid) }
      : { error: `pg_terminate_backend(${row.pid}) returned false` };
  } catch (err) {
    return { error: (err as Error).message.slice(0, 200) };
  }
}
