import { readDeadLetterRaw } from '../../activities/deadLetters';
import { keyringFromEnv } from '../../infra/codec/keyring';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Client } from 'pg';
import { createActivities } from '../../activities';
import { deadLetterKey } from '../../domain/core/itemKeys';
import { sortableSequence, type StreamRecord } from '../../domain/shards/shardTypes';
import { awsClients } from '../../infra/aws';
import { eventRouting } from '../../infra/provisioning';
import { applyLocalStackEnv, stackUp } from '../../infra/localStack/localStack';
import { shardWorkflowId } from '../../workflows/names';
import { probes } from '../support/pipelineProbes';
import { startTestPipeline, type TestPipeline } from '../support/testPipeline';
import { waitFor } from '../support/waitFor';

const unique = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`.toUpperCase();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const KB = 1000;

describe('dead letters on the stack (claim check, keys, status)', function () {
  this.timeout(300_000);
  let p: TestPipeline;
  let probe: ReturnType<typeof probes>;
  const productIds: string[] = [];

  before(async function () {
    this.timeout(240_000);
    await stackUp();
    applyLocalStackEnv();
    p = await startTestPipeline({ idleWaitMs: 1_000 }, { shardCount: 1 });
    probe = probes(p);
    await waitFor('the shard reader to run', async () =>
      (await probe.allShardStatuses()).length === 1 ? true : undefined,
    );
  });
  after(async () => {
    await p?.stop();
    const c = new Client();
    await c.connect();
    await c.query('DELETE FROM products WHERE product_id = ANY($1)', [productIds]);
    await c.end();
  });

  /** The record's bytes exactly as Kinesis holds them. */
  async function rawRecord(shardId: string, sequenceNumber: string): Promise<Uint8Array> {
    const { kinesis } = awsClients();
    const it = await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: p.config.stream,
        ShardId: shardId,
        ShardIteratorType: 'AT_SEQUENCE_NUMBER',
        StartingSequenceNumber: sequenceNumber,
      }),
    );
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 1 }));
    assert.equal(page.Records?.[0]?.SequenceNumber, sequenceNumber);
    return page.Records[0].Data!;
  }

  /**
   * Inserts a product whose description is `chars` characters of random hex (incompressible
   * enough that it is not just TOAST), then a small one; waits until the shard checkpointed past
   * both (it moved on) and returns the big one's DLQ item and raw record.
   */
  async function bigRow(chars: number) {
    const sku = unique('BIG');
    const next = unique('NEXT');
    productIds.push(sku, next);
    const before = await p.client.workflow
      .getHandle(shardWorkflowId(p.config.stream, p.config.consumer, 'shardId-000000000000'))
      .describe();
    const startBytes = Number(before.raw.workflowExecutionInfo?.historySizeBytes ?? 0);
    const t0 = Date.now();
    await p.pg.query(
      `INSERT INTO products (product_id, sku, name, price, description)
       VALUES ($1, $1, 'big', 1, (SELECT left(string_agg(md5(random()::text), ''), $2) FROM generate_series(1, $2 / 32 + 1)))`,
      [sku, chars],
    );
    await p.pg.query(`INSERT INTO products (product_id, sku, name, price) VALUES ($1, $1, 'next', 2)`, [
      next,
    ]);
    const [big, after] = await waitFor('both rows on the stream', async () => {
      const changes = await probe.streamChanges();
      const found = [sku, next].map((k) => changes.find((c) => c.event.key.product_id === k));
      return found.every(Boolean) ? found.map((c) => c!) : undefined;
    });
    let lastStatus: unknown;
    const shard = p.client.workflow.getHandle(
      shardWorkflowId(p.config.stream, p.config.consumer, big.shardId),
    );
    const history = { startBytes, maxBytes: 0, runs: new Set<string>([before.runId]) };
    await waitFor(
      'the shard to checkpoint past both rows (it moved on)',
      async () => {
        const status = await probe.shardStatus(big.shardId);
        lastStatus = [status.state, status.lastError, status.counters.deadLettered, status.notes];
        const info = await shard.describe();
        history.maxBytes = Math.max(
          history.maxBytes,
          Number(info.raw.workflowExecutionInfo?.historySizeBytes ?? 0),
        );
        history.runs.add(info.runId);
        const past = (seq: string) =>
          status.checkpoint !== undefined && sortableSequence(status.checkpoint) >= sortableSequence(seq);
        return past(big.sequenceNumber) && (after.shardId !== big.shardId || past(after.sequenceNumber))
          ? true
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, lastSeen: () => JSON.stringify(lastStatus) },
    );
    const seconds = (Date.now() - t0) / 1000;
    const applied = await waitFor('the row after the big one', () => probe.entity('products', next));
    assert.equal(applied.row.name, 'next');
    const raw = await rawRecord(big.shardId, big.sequenceNumber);
    const item = await waitFor('the DLQ item', () => probe.dlq(big.shardId, big.sequenceNumber));
    return { raw, item, seconds, history, shardId: big.shardId, sequenceNumber: big.sequenceNumber };
  }

  /** Checks the item references an S3 object holding exactly the raw record. */
  async function assertClaimCheck(item: Record<string, unknown>, raw: Uint8Array) {
    assert.equal(item.raw, undefined, 'the raw record is not inline');
    assert.equal(item.rawS3Bucket, p.config.deadLetters.bucket);
    assert.equal(item.rawBytes, raw.length);
    assert.equal(item.rawSha256, sha256(raw));
    const object = await awsClients().s3.send(
      new GetObjectCommand({ Bucket: String(item.rawS3Bucket), Key: String(item.rawS3Key) }),
    );
    const stored = Buffer.from(await object.Body!.transformToByteArray());
    assert.equal(stored.length, raw.length + 28, 'nonce, ciphertext and tag');
    assert.ok(!stored.includes(Buffer.from(raw).subarray(0, 64)), 'the S3 object is encrypted');
    const back = await readDeadLetterRaw({ aws: awsClients(), keyring: keyringFromEnv() }, item);
    assert.ok(back.bytes.equals(Buffer.from(raw)), 'it decrypts to the raw record, byte for byte');
  }

  it('parks a 450 KB row DynamoDB refuses with its raw record in S3 (claim check); the shard moves on', async () => {
    const { raw, item, seconds, shardId, sequenceNumber } = await bigRow(450 * KB);
    assert.equal(item.category, 'permanent');
    assert.equal(item.status, 'PARKED');
    assert.equal(item.consumer, p.config.consumer);
    assert.match(String(item.reason), /size/i);
    await assertClaimCheck(item, raw);
    const status = await probe.shardStatus(shardId);
    assert.notEqual(status.state, 'STUCK');
    assert.ok(status.counters.deadLettered >= 1);
    await probe.receiveUntil(
      eventRouting(p.config.eventBus).queues.alerts,
      (b) =>
        b['detail-type'] === 'alert.dead_letter' &&
        (b.detail as { details: { sequenceNumber: string } }).details.sequenceNumber === sequenceNumber,
    );
    console.log(
      `      450 KB row: a ${raw.length}-byte record dead-lettered (S3 claim check); the shard checkpointed past it ${seconds.toFixed(1)} s after the commit`,
    );
  });

  it('a 900 KB row: parked the same way (sizes and time reported)', async () => {
    const { raw, item, seconds, history } = await bigRow(900 * KB);
    assert.equal(item.category, 'permanent');
    await assertClaimCheck(item, raw);
    console.log(
      `      900 KB row: a ${raw.length}-byte record (Kinesis takes 1,048,576) dead-lettered to S3 (item: ${item.rawBytes} bytes referenced, sha256 ${String(item.rawSha256).slice(0, 12)}…); the shard checkpointed past it ${seconds.toFixed(1)} s after the commit; shard reader history went from ${(history.startBytes / 2 ** 20).toFixed(1)} to a peak of ${(history.maxBytes / 2 ** 20).toFixed(1)} MiB (${history.runs.size} run(s) seen; the record passes through history as pull result, transform, redact, apply and dead-letter input)`,
    );
  });

  it('keys dead letters by consumer and never turns REDRIVEN or DISCARDED back into PARKED (on DynamoDB)', async () => {
    const { doc } = awsClients();
    const record = (seq: string): StreamRecord => ({
      sequenceNumber: seq,
      partitionKey: 'products:{"product_id":"X"}',
      data: 'not json',
      encoding: 'utf8',
      arrivalMs: 0,
    });
    const shardId = 'shardId-000000000000';
    const seq = `9${Date.now()}`;
    const mine = createActivities(p.config);
    const other = createActivities({ ...p.config, consumer: 'another-consumer' });
    const letter = (s: string, reason: string) => ({
      record: record(s),
      shardId,
      category: 'poison' as const,
      reason,
    });
    await mine.deadLetterRecords([letter(seq, 'mine')]);
    await other.deadLetterRecords([letter(seq, 'other')]);
    const get = (consumer: string, s = seq) =>
      waitFor('the item', async () => {
        const { Item } = await doc.send(
          new GetCommand({
            TableName: p.config.tables.dlq,
            Key: { pk: deadLetterKey(consumer, p.config.stream, shardId, s) },
            ConsistentRead: true,
          }),
        );
        return Item;
      });
    assert.equal((await get(p.config.consumer)).reason, 'mine');
    assert.equal((await get('another-consumer')).reason, 'other', 'one item per consumer');

    for (const [i, closed] of ['REDRIVEN', 'DISCARDED'].entries()) {
      const s = `${seq}${i}`;
      await mine.deadLetterRecords([letter(s, 'first')]);
      await doc.send(
        new UpdateCommand({
          TableName: p.config.tables.dlq,
          Key: { pk: deadLetterKey(p.config.consumer, p.config.stream, shardId, s) },
          UpdateExpression: 'SET #s = :closed',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':closed': closed },
        }),
      );
      await mine.deadLetterRecords([letter(s, 'replayed')]);
      const item = (await get(p.config.consumer, s))!;
      assert.deepEqual([item.status, item.reason, item.attempts], [closed, 'first', 2], closed);
    }

    await mine.deadLetterRecords([{ ...letter(`${seq}9`, 'skipped in publish'), appliedNotPublished: true }]);
    assert.equal((await get(p.config.consumer, `${seq}9`))!.appliedNotPublished, true);
  });

  it('provisions TTL on the state table (alert markers expire)', async () => {
    const { dynamo } = awsClients();
    const out = await dynamo.send(new DescribeTimeToLiveCommand({ TableName: p.config.tables.state }));
    assert.equal(out.TimeToLiveDescription?.TimeToLiveStatus, 'ENABLED');
    assert.equal(out.TimeToLiveDescription?.AttributeName, 'ttl');
  });
});
