import assert from 'node:assert/strict';
import { parseRequest, PauseRequestSchema, SkipRequestSchema } from '../../../domain/shards/operatorRequests';

describe('operator requests (signal arguments)', () => {
  it('pause: no input, null, {} and an empty reason all pause with the default reason', () => {
    for (const input of [undefined, null, {}, { reason: '' }, { reason: '   ' }])
      assert.deepEqual(parseRequest(PauseRequestSchema, input), {
        ok: true,
        value: { reason: 'paused by operator' },
      });
    assert.deepEqual(parseRequest(PauseRequestSchema, { reason: ' deploy ' }), {
      ok: true,
      value: { reason: 'deploy' },
    });
  });

  it('pause: a reason that is not a string is refused with a reason', () => {
    const r = parseRequest(PauseRequestSchema, { reason: 42 });
    assert.equal(r.ok, false);
  });

  it('skipRecord needs a sequence number of digits and a reason', () => {
    assert.deepEqual(parseRequest(SkipRequestSchema, { sequenceNumber: '4968', reason: 'OPS-42' }), {
      ok: true,
      value: { sequenceNumber: '4968', reason: 'OPS-42' },
    });
    for (const bad of [
      undefined,
      {},
      { sequenceNumber: '4968' },
      { sequenceNumber: 'abc', reason: 'x' },
      'x',
    ]) {
      const r = parseRequest(SkipRequestSchema, bad);
      assert.equal(r.ok, false, JSON.stringify(bad));
      if (!r.ok) assert.ok(r.reason.length > 0);
    }
  });
});
