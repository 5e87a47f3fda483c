/**
 * The `cdc` program: its command groups (cli/commands/), global options, and how a run ends
 * (an exit code that means something, a one-line error on stderr).
 */
import { Command, CommanderError, Option } from 'commander';
import { TARGETS } from '../infra/localStack/environment';
import { registerControl } from './commands/control';
import { registerBackfill } from './commands/backfill';
import { registerDlq } from './commands/dlq';
import { registerInspect } from './commands/inspect';
import { registerPipeline } from './commands/pipeline';
import { registerProvision } from './commands/provision';
import { registerReserve } from './commands/reserve';
import { registerStack } from './commands/stack';
import { registerStatus } from './commands/status';
import { processIo, type Io } from './output';
import { Cli, EXIT, EXIT_CODES_HELP, type ExitCode, type RegisterCommands } from './runtime';

/** Every group, in the order `cdc --help` lists them. */
export const GROUPS: RegisterCommands[] = [
  registerStatus,
  registerControl,
  registerDlq,
  registerBackfill,
  registerReserve,
  registerInspect,
  registerProvision,
  registerPipeline,
  registerStack,
];

export function buildProgram(cli: Cli): Command {
  const program = new Command('cdc')
    .description(
      'operate the CDC pipeline: PostgreSQL → capture → Kinesis → shard readers → DynamoDB + EventBridge',
    )
    .option('--json', 'machine output: one JSON document on stdout')
    .addOption(
      new Option(
        '--target <target>',
        'where the command goes: local (the local stack, whatever the shell holds) or aws (the standard variables as they are: real AWS, your PostgreSQL and Temporal); default CDC_TARGET, else explicit endpoints, else the running local stack',
      ).choices([...TARGETS]),
    )
    .configureOutput({
      writeOut: (s) => cli.io.stdout(s),
      writeErr: (s) => cli.io.stderr(s),
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .hook('preAction', (_program, action) => cli.prepare(action));
  for (const register of GROUPS) register(program, cli);
  // A group built on its own (new Command + addCommand) does not inherit the program's exit
  // override and output: without this, its usage errors would exit 1 and print to the console.
  for (const group of program.commands) inheritSettings(group, program);
  return program;
}

function inheritSettings(command: Command, parent: Command): void {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inheritSettings(sub, command);
}

/** Runs `cdc` with `args` (without node and the script), returns the exit code. */
export async function runCli(args: string[], io: Io = processIo): Promise<ExitCode> {
  const cli = new Cli(io);
  const program = buildProgram(cli);
  try {
    await program.parseAsync(args, { from: 'user' });
    return cli.exitCode;
  } catch (err) {
    // Commander's own exits: help and version are 0, every other is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    return cli.fail(err);
  }
}
