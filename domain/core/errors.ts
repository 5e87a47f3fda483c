/**
 * Error classification: every failure the pipeline meets is one of five categories, and the
 * category decides what happens (see docs/architecture.md, "Failure handling"):
 *
 * | category      | example                                            | handling                                  |
 * |---------------|----------------------------------------------------|-------------------------------------------|
 * | transient     | connection refused, 5xx, timeout                   | retry with backoff, hold the shard        |
 * | throttling    | ProvisionedThroughputExceeded, 429                 | retry with longer backoff, hold the shard |
 * | poison        | undecodable record, bad value for a transformation | dead-letter the record, move on           |
 * | permanent     | validation error for one item (e.g. too large)     | dead-letter the record, move on           |
 * | configuration | unknown table; missing stream/table/bus; no access | record-level: dead-letter; infrastructure: hold the shard (STUCK) until fixed |
 */
export const ERROR_CATEGORIES = ['transient', 'throttling', 'poison', 'permanent', 'configuration'] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

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
  'ConfigurationError',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
const POISON = new Set(['PoisonRecordError', 'PgoutputDecodeError', 'PgTypeError']);
const PERMANENT = new Set([
  'ValidationException',
  'SerializationException',
  'InvalidArgument',
  'MalformedDetail',
]);

export function classifyError(err: unknown): ErrorCategory {
  if (typeof err !== 'object' || err === null) return 'transient';
  const e = err as ErrorLike;
  const name = e.name ?? '';
  const code = e.code ?? '';
  if (THROTTLING.has(name) || THROTTLING.has(code) || e.$metadata?.httpStatusCode === 429)
    return 'throttling';
  if (POISON.has(name)) return 'poison';
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

/** Retry schedule of a held shard for a category: base delay doubling up to a cap. */
export function holdBackoffMs(category: ErrorCategory, failedAttempts: number): number {
  const base = category === 'throttling' ? 2_000 : 1_000;
  const cap = category === 'throttling' ? 60_000 : 30_000;
  return Math.min(cap, base * 2 ** Math.max(0, failedAttempts - 1));
}
