import assert from 'node:assert/strict';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { GetObjectCommand, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createKeyring } from '../../../infra/codec/keyring';
import { loadConfig } from '../../../infra/config';
import { DirectConsumer } from '../../../bench/lib/directConsumer';
import {
  DEFAULT_SIM_LATENCY,
  SimulatedAws,
  simLatencyFromEnv,
  type SimLatency,
} from '../../../bench/lib/simulatedAws';
import { lsnNumber, lsnText, SimulatedWorkload } from '../../../bench/lib/simulatedLoad';
import { waitFor } from '../../support/waitFor';

const ZERO: SimLatency = {
  dynamoMs: 0,
  eventsMs: 0,
  kinesisGetMs: 0,
  kinesisPutMs: 0,
  kinesisControlMs: 0,
  s3Ms: 0,
};

/** Milliseconds a call took. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function iteratorAfter(sim: SimulatedAws, stream: string, shardId: string, after?: string) {
  const out = (await sim.kinesis.send(
    new GetShardIteratorCommand({
      StreamName: stream,
      ShardId: shardId,
      ...(after
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: after }
        : { ShardIteratorType: 'TRIM_HORIZON' }),
    }),
  )) as { ShardIterator: string };
  return out.ShardIterator;
}

interface Page {
  Records: { SequenceNumber: string; PartitionKey: string; Data: Uint8Array }[];
  NextShardIterator: string;
  MillisBehindLatest: number;
}

describe('simulated AWS (npm run bench -- --sinks simulated)', () => {
  describe('latency', () => {
    it('answers each service after its configured latency, not before', async () => {
      const latency: SimLatency = {
        dynamoMs: 30,
        eventsMs: 40,
        kinesisGetMs: 35,
        kinesisPutMs: 45,
        kinesisControlMs: 25,
        s3Ms: 30,
      };
      const sim = new SimulatedAws(latency);
      sim.kinesis.createStream('s', 1);
      // Timers may fire up to a millisecond early by rounding; never much earlier.
      const atLeast = (ms: number, want: number, what: string) =>
        assert.ok(ms >= want - 1, `${what} took ${ms.toFixed(1)} ms, configured ${want}`);
      atLeast(
        await timed(() => sim.dynamo.send(new PutCommand({ TableName: 't', Item: { pk: 'a', v: 1 } }))),
        30,
        'PutItem',
      );
      atLeast(
        await timed(() => sim.dynamo.send(new GetCommand({ TableName: 't', Key: { pk: 'a' } }))),
        30,
        'GetItem',
      );
      atLeast(
        await timed(() =>
          sim.events.send(
            new PutEventsCommand({
              Entries: [{ Source: 's', DetailType: 'd', Detail: '{}', EventBusName: 'b' }],
            }),
          ),
        ),
        40,
        'PutEvents',
      );
      atLeast(
        await timed(() =>
          sim.kinesis.send(
            new PutRecordsCommand({
              StreamName: 's',
              Records: [{ PartitionKey: 'k', Data: Buffer.from('x') }],
            }),
          ),
        ),
        45,
        'PutRecords',
      );
      let iterator = '';
      atLeast(
        await timed(async () => (iterator = await iteratorAfter(sim, 's', 'shardId-000000000000'))),
        25,
        'GetShardIterator',
      );
      atLeast(
        await timed(() => sim.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }))),
        35,
        'GetRecords',
      );
      atLeast(
        await timed(() => sim.s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }))),
        30,
        'PutObject',
      );
    });

    it('takes its latencies from flags over variables over the defaults (AWS figures)', () => {
      assert.deepEqual(simLatencyFromEnv({}, []), DEFAULT_SIM_LATENCY);
      const l = simLatencyFromEnv({ CDC_SIM_DYNAMO_MS: '8', CDC_SIM_EVENTS_MS: '30' }, [
        '--sim-events-ms',
        '12',
      ]);
      assert.equal(l.dynamoMs, 8);
      assert.equal(l.eventsMs, 12);
      assert.equal(l.kinesisGetMs, DEFAULT_SIM_LATENCY.kinesisGetMs);
      assert.throws(
        () => simLatencyFromEnv({ CDC_SIM_DYNAMO_MS: 'fast' }),
        /CDC_SIM_DYNAMO_MS needs milliseconds/,
      );
    });
  });

  describe('Kinesis', () => {
    it('keeps records per shard in put order, readable once the put returned, by every iterator', async () => {
      const sim = new SimulatedAws({ ...ZERO, kinesisPutMs: 40 });
      sim.kinesis.createStream('s', 4);
      const shards = (
        (await sim.kinesis.send(new ListShardsCommand({ StreamName: 's' }))) as {
          Shards: { ShardId: string }[];
        }
      ).Shards.map((s) => s.ShardId);
      assert.deepEqual(
        shards,
        [0, 1, 2, 3].map((i) => `shardId-00000000000${i}`),
      );
      const keys = Array.from({ length: 40 }, (_, i) => `key-${i % 10}`);
      const put = (from: number, to: number) =>
        sim.kinesis.send(
          new PutRecordsCommand({
            StreamName: 's',
            Records: keys
              .slice(from, to)
              .map((k, i) => ({ PartitionKey: k, Data: Buffer.from(`${k}:${from + i}`) })),
          }),
        );
      // Two puts in flight: the first one's records come first.
      const first = put(0, 20);
      const second = put(20, 40);
      const shardOfKey0 = sim.kinesis.shardFor('s', 'key-0');
      const before = (await sim.kinesis.send(
        new GetRecordsCommand({ ShardIterator: await iteratorAfter(sim, 's', shardOfKey0) }),
      )) as Page;
      assert.equal(before.Records.length, 0, 'not readable before PutRecords returned');
      await Promise.all([first, second]);

      const seen: string[] = [];
      for (const shardId of shards) {
        let iterator = await iteratorAfter(sim, 's', shardId);
        const sequences: string[] = [];
        for (;;) {
          const page = (await sim.kinesis.send(
            new GetRecordsCommand({ ShardIterator: iterator, Limit: 3 }),
          )) as Page;
          for (const r of page.Records) {
            assert.equal(
              sim.kinesis.shardFor('s', r.PartitionKey),
              shardId,
              'a key always goes to one shard',
            );
            sequences.push(r.SequenceNumber);
            seen.push(Buffer.from(r.Data).toString());
          }
          iterator = page.NextShardIterator;
          if (page.Records.length < 3) {
            assert.equal(page.MillisBehindLatest, 0);
            break;
          }
        }
        assert.deepEqual([...sequences].sort(), sequences, 'sequence numbers ascend');
        for (const s of sequences) assert.match(s, /^\d{56}$/);
        if (sequences.length > 1) {
          // AFTER_SEQUENCE_NUMBER continues after the given record.
          const page = (await sim.kinesis.send(
            new GetRecordsCommand({ ShardIterator: await iteratorAfter(sim, 's', shardId, sequences[0]) }),
          )) as Page;
          assert.deepEqual(
            page.Records.map((r) => r.SequenceNumber),
            sequences.slice(1),
          );
        }
      }
      assert.equal(seen.length, 40, 'every record kept');
      for (let k = 0; k < 10; k++) {
        const ofKey = seen.filter((s) => s.startsWith(`key-${k}:`)).map((s) => Number(s.split(':')[1]));
        assert.deepEqual(ofKey, [k, k + 10, k + 20, k + 30], `key-${k} in put order`);
      }
      assert.equal(sim.kinesis.kinesisPeaks('s').reduce((n, p) => n + p.maxWritesPerSecond, 0) > 0, true);
    });

    it('refuses a command it does not simulate, and counts it', async () => {
      const sim = new SimulatedAws(ZERO);
      await assert.rejects(
        () => sim.kinesis.send(new DescribeStreamCommand({ StreamName: 's' })),
        /DescribeStreamCommand is not simulated/,
      );
      assert.deepEqual(sim.callCounts().unsupported, { DescribeStreamCommand: 1 });
    });
  });

  describe('DynamoDB', () => {
    it('keeps items and guards writes by version as DynamoDB evaluates the activities’ expressions', async () => {
      const { dynamo } = new SimulatedAws(ZERO);
      const guarded = (version: string) =>
        dynamo.send(
          new PutCommand({
            TableName: 'e',
            Item: { pk: 'inventory#A#1', version, row: { on_hand: Number(version) } },
            ConditionExpression: 'attribute_not_exists(pk) OR version < :v',
            ExpressionAttributeValues: { ':v': version },
            ReturnValues: 'ALL_OLD',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      assert.deepEqual(await guarded('05'), {});
      assert.equal(((await guarded('07')) as { Attributes: { version: string } }).Attributes.version, '05');
      const refused = await guarded('06').catch((e: unknown) => e);
      assert.ok(refused instanceof ConditionalCheckFailedException);
      assert.deepEqual((refused as unknown as { Item: { version: unknown } }).Item.version, { S: '07' });
      assert.equal(dynamo.item('e', 'inventory#A#1')?.version, '07');

      await dynamo.send(
        new UpdateCommand({
          TableName: 's',
          Key: { pk: 'c' },
          UpdateExpression:
            'SET sequenceNumber = :seq, sortable = :s, #f = if_not_exists(#f, :now) ADD attempts :one',
          ConditionExpression: 'attribute_not_exists(sortable) OR sortable < :s',
          ExpressionAttributeNames: { '#f': 'first' },
          ExpressionAttributeValues: { ':seq': '9', ':s': '09', ':now': 't1', ':one': 1 },
        }),
      );
      await dynamo.send(
        new UpdateCommand({
          TableName: 's',
          Key: { pk: 'c' },
          UpdateExpression:
            'SET sequenceNumber = :seq, sortable = :s, #f = if_not_exists(#f, :now) ADD attempts :one',
          ConditionExpression: 'attribute_not_exists(sortable) OR sortable < :s',
          ExpressionAttributeNames: { '#f': 'first' },
          ExpressionAttributeValues: { ':seq': '12', ':s': '12', ':now': 't2', ':one': 1 },
        }),
      );
      assert.deepEqual(dynamo.item('s', 'c'), {
        pk: 'c',
        sequenceNumber: '12',
        sortable: '12',
        first: 't1',
        attempts: 2,
      });
      const out = (await dynamo.send(
        new BatchGetCommand({ RequestItems: { s: { Keys: [{ pk: 'c' }, { pk: 'missing' }] } } }),
      )) as { Responses: { s: { pk: string }[] } };
      assert.deepEqual(
        out.Responses.s.map((i) => i.pk),
        ['c'],
      );
    });
  });

  describe('EventBridge and S3', () => {
    it('keeps every accepted event with its change’s key, LSN, version and commit time, in acceptance order', async () => {
      const { events } = new SimulatedAws(ZERO);
      const entry = (id: string, lsn: string) => ({
        Source: 'cdc-pipeline.inventory',
        DetailType: 'inventory.updated',
        EventBusName: 'b',
        Detail: JSON.stringify({
          eventId: `e-${lsn}`,
          entityId: id,
          timestamp: '2026-12-07T10:00:00.123Z',
          metadata: { sourceTable: 'inventory', sourcePosition: lsn, version: `v-${lsn}` },
        }),
      });
      await events.send(new PutEventsCommand({ Entries: [entry('A#1', '0/100'), entry('B#1', '0/200')] }));
      await events.send(new PutEventsCommand({ Entries: [entry('A#1', '0/300')] }));
      assert.deepEqual(
        events.accepted.map((e) => [e.order, e.entityKey, e.lsn, e.version, e.commitMs]),
        [
          [0, 'inventory#A#1', '0/100', 'v-0/100', Date.parse('2026-12-07T10:00:00.123Z')],
          [1, 'inventory#B#1', '0/200', 'v-0/200', Date.parse('2026-12-07T10:00:00.123Z')],
          [2, 'inventory#A#1', '0/300', 'v-0/300', Date.parse('2026-12-07T10:00:00.123Z')],
        ],
      );
      await assert.rejects(
        () =>
          events.send(
            new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry('A#1', '0/1')) }),
          ),
        /1 to 10 entries/,
      );
    });

    it('keeps S3 objects with their metadata; a missing key is NoSuchKey', async () => {
      const { s3 } = new SimulatedAws(ZERO);
      await s3.send(
        new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.from('data'), Metadata: { a: '1' } }),
      );
      const out = (await s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))) as {
        Metadata: Record<string, string>;
        Body: { transformToByteArray(): Promise<Uint8Array> };
      };
      assert.deepEqual(out.Metadata, { a: '1' });
      assert.equal(Buffer.from(await out.Body.transformToByteArray()).toString(), 'data');
      await assert.rejects(
        () => s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'nope' })),
        (e: unknown) => e instanceof NoSuchKey,
      );
    });
  });

  describe('with the activities', () => {
    it('the direct consumer on simulated AWS publishes every generated change once, per key in order', async function () {
      this.timeout(30_000);
      const sim = new SimulatedAws(
        { ...ZERO, dynamoMs: 1, eventsMs: 2, kinesisGetMs: 1, kinesisPutMs: 1 },
        createKeyring([{ id: 'unit', key: Buffer.alloc(32, 3) }]),
      );
      const config = loadConfig({
        ...process.env,
        CDC_STREAM: 'sim-unit',
        CDC_CONSUMER: 'sim',
        CDC_SHARD_COUNT: '2',
      });
      sim.kinesis.createStream(config.stream, 2);
      const load = new SimulatedWorkload(sim.kinesis, config.stream, 'unit');
      const written = await load.writeFast(300);
      assert.equal(written.count, 300);
      assert.equal(lsnNumber(lsnText(written.toLsn)), written.toLsn);
      const direct = new DirectConsumer(
        config,
        { maxRecords: 100, maxBytes: 512 * 1024, waitMs: 200 },
        sim.io(),
      );
      await direct.start();
      try {
        await waitFor(
          'every change published',
          async () => {
            const n = new Set(sim.events.accepted.filter((e) => e.lsn).map((e) => `${e.entityKey}@${e.lsn}`))
              .size;
            return n >= 300 ? n : undefined;
          },
          {
            timeoutMs: 20_000,
            lastSeen: () =>
              `${sim.events.accepted.length} events; consumer ${JSON.stringify(direct.snapshot())}`,
          },
        );
      } finally {
        await direct.stop();
      }
      assert.equal(direct.snapshot().errors, 0, direct.snapshot().lastError);
      const changes = sim.events.accepted.filter((e) => e.lsn);
      assert.equal(changes.length, 300, 'each change once');
      const last = new Map<string, number>();
      for (const e of changes) {
        const lsn = lsnNumber(e.lsn!);
        assert.ok((last.get(e.entityKey!) ?? -1) < lsn, `${e.entityKey} in commit order`);
        last.set(e.entityKey!, lsn);
        if (e.commitMs !== undefined) assert.ok(e.acceptedMs >= e.commitMs);
      }
      for (const [key] of last) assert.ok(sim.dynamo.item(config.tables.entities, key), `${key} in DynamoDB`);
      assert.deepEqual(sim.callCounts().unsupported, {});
    });
  });
});
