/**
 * Structured logs of the worker process: one JSON object per line, `{ts, level, msg, ...attrs}`.
 * The Temporal SDK's runtime logger (Runtime.install({ logger })) is one of these, so the
 * workflow and activity loggers' attributes (workflowId, runId, activityType, taskQueue,
 * sdkComponent, …) become attributes of the line; the worker's own messages use it too.
 *
 * PII: nothing here logs a row. Errors are written as name, message, type and stack (and their
 * causes), never their `details` (a failure's details can name the record in trouble).
 */
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import type { Logger, LogLevel } from '@temporalio/common';
import { ConfigurationError } from '../domain/core/errors';

export const LOG_LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
/** Keys of the line itself: an attribute of the same name is written as `attr.<name>`. */
const RESERVED = new Set(['ts', 'level', 'msg']);
const MAX_DEPTH = 6;

/** `CDC_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR; any case), default INFO. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = (env.CDC_LOG_LEVEL ?? '').trim().toUpperCase() || 'INFO';
  if (!(LOG_LEVELS as readonly string[]).includes(raw))
    throw new ConfigurationError(`invalid CDC_LOG_LEVEL '${raw}': one of ${LOG_LEVELS.join(', ')}`);
  return raw as LogLevel;
}

/** The JSON line of a log entry (without the newline). */
export function formatLogLine(entry: LogEntry): string {
  const line: Record<string, unknown> = {
    ts: new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString(),
    level: entry.level,
    msg: entry.message,
  };
  for (const [key, value] of Object.entries(entry.meta ?? {}))
    line[RESERVED.has(key) ? `attr.${key}` : key] = plain(value, 0, new WeakSet());
  return JSON.stringify(line);
}

/**
 * A `DefaultLogger` (level filtering, the SDK's timestamps) that writes JSON lines, by default
 * to stderr (the worker's log; stdout stays free).
 */
export function createJsonLogger(
  level: LogLevel = 'INFO',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  return new DefaultLogger(level, (entry) => write(`${formatLogLine(entry)}\n`));
}

/** A value as JSON can hold it: errors by name and message, bigints as strings, cycles cut. */
function plain(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value) || depth >= MAX_DEPTH) return '[…]';
  seen.add(value);
  if (value instanceof Error) return errorOf(value, depth, seen);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v, depth + 1, seen);
  return out;
}

function errorOf(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const type = (err as { type?: unknown }).type;
  return {
    name: err.name,
    message: err.message,
    ...(typeof type === 'string' ? { type } : {}),
    ...(err.stack ? { stack: err.stack } : {}),
    ...(err.cause !== undefined ? { cause: plain(err.cause, depth + 1, seen) } : {}),
  };
}
