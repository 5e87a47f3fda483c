import assert from 'node:assert/strict';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

/**
 * Other producers' records as they write them, put straight on the pipeline's stream: a Debezium
 * 2.x record with its Kafka Connect schema (JSON converter, schemas.enable=true) lands in
 * DynamoDB with its values decoded by the schema, and a record for a table the table file does
 * not list, in Debezium's and in DMS's format, is a `configuration` dead letter.
 */
describe("other producers' records on the real stack", function () {
  this.timeout(240_000);
  let p: TestPipeline;
  const orderId = 1_000_000_000 + Math.floor(Math.random() * 1e9);
  const now = Date.now();

  before(async function () {
    this.timeout(240_000);
    p = await startTestPipeline({ idleWaitMs: 1_000 });
  });
  after(async () => {
    await p?.stop();
  });

  const source = (table: string) => ({
    version: '2.7.3.Final',
    connector: 'postgresql',
    name: 'app',
    ts_ms: now,
    snapshot: 'false',
    db: 'app',
    sequence: '[null,"24023128"]',
    schema: 'public',
    table,
    txId: 771,
    lsn: 24023128,
    xmin: null,
  });

  it('a Debezium record with schemas: Decimal and MicroTimestamp decoded into the DynamoDB item', async () => {
    const probe = probes(p);
    const value = {
      type: 'struct',
      optional: true,
      name: 'app.public.orders.Value',
      fields: [
        { type: 'int64', optional: false, field: 'order_id' },
        {
          type: 'bytes',
          optional: true,
          name: 'org.apache.kafka.connect.data.Decimal',
          version: 1,
          parameters: { scale: '2', 'connect.decimal.precision': '12' },
          field: 'total_amount',
        },
        {
          type: 'int64',
          optional: true,
          name: 'io.debezium.time.MicroTimestamp',
          version: 1,
          field: 'created_at',
        },
        { type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1, field: 'notes' },
      ],
    };
    const record = {
      schema: {
        type: 'struct',
        optional: false,
        name: 'app.public.orders.Envelope',
        version: 2,
        fields: [
          { ...value, field: 'before' },
          { ...value, field: 'after' },
          {
            type: 'struct',
            optional: false,
            name: 'io.debezium.connector.postgresql.Source',
            field: 'source',
            fields: [],
          },
          { type: 'string', optional: false, field: 'op' },
          { type: 'int64', optional: true, field: 'ts_ms' },
        ],
      },
      payload: {
        before: null,
        after: {
          order_id: orderId,
          total_amount: '/h3G', // -1234.50
          created_at: 1767323045123456, // 2026-01-02T03:04:05.123456
          notes: '{"gift":true}',
        },
        source: source('orders'),
        op: 'c',
        ts_ms: now,
      },
    };
    await probe.putRaw([{ partitionKey: `orders:${orderId}`, data: JSON.stringify(record) }]);
    const item = await waitFor('the Debezium order in DynamoDB', () =>
      probe.entity('orders', String(orderId)),
    );
    const row = item.row as Record<string, unknown>;
    assert.equal(row.total_amount, '-1234.50');
    assert.equal(row.created_at, '2026-01-02T03:04:05.123456Z'); // ISO_DATE of the table file: UTC
    assert.deepEqual(row.notes, { gift: true });
  });

  it('a record for a table not in the table file, in Debezium and DMS format, is a configuration dead letter', async () => {
    const probe = probes(p);
    const [debezium, dms] = await probe.putRaw([
      {
        partitionKey: `nope:${orderId}`,
        data: JSON.stringify({
          before: null,
          after: { id: orderId },
          source: source('nope'),
          op: 'c',
          ts_ms: now,
        }),
      },
      {
        partitionKey: `nope:${orderId}:dms`,
        data: JSON.stringify({
          data: { id: orderId },
          metadata: {
            timestamp: new Date(now).toISOString(),
            'record-type': 'data',
            operation: 'insert',
            'partition-key-type': 'schema-table',
            'schema-name': 'public',
            'table-name': 'nope',
            'transaction-id': 8796093085332,
          },
        }),
      },
    ]);
    for (const [format, rec] of [
      ['debezium', debezium!],
      ['dms', dms!],
    ] as const) {
      const letter = await waitFor(`the ${format} dead letter`, () =>
        probe.dlq(rec.shardId, rec.sequenceNumber),
      );
      assert.equal(letter.category, 'configuration', `${format}: ${String(letter.reason)}`);
      assert.match(String(letter.reason), /table 'nope' is not configured/);
    }
  });
});
