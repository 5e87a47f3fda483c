import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { createJsonLogger, logLevelFromEnv } from '../../../infra/logging';

function capture(level: Parameters<typeof createJsonLogger>[0]) {
  const lines: string[] = [];
  const logger = createJsonLogger(level, (line) => lines.push(line));
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, parsed };
}

describe('structured logs', () => {
  it('writes one JSON object per line: ts, level, msg first, then the attributes', () => {
    const { logger, lines, parsed } = capture('INFO');
    logger.info('Activity completed', {
      workflowId: 'cdc-shard:s:c:shardId-000000000000',
      runId: 'r1',
      activityType: 'applyEvents',
      taskQueue: 'cdc-pipeline',
      durationMs: 12,
    });
    assert.equal(lines.length, 1);
    assert.ok(lines[0].endsWith('\n'));
    assert.equal(lines[0].trimEnd().split('\n').length, 1);
    const [line] = parsed();
    assert.deepEqual(Object.keys(line).slice(0, 3), ['ts', 'level', 'msg']);
    assert.equal(line.level, 'INFO');
    assert.equal(line.msg, 'Activity completed');
    assert.ok(!Number.isNaN(Date.parse(String(line.ts))));
    assert.ok(Math.abs(Date.parse(String(line.ts)) - Date.now()) < 60_000);
    assert.equal(line.workflowId, 'cdc-shard:s:c:shardId-000000000000');
    assert.equal(line.activityType, 'applyEvents');
    assert.equal(line.taskQueue, 'cdc-pipeline');
    assert.equal(line.durationMs, 12);
  });

  it('filters by level', () => {
    const { logger, parsed } = capture('WARN');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    assert.deepEqual(
      parsed().map((l) => l.level),
      ['WARN', 'ERROR'],
    );
  });

  it('writes errors by name, message and type, never their details; keeps line keys from being overwritten', () => {
    const { logger, parsed } = capture('INFO');
    const failure = ApplicationFailure.create({
      type: 'transient',
      message: 'ThrottlingException: slow down',
      details: [{ sequenceNumber: '1', entityId: 'SECRET-KEY#1' }],
      cause: new Error('inner'),
    });
    const cyclic: Record<string, unknown> = { n: 1n };
    cyclic.self = cyclic;
    logger.warn('Activity failed', { error: failure, level: 'spoofed', cyclic });
    const text = JSON.stringify(parsed());
    assert.doesNotMatch(text, /SECRET-KEY/);
    const [line] = parsed();
    assert.equal(line.level, 'WARN');
    assert.equal(line['attr.level'], 'spoofed');
    const error = line.error as Record<string, unknown>;
    assert.equal(error.name, 'ApplicationFailure');
    assert.equal(error.type, 'transient');
    assert.equal(error.message, 'ThrottlingException: slow down');
    assert.equal((error.cause as Record<string, unknown>).message, 'inner');
    assert.deepEqual(line.cyclic, { n: '1', self: '[…]' });
  });

  it('CDC_LOG_LEVEL: INFO by default, any case, refuses unknown levels', () => {
    assert.equal(logLevelFromEnv({}), 'INFO');
    assert.equal(logLevelFromEnv({ CDC_LOG_LEVEL: 'debug' }), 'DEBUG');
    assert.throws(() => logLevelFromEnv({ CDC_LOG_LEVEL: 'loud' }), /invalid CDC_LOG_LEVEL/);
  });
});
