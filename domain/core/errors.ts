/**
 * The error registry: every failure the pipeline meets has one failure type, and the type decides
 * what happens (see docs/architecture.md, "Failure handling"). Activities throw ApplicationFailures
 * whose `type` is one of these (activities/failures.ts); workflows derive their non-retryable
 * lists from here. One casing throughout: lower case, words joined by '-'.
 *
 * | type             | example                                            | handling                                  |
 * |------------------|----------------------------------------------------|-------------------------------------------|
 * | transient        | connection refused, 5xx, timeout                   | retry with backoff, hold the shard        |
 * | throttling       | ProvisionedThroughputExceeded, 429                 | retry with longer backoff, hold the shard |
 * | poison           | undecodable record, bad value for a transformation | dead-letter the record, move on           |
 * | permanent        | validation error for one item (e.g. too large)     | dead-letter the record, move on           |
 * | configuration    | unknown table; missing stream/table/bus; no access | record-level: dead-letter; infrastructure: hold the shard (STUCK) until fixed |
 * | slot-missing     | the replication slot does not exist                | capture fails: re-provision, then backfill |
 * | slot-invalidated | the slot's WAL was removed (`wal_status = lost`)   | capture fails: re-create, then backfill    |
 */
export const FAILURE_TYPES = {
  transient: { retryable: true },
  throttling: { retryable: true },
  poison: { retryable: false },
  permanent: { retryable: false },
  configuration: { retryable: false },
  'slot-missing': { retryable: false, stopsCapture: true },
  'slot-invalidated': { retryable: false, stopsCapture: true },
} as const satisfies Record<string, { retryable: boolean; stopsCapture?: true }>;
export type FailureType = keyof typeof FAILURE_TYPES;

/** What an activity retry policy must not retry: derived from the registry, never written by hand. */
export const NON_RETRYABLE_FAILURE_TYPES: FailureType[] = (
  Object.keys(FAILURE_TYPES) as FailureType[]
).filter((t) => !FAILURE_TYPES[t].retryable);

/**
 * What stops capture for good (an operator must act). Capture retries everything else: it has no
 * record to dead-letter, and giving up would let WAL grow with nobody reading it.
 */
export const CAPTURE_FATAL_FAILURE_TYPES: FailureType[] = (
  Object.keys(FAILURE_TYPES) as FailureType[]
).filter((t) => 'stopsCapture' in FAILURE_TYPES[t]);

export const isFailureType = (t: unknown): t is FailureType =>
  typeof t === 'string' && Object.hasOwn(FAILURE_TYPES, t);

/** Categories of the shard pipeline (record and infrastructure failures). */
export const ERROR_CATEGORIES = ['transient', 'throttling', 'poison', 'permanent', 'configuration'] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/** Categories a dead-letter item can carry: the record-level ones, and an operator's skip. */
export type DeadLetterCategory = 'poison' | 'configuration' | 'permanent' | 'operator-skip';
/** Categories of a record a step rejected on its own (dead-lettered, the batch goes on). */
export type RejectionCategory = Exclude<DeadLetterCategory, 'operator-skip'>;

/** Errors of our own: each carries its failure type, so classification never guesses. */
export abstract class PipelineError extends Error {
  abstract readonly failureType: FailureType;
}
/** A record that cannot be processed: undecodable, or a value a transformation refuses. */
export class PoisonRecordError extends PipelineError {
  override readonly name = 'PoisonRecordError';
  readonly failureType = 'poison';
}
/** Bytes of the replication stream that do not decode as pgoutput. */
export class PgoutputDecodeError extends PipelineError {
  override readonly name = 'PgoutputDecodeError';
  readonly failureType = 'poison';
}
/** A PostgreSQL value whose text form the type decoder refuses. */
export class PgTypeError extends PipelineError {
  override readonly name = 'PgTypeError';
  readonly failureType = 'poison';
}
/** A table that is not configured, or a configuration that contradicts itself. */
export class ConfigurationError extends PipelineError {
  override readonly name = 'ConfigurationError';
  readonly failureType = 'configuration';
}
export class SlotMissingError extends PipelineError {
  override readonly name = 'SlotMissingError';
  readonly failureType = 'slot-missing';
}
export class SlotInvalidatedError extends PipelineError {
  override readonly name = 'SlotInvalidatedError';
  readonly failureType = 'slot-invalidated';
}

/** Every error class of the registry, by failure type (the test checks each is classified). */
export const PIPELINE_ERRORS = [
  PoisonRecordError,
  PgoutputDecodeError,
  PgTypeError,
  ConfigurationError,
  SlotMissingError,
  SlotInvalidatedError,
] as const;

export interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'RequestThrottled',
  'SlowDown',
  'KMSThrottlingException',
]);
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ECONNABORTED',
]);
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'InternalServerError',
  'InternalFailure',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'ExpiredIteratorException',
  'KMSInternalException',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const CONFIGURATION = new Set([
  'ResourceNotFoundException',
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
const PERMANENT = new Set([
  'ValidationException',
  'SerializationException',
  'InvalidArgument',
  'MalformedDetail',
]);

const OUR_ERRORS: ReadonlyMap<string, FailureType> = new Map(
  PIPELINE_ERRORS.map((C) => {
    const e = new C('');
    return [e.name, e.failureType];
  }),
);

export function classifyError(err: unknown): FailureType {
  if (typeof err !== 'object' || err === null) return 'transient';
  if (err instanceof PipelineError) return err.failureType;
  const e = err as ErrorLike;
  // By name too: an error may come from another copy of this module (e.g. a failure's cause).
  const ours = OUR_ERRORS.get(e.name ?? '');
  if (ours) return ours;
  const name = e.name ?? '';
  const code = e.code ?? '';
  if (THROTTLING.has(name) || THROTTLING.has(code) || e.$metadata?.httpStatusCode === 429)
    return 'throttling';
  if (CONFIGURATION.has(name) || CONFIGURATION.has(code)) return 'configuration';
  if (PERMANENT.has(name) || PERMANENT.has(code)) return 'permanent';
  if (TRANSIENT_NAMES.has(name) || TRANSIENT_CODES.has(code)) return 'transient';
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return 'transient';
  if (status !== undefined && status >= 400) return 'permanent';
  // Wrapped errors (e.g. AggregateError, SDK wrappers) classify by their cause.
  if (e.cause && e.cause !== err) return classifyError(e.cause);
  // Unknown failures hold the shard rather than drop data.
  return 'transient';
}

/**
 * DynamoDB ValidationException messages that are about one item (its size, a number it holds),
 * as opposed to the table or the request (a wrong key schema, a bad expression).
 */
const ITEM_LEVEL_VALIDATION =
  /item size|maximum allowed size|number overflow|larger than supported range|smaller than supported range|precision/i;

/**
 * Whether an error is about the record being written and nothing else, so that record alone is
 * dead-lettered and the batch goes on. Anything else (unknown 4xx, a table provisioned with the
 * wrong key, a bad signature) holds the shard: dead-lettering every record of every batch would
 * lose the whole stream to the DLQ.
 */
export function isRecordLevel(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (err instanceof PoisonRecordError) return true;
  const e = err as ErrorLike;
  if (e.name === 'PoisonRecordError') return true;
  return e.name === 'ValidationException' && ITEM_LEVEL_VALIDATION.test(e.message ?? '');
}

/** Retry schedule of a held shard for a category: base delay doubling up to a cap. */
export function holdBackoffMs(category: FailureType, failedAttempts: number): number {
  const base = category === 'throttling' ? 2_000 : 1_000;
  const cap = category === 'throttling' ? 60_000 : 30_000;
  return Math.min(cap, base * 2 ** Math.max(0, failedAttempts - 1));
}
