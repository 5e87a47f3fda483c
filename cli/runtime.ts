/**
 * What every `cdc` command shares: exit codes, errors that become one line on stderr, and a
 * session (environment, configuration, Temporal, AWS and PostgreSQL clients, opened on first use
 * and closed at the end so the process exits promptly).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Client as TemporalClient } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client as PgClient } from 'pg';
import { z } from 'zod';
import { awsClients, destroyAwsClients, type AwsClients } from '../infra/aws';
import { loadConfig, type PipelineConfig } from '../infra/config';
import { pgClient } from '../infra/pgConnection';
import { temporalClient } from '../infra/temporal';
import { TARGET_VAR, useEnvironment, type EnvironmentChoice } from '../infra/localStack/environment';
import { Output, processIo, type Io } from './output';

/** Exit codes (documented in `cdc --help` and docs/cli.md). */
export const EXIT = {
  OK: 0,
  /** Anything went wrong: a connection, an AWS or Temporal error, an operation not acknowledged. */
  ERROR: 1,
  /** The command line is wrong (commander's errors, invalid arguments). */
  USAGE: 2,
  /** What the command names does not exist (a workflow, an entity, a queue, a table). */
  NOT_FOUND: 3,
  /** The pipeline is unhealthy: a shard STUCK, capture failing (status), a service down (stack status). */
  UNHEALTHY: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  error (connection, AWS/Temporal error, operation not acknowledged in time)
  2  usage error (unknown command or option, invalid argument)
  3  not found (workflow, entity, queue, table; status: the pipeline's workflows are not running)
  4  unhealthy (status: a shard STUCK or capture failing; stack status: a service down)

Environment:
  Connects where --target (CDC_TARGET) says: local or aws. Without it, like the npm scripts:
  endpoints you set (PGHOST, AWS_ENDPOINT_URL_*, TEMPORAL_ADDRESS), else the local stack when it
  runs; AWS credentials in the shell alone never choose real AWS. A command that changes something
  prints where it goes first. CDC_* variables configure the pipeline (stream, consumer, tables, ...).
  CDC_DEBUG=1 prints stack traces.`;

/** An error with its exit code; its message is the one line printed on stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.ERROR,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.USAGE);
export const notFound = (message: string) => new CliError(message, EXIT.NOT_FOUND);

/** Zod issues as one line: `path: message; path: message`. */
export function zodMessage(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Validates a value with zod at the boundary: a usage error (exit 2) naming `what` when invalid. */
export function parseArg<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw usageError(`${what}: ${zodMessage(r.error)}`);
  return r.data;
}

/** A commander argument parser backed by a zod schema (commander reports it as a usage error). */
export function zodParser<T>(schema: z.ZodType<T>): (value: string) => T {
  return (value: string) => {
    const r = schema.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(zodMessage(r.error));
    return r.data;
  };
}

/** Any error as a CliError: known kinds get their exit code, the message is cut to one line. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof z.ZodError) return usageError(zodMessage(err));
  if (err instanceof WorkflowNotFoundError)
    return notFound(`workflow ${err.workflowId ?? ''} not found`.replace('  ', ' '));
  const e = err as { name?: string; message?: string } | undefined;
  const name = e?.name ?? '';
  const message = firstLine(e?.message ?? String(err));
  if (/ResourceNotFoundException|NotFoundException|QueueDoesNotExist|NoSuchEntity/.test(name))
    return notFound(message);
  return new CliError(name && !['Error', 'CliError'].includes(name) ? `${name}: ${message}` : message);
}

const firstLine = (s: string) => s.split('\n').find((l) => l.trim() !== '') ?? s;

export const isDebug = (env: NodeJS.ProcessEnv = process.env) => env.CDC_DEBUG === '1';

/** The connections of one command, opened on first use. */
export interface Session {
  config: PipelineConfig;
  /** Where this command connects (PostgreSQL, AWS, Temporal), and why. */
  environment: EnvironmentChoice;
  temporal(): Promise<TemporalClient>;
  aws(): AwsClients;
  /** A PostgreSQL client (PG* variables), connected. */
  pg(): Promise<PgClient>;
  /** Runs `fn` with a deadline on Temporal calls (a query to a workflow without a worker waits). */
  deadline<T>(ms: number, fn: () => Promise<T>): Promise<T>;
}

/** The program's state shared by the command groups: where it writes, the exit code, the session. */
export class Cli {
  exitCode: ExitCode = EXIT.OK;
  out: Output;
  private closers: (() => Promise<void> | void)[] = [];

  constructor(readonly io: Io = processIo) {
    this.out = new Output(io, false);
  }

  /** Called before each action: reads the global options of the command that runs. */
  prepare(command: Command): void {
    const opts = command.optsWithGlobals<{ json?: boolean; target?: string }>();
    this.out = new Output(this.io, Boolean(opts.json));
    if (opts.target) process.env[TARGET_VAR] = opts.target;
  }

  /** Raises the exit code (never lowers it): 4 wins over 3 wins over 0. */
  setExit(code: ExitCode): void {
    if (code > this.exitCode) this.exitCode = code;
  }

  /**
   * Connects (environment, configuration), runs `fn`, closes every client it opened. A command
   * that `changes` something says where it goes first, one line on stderr
   * (`environment: PostgreSQL → …; AWS → …; Temporal → …`); the others only with CDC_DEBUG=1.
   */
  async session<T>(fn: (s: Session) => Promise<T>, opts: { changes?: boolean } = {}): Promise<T> {
    const environment = await useEnvironment({
      summary: isDebug() || opts.changes === true,
      log: (l) => this.io.stderr(`${l}\n`),
    });
    const config = loadConfig();
    let temporal: Promise<TemporalClient> | undefined;
    let pg: Promise<PgClient> | undefined;
    let aws = false;
    const session: Session = {
      config,
      environment,
      temporal: () => (temporal ??= temporalClient()),
      aws: () => {
        aws = true;
        return awsClients();
      },
      pg: () =>
        (pg ??= (async () => {
          const c = pgClient();
          c.on('error', () => undefined); // a dropped connection fails the query, not the process
          await c.connect();
          return c;
        })()),
      deadline: async (ms, f) => (await session.temporal()).connection.withDeadline(Date.now() + ms, f),
    };
    try {
      return await fn(session);
    } finally {
      if (temporal) await (await temporal.catch(() => undefined))?.connection.close().catch(() => undefined);
      if (pg) await (await pg.catch(() => undefined))?.end().catch(() => undefined);
      if (aws) destroyAwsClients();
      for (const close of this.closers.splice(0)) await close();
    }
  }

  /** A session of a command that changes something: it prints where it goes before it does. */
  changingSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    return this.session(fn, { changes: true });
  }

  /** Prints a failure: one line on stderr (a stack trace with CDC_DEBUG=1), a JSON error with --json. */
  fail(err: unknown): ExitCode {
    const e = toCliError(err);
    this.io.stderr(`cdc: ${e.message}\n`);
    if (isDebug() && err instanceof Error && err.stack) this.io.stderr(`${err.stack}\n`);
    if (this.out.json && !this.out.written)
      this.out.result({ ok: false, error: e.message, exitCode: e.exitCode }, () => '');
    return e.exitCode;
  }
}

/** A command group: adds its commands to the program (the shape of every file in cli/commands/). */
export type RegisterCommands = (program: Command, cli: Cli) => void;

/** Polls `check` every `intervalMs` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
