/**
 * `cdc provision [--check-schema] [--bump-epoch]` (also `npm run provision`): every resource of
 * the pipeline and of each consumer (the analytics database), idempotently, after the PostgreSQL
 * schema check; or only the (read-only) schema check. Then it
 * shows the source's identity against the one capture recorded (the source epoch,
 * docs/failover.md), and with `--bump-epoch` starts a new epoch and ends the slot's active
 * replication connection, so the running capture's next run stamps the new epoch at once.
 */
import type { Command } from 'commander';
import {
  readSourceEpoch,
  readSourceIdentity,
  resolveSourceEpoch,
} from '../../activities/capture/sourceEpoch';
import { sameIdentity, type SourceEpochRecord, type SourceIdentity } from '../../domain/capture/sourceEpoch';
import { consumerConfig, deploymentConsumers, provisionConsumer } from '../../infra/consumers';
import { provisionAll } from '../../infra/provisioning';
import { checkSchemaAtStartup } from '../../infra/schemaCheck';
import type { Cli, RegisterCommands, Session } from '../runtime';

export const registerProvision: RegisterCommands = (program: Command, cli: Cli) => {
  program
    .command('provision')
    .description(
      'create every resource of the pipeline, idempotently (PostgreSQL publication and slot, Kinesis, DynamoDB, EventBridge, SQS, S3), after checking the schema against the table file; show the source epoch',
    )
    .option('--check-schema', 'only check the PostgreSQL schema against the table file (read-only)')
    .option(
      '--bump-epoch',
      'start a new source epoch: every change from now on orders after everything stored (after a failover, restore, major upgrade or blue/green switch; docs/failover.md)',
    )
    .addHelpText(
      'after',
      `
Connects where the standard variables point (real AWS, your PostgreSQL), else to the local stack.
Capture starts a new epoch by itself when the source's system identifier or timeline differs from
the recorded one; --bump-epoch is for a switch it cannot see, or to go back to the cluster of the
epoch before (capture refuses that by itself). The bump ends the slot's active replication
connection (capture's), so capture's next run, a few seconds later, stamps the new epoch.
Exit codes: 0 ready, 1 error (a schema error stops provisioning).

Examples:
  cdc provision
  cdc provision --check-schema
  cdc provision --bump-epoch`,
    )
    .action(async (opts: { checkSchema?: boolean; bumpEpoch?: boolean }) => {
      await cli.session(async (s) => {
        const log: string[] = [];
        const line = (l: string) => {
          log.push(l);
          cli.out.info(l);
        };
        if (opts.checkSchema) {
          const report = await checkSchemaAtStartup(s.config, line);
          cli.out.result(
            { ok: true, schema: report.schema, source: report.source, warnings: report.warnings, log },
            () =>
              `schema ${report.schema} matches the table file ${report.source}` +
              (report.warnings.length ? ` (${report.warnings.length} warning(s))` : ''),
          );
          return;
        }
        s.aws(); // its clients are closed at the end
        await provisionAll(s.config, line);
        // Every consumer of the deployment (infra/consumers.ts): the analytics database too.
        for (const c of deploymentConsumers(s.config)) await provisionConsumer(consumerConfig(s.config, c));
        const source = await sourceEpoch(s, Boolean(opts.bumpEpoch), line);
        cli.out.result(
          { ok: true, stream: s.config.stream, slot: s.config.slot, source, log },
          () => `provisioned; ${source.summary}`,
        );
      });
    });
};

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
