import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  ConsumerSchema,
  IntervalSchema,
  ReasonSchema,
  SequenceNumberSchema,
  ShardIdSchema,
} from '../../../cli/args';
import { holds } from '../../../cli/commands/control';
import { CliError, EXIT, parseArg, toCliError } from '../../../cli/runtime';
import { WorkflowNotFoundError } from '@temporalio/common';

describe('cdc: argument validation', () => {
  it('accepts shard ids and shard numbers, refuses anything else', () => {
    assert.equal(ShardIdSchema.parse('shardId-000000000003'), 'shardId-000000000003');
    assert.equal(ShardIdSchema.parse('3'), 'shardId-000000000003');
    assert.equal(ShardIdSchema.parse(' 12 '), 'shardId-000000000012');
    for (const bad of ['', 'shardId-1', 'shard-000000000001', '-1', 'shardId-0000000000001'])
      assert.equal(ShardIdSchema.safeParse(bad).success, false, bad);
  });

  it('sequence numbers are digits; reasons are non-empty and trimmed', () => {
    assert.equal(
      SequenceNumberSchema.parse('49660000000000000000000000000000000000000000000000000002').length,
      56,
    );
    for (const bad of ['', '12a', '-1', '1.5', 'x'.repeat(3)])
      assert.equal(SequenceNumberSchema.safeParse(bad).success, false, bad);
    assert.equal(ReasonSchema.parse('  ticket OPS-42 '), 'ticket OPS-42');
    assert.equal(ReasonSchema.safeParse('   ').success, false);
    assert.equal(ReasonSchema.safeParse('x'.repeat(501)).success, false);
    assert.equal(ConsumerSchema.safeParse('inventory-pipeline').success, true);
    assert.equal(ConsumerSchema.safeParse('a:b').success, false);
    assert.equal(IntervalSchema.parse('2.5'), 2.5);
  });

  it('parseArg turns an invalid value into a usage error naming it', () => {
    assert.throws(
      () => parseArg(z.string().min(3, 'too short'), 'ab', 'table'),
      (e: unknown) => e instanceof CliError && e.exitCode === EXIT.USAGE && e.message === 'table: too short',
    );
  });

  it('maps errors to exit codes and one line', () => {
    assert.equal(
      toCliError(new WorkflowNotFoundError('gone', 'cdc-shard:x', undefined)).exitCode,
      EXIT.NOT_FOUND,
    );
    const aws = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
    });
    assert.equal(toCliError(aws).exitCode, EXIT.NOT_FOUND);
    const plain = toCliError(new Error('connect ECONNREFUSED 127.0.0.1:7233\n    at somewhere'));
    assert.deepEqual([plain.exitCode, plain.message], [EXIT.ERROR, 'connect ECONNREFUSED 127.0.0.1:7233']);
    assert.equal(toCliError(z.string().safeParse(1).error).exitCode, EXIT.USAGE);
  });

  it('skip applies only to a record the shard holds', () => {
    const lastError = { step: 'publish', category: 'transient' as const, message: 'x', attempts: 3, at: '' };
    const batch = { first: '100', last: '199', size: 5 };
    assert.equal(holds({ trouble: { sequenceNumber: '150' } }, '150'), true);
    assert.equal(holds({ batch, lastError }, '150'), true);
    assert.equal(holds({ batch, lastError }, '99'), false);
    assert.equal(holds({ batch, lastError }, '1000'), false, 'compared as numbers, not strings');
    assert.equal(holds({ batch }, '150'), false, 'a batch without a failing step holds nothing to skip');
  });
});
