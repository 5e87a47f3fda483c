import assert from 'node:assert/strict';
import { decodeChange } from '../../../domain/formats/decodeChange';
import { ctx, debezium, dms, TS } from './helpers';

/**
 * A record for a table the table file does not list is a `configuration` dead letter in every
 * format, as it is on the pgoutput path (README, "Dead letters"): the record is fine, the
 * configuration lacks the table. Anything else wrong with a record stays `poison`.
 */
describe('decodeChange: a table that is not in the table file', () => {
  const records: [string, unknown][] = [
    ['Debezium without schemas', { ...debezium, source: { ...debezium.source, table: 'nope' } }],
    [
      'Debezium with schemas',
      {
        schema: { type: 'struct', name: 'app.public.nope.Envelope', optional: false, fields: [] },
        payload: { ...debezium, source: { ...debezium.source, table: 'nope' } },
      },
    ],
    ['DMS', { ...dms, metadata: { ...dms.metadata, 'table-name': 'nope' } }],
    ['table-image', { tableName: 'nope', operation: 'INSERT', afterImage: { id: 1 }, timestamp: TS }],
    [
      'table-image (003 field names)',
      { table: 'public.nope', operation: 'DELETE', beforeImage: { id: 1 }, timestamp: TS },
    ],
  ];
  for (const [format, record] of records)
    it(`${format}: a configuration failure naming the table`, () => {
      const r = decodeChange(JSON.stringify(record), ctx);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.category, 'configuration', r.reason);
      assert.match(r.reason, /table 'nope' is not configured for CDC in .*tables\.yaml/);
    });

  it('a record with a broken field stays poison', () => {
    const r = decodeChange(JSON.stringify({ ...debezium, op: 'x' }), ctx);
    assert.ok(!r.ok && r.category === 'poison');
    const notJson = decodeChange('{', ctx);
    assert.ok(!notJson.ok && notJson.category === 'poison');
  });
});
