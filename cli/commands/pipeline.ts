/**
 * `cdc pipeline start`: starts the capture and supervisor workflows on the Temporal cluster the
 * environment configures (no-op for one already running). For setups whose workers run elsewhere
 * (a container, Temporal Cloud); `npm start` does this itself on the local stack.
 */
import type { Command } from 'commander';
import { startPipeline } from '../../infra/pipelineClient';
import type { Cli, RegisterCommands } from '../runtime';

export const registerPipeline: RegisterCommands = (program: Command, cli: Cli) => {
  const pipeline = program
    .command('pipeline')
    .description('the pipeline’s long-running workflows (capture, supervisor)');
  pipeline
    .command('start')
    .description('start capture and the stream supervisor, unless they already run')
    .addHelpText(
      'after',
      `
Connects where the standard variables point (TEMPORAL_ADDRESS, …), else to the local stack.
Exit codes: 0 started or already running, 1 error.

Example:
  cdc pipeline start`,
    )
    .action(async () => {
      await cli.changingSession(async (s) => {
        const { capture, supervisor } = await startPipeline(await s.temporal(), s.config);
        cli.out.result(
          { ok: true, capture: capture.workflowId, supervisor: supervisor?.workflowId ?? null },
          () => `capture: ${capture.workflowId}\nsupervisor: ${supervisor?.workflowId ?? '—'}`,
        );
      });
    });
};
