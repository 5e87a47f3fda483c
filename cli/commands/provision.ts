/**
 * `cdc provision [--check-schema]`: what `npm run provision` does (scripts/provision.ts), through
 * the same functions: every resource of the pipeline, idempotently, after the PostgreSQL schema
 * check; or only the (read-only) schema check.
 */
import type { Command } from 'commander';
import { provisionAll } from '../../infra/provisioning';
import { checkSchemaAtStartup } from '../../infra/schemaCheck';
import type { Cli, RegisterCommands } from '../runtime';

export const registerProvision: RegisterCommands = (program: Command, cli: Cli) => {
  program
    .command('provision')
    .description(
      'create every resource of the pipeline, idempotently (PostgreSQL publication and slot, Kinesis, DynamoDB, EventBridge, SQS, S3), after checking the schema against the table file',
    )
    .option('--check-schema', 'only check the PostgreSQL schema against the table file (read-only)')
    .addHelpText(
      'after',
      `
Connects where the standard variables point (real AWS, your PostgreSQL), else to the local stack.
Exit codes: 0 ready, 1 error (a schema error stops provisioning).

Examples:
  cdc provision
  cdc provision --check-schema`,
    )
    .action(async (opts: { checkSchema?: boolean }) => {
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
        cli.out.result({ ok: true, stream: s.config.stream, slot: s.config.slot, log }, () => 'provisioned');
      });
    });
};
