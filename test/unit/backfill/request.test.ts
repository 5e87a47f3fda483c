import assert from 'node:assert/strict';
import {
  BackfillRequestSchema,
  defaultBackfillId,
  parseBackfillRequest,
  requestProblem,
} from '../../../domain/backfill/request';

describe('backfill request (zod)', () => {
  it('fills in the defaults: snapshot, 1000 rows a chunk, 2000 rows/s', () => {
    const r = parseBackfillRequest({ tables: ['inventory'] });
    assert.equal(r.mode, 'snapshot');
    assert.equal(r.chunkSize, 1000);
    assert.equal(r.rateLimit, 2000);
    assert.equal(r.chunksPerRun, 200);
  });

  it("accepts 'all' tables, a key range and a column equality list", () => {
    const r = parseBackfillRequest({
      tables: 'all',
      filter: { keyRange: { from: 'SKU-1', to: 'SKU-9' }, equals: { warehouse_id: 3, note: null } },
    });
    assert.deepEqual(r.filter?.equals, { warehouse_id: 3, note: null });
  });

  it('refuses what is not a plain identifier, free SQL, or nonsense limits', () => {
    for (const bad of [
      { tables: ['Inventory'] },
      { tables: ['inventory; DROP TABLE users'] },
      { tables: [] },
      { tables: ['inventory', 'inventory'] },
      { tables: ['inventory'], filter: { equals: { 'sku OR 1=1': 'x' } } },
      { tables: ['inventory'], filter: { where: 'sku > 0' } },
      { tables: ['inventory'], filter: { keyRange: {} } },
      { tables: ['inventory'], chunkSize: 0 },
      { tables: ['inventory'], chunkSize: 10_001 },
      { tables: ['inventory'], rateLimit: 0 },
      { tables: ['inventory'], mode: 'copy' },
      { tables: ['inventory'], id: 'has space' },
    ])
      assert.ok(requestProblem(bad), JSON.stringify(bad));
  });

  it('replay needs exactly one start, and only replay takes replay options', () => {
    assert.ok(requestProblem({ tables: 'all', mode: 'replay' })?.includes('replay'));
    assert.ok(requestProblem({ tables: 'all', mode: 'replay', replay: {} }));
    assert.ok(
      requestProblem({
        tables: 'all',
        mode: 'replay',
        replay: { since: '2026-01-01T00:00:00Z', fromSequence: { 'shardId-000000000000': '1' } },
      }),
    );
    assert.ok(requestProblem({ tables: 'all', replay: { since: '2026-01-01T00:00:00Z' } }));
    assert.ok(
      requestProblem({
        tables: 'all',
        mode: 'replay',
        replay: { since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' },
      })?.includes('until'),
    );
    assert.equal(
      requestProblem({
        tables: 'all',
        mode: 'replay',
        replay: { fromSequence: { 'shardId-000000000001': '4960' }, inclusive: true },
      }),
      undefined,
    );
    assert.ok(requestProblem({ tables: ['users'], mode: 'reconcile', filter: { equals: { id: 'u' } } }));
  });

  it('names the field in its message', () => {
    const r = BackfillRequestSchema.safeParse({ tables: ['inventory'], chunkSize: -1 });
    assert.equal(r.success, false);
    assert.match(requestProblem({ tables: ['inventory'], chunkSize: -1 })!, /^chunkSize: /);
  });

  it('makes a readable default id', () => {
    const at = new Date('2026-11-23T10:15:00.123Z');
    assert.equal(defaultBackfillId('snapshot', ['inventory'], at), 'snapshot-inventory-20261123T101500Z');
    assert.equal(defaultBackfillId('replay', 'all', at), 'replay-all-20261123T101500Z');
    assert.equal(defaultBackfillId('reconcile', ['a', 'b'], at), 'reconcile-2-tables-20261123T101500Z');
  });
});
