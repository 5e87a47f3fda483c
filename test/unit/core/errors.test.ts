import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { toFailure } from '../../../activities/failures';
import {
  CAPTURE_FATAL_FAILURE_TYPES,
  classifyError,
  ConfigurationError,
  FAILURE_TYPES,
  holdBackoffMs,
  isFailureType,
  NON_RETRYABLE_FAILURE_TYPES,
  PIPELINE_ERRORS,
  PoisonRecordError,
} from '../../../domain/core/errors';

const named = (name: string, extra: object = {}) => Object.assign(new Error('x'), { name }, extra);

describe('error classification', () => {
  const cases: [string, unknown, string][] = [
    ['Kinesis throughput exceeded', named('ProvisionedThroughputExceededException'), 'throttling'],
    ['EventBridge throttling', named('ThrottlingException'), 'throttling'],
    ['HTTP 429', named('Whatever', { $metadata: { httpStatusCode: 429 } }), 'throttling'],
    ['connection refused', named('Error', { code: 'ECONNREFUSED' }), 'transient'],
    ['connection reset', named('Error', { code: 'ECONNRESET' }), 'transient'],
    ['SDK timeout', named('TimeoutError'), 'transient'],
    ['HTTP 503', named('Whatever', { $metadata: { httpStatusCode: 503 } }), 'transient'],
    ['DynamoDB transaction conflict', named('TransactionConflictException'), 'transient'],
    ['our poison record', new PoisonRecordError('bad value'), 'poison'],
    ['pgoutput decode error', named('PgoutputDecodeError'), 'poison'],
    ['our configuration error', new ConfigurationError('unknown table'), 'configuration'],
    ['missing table or bus', named('ResourceNotFoundException'), 'configuration'],
    ['no access', named('AccessDeniedException'), 'configuration'],
    ['bad credentials', named('UnrecognizedClientException'), 'configuration'],
    ['item too large', named('ValidationException'), 'permanent'],
    ['other HTTP 400', named('Whatever', { $metadata: { httpStatusCode: 400 } }), 'permanent'],
    [
      'wrapped cause',
      Object.assign(new Error('outer'), { cause: named('ThrottlingException') }),
      'throttling',
    ],
    ['unknown error holds the shard', new Error('something odd'), 'transient'],
    ['not an object', 'boom', 'transient'],
  ];
  for (const [what, err, expected] of cases) {
    it(`${what} → ${expected}`, () => assert.equal(classifyError(err), expected));
  }

  it('backs off exponentially up to a cap, longer for throttling', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => holdBackoffMs('transient', n)),
      [1_000, 2_000, 4_000, 8_000],
    );
    assert.equal(holdBackoffMs('transient', 20), 30_000);
    assert.equal(holdBackoffMs('throttling', 1), 2_000);
    assert.equal(holdBackoffMs('throttling', 20), 60_000);
  });
});

describe('error registry', () => {
  for (const ErrorClass of PIPELINE_ERRORS) {
    const err = new ErrorClass('detail');
    it(`${err.name} is classified as its own failure type, also by name alone`, () => {
      assert.ok(isFailureType(err.failureType));
      assert.equal(classifyError(err), err.failureType);
      assert.equal(classifyError(named(err.name)), err.failureType);
    });
    it(`${err.name} reaches the workflow as an ApplicationFailure of type ${err.failureType}`, () => {
      const failure = toFailure(err);
      assert.ok(failure instanceof ApplicationFailure);
      assert.equal(failure.type, err.failureType);
      assert.match(failure.message, /detail/);
    });
  }

  it('every failure type is written in one casing', () => {
    for (const t of Object.keys(FAILURE_TYPES)) assert.match(t, /^[a-z]+(-[a-z]+)*$/);
  });

  it('derives the non-retryable lists from the registry', () => {
    assert.deepEqual(NON_RETRYABLE_FAILURE_TYPES, [
      'poison',
      'permanent',
      'configuration',
      'slot-missing',
      'slot-invalidated',
    ]);
    assert.deepEqual(CAPTURE_FATAL_FAILURE_TYPES, ['slot-missing', 'slot-invalidated']);
  });

  it('an unknown error becomes a transient failure, so the shard holds rather than drops data', () => {
    assert.equal(toFailure(new Error('odd')).type, 'transient');
  });
});
