/**
 * A backfill request (issue 11): which tables, which rows, how fast, which mode. Validated with
 * zod at every entrance (the client helper, the CLI, and the workflow itself for inputs given
 * through `temporal workflow start` or the Web UI). Pure: no table file, no I/O; whether the
 * tables and columns exist is checked by the `planBackfill` activity.
 */
import { z } from 'zod';

export const BACKFILL_MODES = ['snapshot', 'replay', 'reconcile'] as const;
export type BackfillMode = (typeof BACKFILL_MODES)[number];

export const DEFAULT_CHUNK_SIZE = 1000;
export const MAX_CHUNK_SIZE = 10_000;
/** Rows per second. */
export const DEFAULT_RATE_LIMIT = 2000;
export const MAX_RATE_LIMIT = 1_000_000;
/** Continue-as-new after this many chunks (or when the server suggests it). */
export const DEFAULT_CHUNKS_PER_RUN = 200;
/**
 * Continue-as-new once a run's history holds this many events (or the server suggests it),
 * between chunks and while a failing chunk is held: a long outage spans many short runs.
 */
export const DEFAULT_MAX_HISTORY_EVENTS = 5_000;

const Identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier');
/** A value compared with a column: sent as a query parameter, never spliced into SQL. */
const FilterValue = z.union([
  z.string().max(1024),
  z.number().refine(Number.isFinite, 'must be finite'),
  z.boolean(),
]);
const SequenceNumber = z.string().regex(/^\d{1,128}$/, 'must be a Kinesis sequence number (digits only)');
const ShardId = z.string().regex(/^shardId-\d{12}$/, 'must be a shard id like shardId-000000000001');
const IsoTime = z.iso.datetime({
  offset: true,
  message: 'must be an ISO-8601 time, e.g. 2026-11-23T10:00:00Z',
});

export const BackfillFilterSchema = z.strictObject({
  /** On the first key column: `from` inclusive, `to` exclusive. */
  keyRange: z
    .strictObject({ from: FilterValue.optional(), to: FilterValue.optional() })
    .refine((r) => r.from !== undefined || r.to !== undefined, 'give from, to or both')
    .optional(),
  /** Column equality list (`column = value`, `null` means IS NULL), all of them must hold. */
  equals: z
    .record(Identifier, FilterValue.nullable())
    .refine((e) => Object.keys(e).length <= 16, 'at most 16 columns')
    .optional(),
});
export type BackfillFilter = z.output<typeof BackfillFilterSchema>;

export const ReplayOptionsSchema = z
  .strictObject({
    /** Start at this time on every shard (AT_TIMESTAMP). */
    since: IsoTime.optional(),
    /** Or start at a sequence number per shard (only the shards named are replayed). */
    fromSequence: z.record(ShardId, SequenceNumber).optional(),
    /** With fromSequence: start at the record itself (AT_SEQUENCE_NUMBER) instead of after it. */
    inclusive: z.boolean().default(false),
    /** Stop at records that arrived after this time (default: the time the backfill started). */
    until: IsoTime.optional(),
  })
  .refine(
    (r) => (r.since === undefined) !== (r.fromSequence === undefined),
    'give exactly one of since and fromSequence',
  )
  .refine(
    (r) => r.fromSequence === undefined || Object.keys(r.fromSequence).length > 0,
    'fromSequence names no shard',
  )
  .refine(
    (r) => r.since === undefined || r.until === undefined || Date.parse(r.since) <= Date.parse(r.until),
    'until is before since',
  );
export type ReplayOptions = z.output<typeof ReplayOptionsSchema>;

export const BackfillRequestSchema = z
  .strictObject({
    /** Names the backfill: the workflow id is `cdc-backfill:<id>`. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - (at most 100)')
      .optional(),
    /** Table names of the table file, or 'all' configured tables. */
    tables: z.union([z.literal('all'), z.array(Identifier).min(1).max(100)]),
    mode: z.enum(BACKFILL_MODES).default('snapshot'),
    /** Snapshot only: which rows. */
    filter: BackfillFilterSchema.optional(),
    /** Rows per chunk (one activity, one snapshot). */
    chunkSize: z.number().int().min(1).max(MAX_CHUNK_SIZE).default(DEFAULT_CHUNK_SIZE),
    /** Rows per second, paced by workflow timers between chunks. */
    rateLimit: z.number().positive().max(MAX_RATE_LIMIT).default(DEFAULT_RATE_LIMIT),
    /** Replay only: where to start and end. */
    replay: ReplayOptionsSchema.optional(),
    /** Continue-as-new after this many chunks. */
    chunksPerRun: z.number().int().min(1).max(10_000).default(DEFAULT_CHUNKS_PER_RUN),
    /** Continue-as-new when a run's history has this many events (tests set it low). */
    maxHistoryEvents: z.number().int().min(1).max(40_000).default(DEFAULT_MAX_HISTORY_EVENTS),
  })
  .superRefine((r, ctx) => {
    if (r.mode === 'replay' && !r.replay)
      ctx.addIssue({
        code: 'custom',
        path: ['replay'],
        message: 'replay mode needs replay options (since or fromSequence)',
      });
    if (r.mode !== 'replay' && r.replay)
      ctx.addIssue({
        code: 'custom',
        path: ['replay'],
        message: `replay options apply to mode replay, not ${r.mode}`,
      });
    if (r.mode !== 'snapshot' && r.filter)
      ctx.addIssue({
        code: 'custom',
        path: ['filter'],
        message: `a filter applies to mode snapshot, not ${r.mode}`,
      });
    if (Array.isArray(r.tables) && new Set(r.tables).size !== r.tables.length)
      ctx.addIssue({ code: 'custom', path: ['tables'], message: 'a table is listed twice' });
  });

/** A request as given (defaults may be left out). */
export type BackfillRequest = z.input<typeof BackfillRequestSchema>;
/** A validated request, defaults filled in. */
export type ValidBackfillRequest = z.output<typeof BackfillRequestSchema>;

/** Validates a request; throws a ZodError naming the field. */
export const parseBackfillRequest = (request: unknown): ValidBackfillRequest =>
  BackfillRequestSchema.parse(request);

/** The problems of a request as one line (`path: message; …`), or undefined when it is valid. */
export function requestProblem(request: unknown): string | undefined {
  const r = BackfillRequestSchema.safeParse(request);
  if (r.success) return undefined;
  return r.error.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** A default id: `<mode>-<table or n-tables>-<UTC time>`, e.g. `snapshot-inventory-20261123T101500Z`. */
export function defaultBackfillId(mode: BackfillMode, tables: readonly string[] | 'all', now: Date): string {
  const what = tables === 'all' ? 'all' : tables.length === 1 ? tables[0] : `${tables.length}-tables`;
  const time = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${mode}-${what}-${time}`.slice(0, 100);
}
