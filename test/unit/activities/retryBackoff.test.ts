import assert from 'node:assert/strict';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { putEntries } from '../../../activities/publishing/eventBridgePublisher';
import type { RetryWaits } from '../../../activities/retryWaits';
import { createDynamoDbSink } from '../../../activities/sinks/dynamoDbSink';
import { putAllRecords } from '../../../activities/stream/kinesisProducer';
import { readAfterCheckpoint } from '../../../activities/stream/streamReader';
import { backoffMs, RETRY_BACKOFF, type BackoffKind } from '../../../domain/core/backoff';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import type { EventEntry } from '../../../domain/publishing/eventEntry';
import type { PullResult } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { seededRandom } from '../../support/seededRandom';
import { FakeKinesis, fakes, inventoryChange } from './fakes';

const config = loadConfig({});

/**
 * Waits that record what they were asked to wait and return at once, with a seeded random; and
 * the waits the shared backoff gives for the same seed (what the loop must have used).
 */
function recordingWaits(seed: number) {
  const waited: number[] = [];
  const waits: RetryWaits = {
    random: seededRandom(seed),
    sleep: async (ms) => {
      waited.push(ms);
      await new Promise((r) => setImmediate(r));
    },
  };
  const expected = (kind: BackoffKind, attempts: number[]) => {
    const random = seededRandom(seed);
    return attempts.map((a) => backoffMs(a, RETRY_BACKOFF[kind], random));
  };
  return { waits, waited, expected };
}

/** The waits are jittered (not one fixed schedule) and within [floor, cap]. */
function assertJitteredAndCapped(kind: BackoffKind, waits: number[]) {
  const s = RETRY_BACKOFF[kind];
  const floor = 'floorMs' in s ? s.floorMs : 0;
  for (const w of waits) assert.ok(w >= floor && w <= s.capMs, `${kind}: ${w} ms`);
  const other = recordingWaits(999).expected(
    kind,
    waits.map((_, i) => i + 1),
  );
  assert.notDeepEqual(waits, other, 'another seed gives other waits');
}

describe('retry loops wait the shared backoff with full jitter (domain/core/backoff.ts)', () => {
  it("capture's PutRecords re-sends failed records after kinesisPut waits, 8 attempts in all", async () => {
    const w = recordingWaits(11);
    const calls: string[][] = [];
    const client = {
      send: async (cmd: PutRecordsCommand) => {
        const names = cmd.input.Records!.map((r) => Buffer.from(r.Data!).toString());
        calls.push(names);
        return {
          Records: names.map((n) =>
            n === 'a0' ? { ErrorCode: 'ProvisionedThroughputExceededException' } : { SequenceNumber: '1' },
          ),
        };
      },
    } as unknown as KinesisClient;
    const records = [
      { partitionKey: 'a', data: Buffer.from('a0') },
      { partitionKey: 'b', data: Buffer.from('b0') },
    ];
    await assert.rejects(
      putAllRecords(client, 's', records, { waits: w.waits }),
      /1 records still failing after 8 attempts/,
    );
    assert.equal(calls.length, 8, 'the same number of attempts as before');
    // A wait after each failed attempt but the last; the ceilings 200 ms … 5 s (cap).
    assert.deepEqual(w.waited, w.expected('kinesisPut', [1, 2, 3, 4, 5, 6, 7]));
    assertJitteredAndCapped('kinesisPut', w.waited);
  });

  it('PutEvents re-sends failed entries after eventBridgePut waits, 5 attempts in all', async () => {
    const w = recordingWaits(12);
    const f = fakes();
    f.events.failEntry = () => 'ThrottlingException';
    const entry: EventEntry = {
      Source: 'cdc.test',
      DetailType: 'test',
      Detail: '{}',
      EventBusName: 'bus',
      Time: new Date(0),
    };
    await assert.rejects(
      putEntries({ aws: f.io.aws, retryWaits: w.waits }, [{ entry, ref: 'x' }]),
      /1 entries still failing after 5 attempts \(ThrottlingException\)/,
    );
    assert.equal(f.events.requests.length, 5);
    assert.deepEqual(w.waited, w.expected('eventBridgePut', [1, 2, 3, 4]));
    assertJitteredAndCapped('eventBridgePut', w.waited);
  });

  it('a DynamoDB merge that lost its optimistic race waits dynamoMerge before reading again', async () => {
    const w = recordingWaits(13);
    const f = fakes();
    // Another writer wins the key's conditional put three times, then the merge goes through.
    let lost = 0;
    const doc = f.io.aws.doc;
    const racing = {
      send: (cmd: { input: { ConditionExpression?: string } }) => {
        if (cmd.input.ConditionExpression === 'attribute_not_exists(pk)' && lost < 3) {
          lost++;
          return Promise.reject(
            new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
          );
        }
        // The merge's own condition (no item yet) is not one FakeDynamo evaluates: it holds now.
        if (cmd.input.ConditionExpression === 'attribute_not_exists(pk)')
          delete cmd.input.ConditionExpression;
        return doc.send(cmd as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const change: PipelineEvent = { ...inventoryChange({ op: 'u', sku: 'SKU-R', lsn: 7 }), partial: true };
    const sink = createDynamoDbSink({
      config,
      ...f.io,
      aws: { ...f.io.aws, doc: racing },
      retryWaits: w.waits,
    });
    const out = await sink.apply([change]);
    assert.equal(out.applied, 1);
    assert.equal(lost, 3);
    assert.deepEqual(w.waited, w.expected('dynamoMerge', [1, 2, 3]));
    assertJitteredAndCapped('dynamoMerge', w.waited);
  });

  it('a DynamoDB merge still gives up after 5 lost races (the batch fails, as before)', async () => {
    const w = recordingWaits(14);
    const f = fakes();
    let lost = 0;
    const racing = {
      send: (cmd: { input: { ConditionExpression?: string } }) => {
        if (cmd.input.ConditionExpression === 'attribute_not_exists(pk)') {
          lost++;
          return Promise.reject(
            new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
          );
        }
        return f.io.aws.doc.send(cmd as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const change: PipelineEvent = { ...inventoryChange({ op: 'u', sku: 'SKU-S', lsn: 8 }), partial: true };
    const sink = createDynamoDbSink({
      config,
      ...f.io,
      aws: { ...f.io.aws, doc: racing },
      retryWaits: w.waits,
    });
    await assert.rejects(sink.apply([change]), ConditionalCheckFailedException);
    assert.equal(lost, 5);
    assert.deepEqual(w.waited, w.expected('dynamoMerge', [1, 2, 3, 4]));
  });

  it('a caught-up pull polls after streamPoll waits (never under 200 ms: 5 GetRecords a second at most)', async () => {
    const w = recordingWaits(15);
    let gets = 0;
    const kinesis = new FakeKinesis((c) => {
      if (c.name === 'GetShardIteratorCommand') return { ShardIterator: 'it-0' };
      gets++;
      if (gets <= 6) return { Records: [], MillisBehindLatest: 0, NextShardIterator: `it-${gets}` };
      return {
        Records: [
          {
            SequenceNumber: '11',
            PartitionKey: 'k',
            Data: Buffer.from('{}'),
            ApproximateArrivalTimestamp: new Date(),
          },
        ],
        MillisBehindLatest: 0,
        NextShardIterator: 'it-end',
      };
    });
    const env = new MockActivityEnvironment(
      { startToCloseTimeoutMs: 120_000, heartbeatTimeoutMs: 75_000 },
      { logger: new DefaultLogger('ERROR', () => undefined) },
    );
    const out = (await env.run(
      readAfterCheckpoint,
      {
        aws: fakes(kinesis).io.aws,
        config: { pullLingerMs: 0, consumer: `backoff-${process.pid}` },
        retryWaits: w.waits,
      },
      {
        stream: 'cdc-inventory',
        shardId: 'shardId-000000000000',
        afterSequenceNumber: '10',
        maxRecords: 10,
        maxBytes: 10_000,
        waitMs: 60_000,
      },
    )) as PullResult;
    assert.deepEqual(
      out.records.map((r) => r.sequenceNumber),
      ['11'],
    );
    // One wait after each of the six empty pages.
    assert.deepEqual(w.waited, w.expected('streamPoll', [1, 2, 3, 4, 5, 6]));
    assertJitteredAndCapped('streamPoll', w.waited);
  });
});
