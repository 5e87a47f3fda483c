import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createActivities } from '../../../activities';
import { parkCaptureDeadLetter, readDeadLetterRaw } from '../../../activities/deadLetters';
import { createAlertPublisher } from '../../../activities/publishing/alertPublisher';
import type { CaptureDeadLetter } from '../../../domain/capture/captureDeadLetter';
import { captureDeadLetterKey, deadLetterKey } from '../../../domain/core/itemKeys';
import type { DeadLetter, StreamRecord } from '../../../domain/shards/shardTypes';
import { loadConfig } from '../../../infra/config';
import { fakes } from './fakes';

const SHARD = 'shardId-000000000000';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function record(data: string, encoding: StreamRecord['encoding'] = 'utf8', seq = '4960001'): StreamRecord {
  return { sequenceNumber: seq, partitionKey: 'products:{"product_id":"P-1"}', data, encoding, arrivalMs: 0 };
}
const letter = (r: StreamRecord, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  record: r,
  shardId: SHARD,
  category: 'permanent',
  reason: 'ValidationException: Item size has exceeded the maximum allowed size',
  ...extra,
});

function setup(env: Record<string, string> = {}) {
  const config = loadConfig({ CDC_DLQ_INLINE_MAX_BYTES: '2000', ...env });
  const f = fakes();
  const activities = createActivities(config, f.io);
  const dlq = (consumer: string, seq = '4960001') =>
    f.doc.item(config.tables.dlq, deadLetterKey(consumer, config.stream, SHARD, seq));
  return { config, f, activities, dlq };
}

describe('dead letters: claim check, keys, status', () => {
  it('keeps a small record inline, encrypted at rest, with its size and hash', async () => {
    const { config, f, activities, dlq } = setup();
    await activities.deadLetterRecords([letter(record('not json at all'))]);
    const item = dlq(config.consumer)!;
    assert.equal(item.raw, undefined, 'no plaintext in the item');
    assert.ok(!Buffer.from(item.rawCiphertext as Uint8Array).includes('not json'), 'ciphertext');
    assert.equal(item.rawKeyId, 'test-key');
    assert.equal(item.rawEncryption, 'AES-256-GCM');
    const back = await readDeadLetterRaw(f.io, item);
    assert.equal(back.bytes.toString('utf8'), 'not json at all');
    // Bound to its item: the same ciphertext under another key does not open.
    await assert.rejects(readDeadLetterRaw(f.io, { ...item, pk: 'SHARD#other' }), /does not authenticate/);
    assert.equal(item.rawEncoding, 'utf8');
    assert.equal(item.rawBytes, 15);
    assert.equal(item.rawSha256, sha256(Buffer.from('not json at all')));
    assert.equal(item.rawS3Key, undefined);
    assert.equal(f.s3.sent.length, 0);
    assert.equal(item.status, 'PARKED');
    assert.equal(f.events.alerts().length, 1);
  });

  it('stores a record larger than inlineMaxBytes in the DLQ bucket and keeps a reference, size and hash', async () => {
    const { config, f, activities, dlq } = setup();
    const text = JSON.stringify({ description: 'é'.repeat(3_000) });
    const binary = Buffer.from(Array.from({ length: 5_000 }, (_, i) => (i * 7) % 256));
    await activities.deadLetterRecords([
      letter(record(text)),
      letter(record(binary.toString('base64'), 'base64', '4960002')),
    ]);
    for (const [seq, bytes, encoding] of [
      ['4960001', Buffer.from(text), 'utf8'],
      ['4960002', binary, 'base64'],
    ] as const) {
      const item = dlq(config.consumer, seq)!;
      assert.equal(item.raw, undefined, 'not inline');
      assert.equal(item.rawS3Bucket, config.deadLetters.bucket);
      assert.match(
        String(item.rawS3Key),
        new RegExp(`^dead-letters/shard/${config.consumer}/${config.stream}/${SHARD}/${seq}$`),
      );
      assert.equal(item.rawBytes, bytes.length);
      assert.equal(item.rawSha256, sha256(bytes));
      assert.equal(item.rawEncoding, encoding);
      const stored = f.s3.object(config.deadLetters.bucket, String(item.rawS3Key))!;
      assert.ok(!stored.equals(bytes) && stored.length === bytes.length + 28, 'the object is encrypted');
      const back = await readDeadLetterRaw(f.io, item);
      assert.ok(back.bytes.equals(bytes), 'decrypts to the raw record, byte for byte');
      assert.equal(back.encoding, encoding);
    }
  });

  it('keys a dead letter by consumer: two consumers of one stream park the same record apart', async () => {
    const f = fakes();
    const a = loadConfig({ CDC_CONSUMER: 'wallboards' });
    const b = loadConfig({ CDC_CONSUMER: 'billing' });
    await createActivities(a, f.io).deadLetterRecords([letter(record('x'), { reason: 'a' })]);
    await createActivities(b, f.io).deadLetterRecords([letter(record('x'), { reason: 'b' })]);
    const itemA = f.doc.item(a.tables.dlq, deadLetterKey('wallboards', a.stream, SHARD, '4960001'))!;
    const itemB = f.doc.item(a.tables.dlq, deadLetterKey('billing', a.stream, SHARD, '4960001'))!;
    assert.deepEqual(
      [itemA.reason, itemB.reason, itemA.consumer, itemB.consumer],
      ['a', 'b', 'wallboards', 'billing'],
    );
    assert.notEqual(deadLetterKey('c', 's', SHARD, '1'), captureDeadLetterKey('c', '0/1', 1));
  });

  for (const closed of ['REDRIVEN', 'DISCARDED'])
    it(`never turns a ${closed} letter back into PARKED, and raises no second alert`, async () => {
      const { config, f, activities, dlq } = setup();
      await activities.deadLetterRecords([letter(record('bad'))]);
      const pk = deadLetterKey(config.consumer, config.stream, SHARD, '4960001');
      f.doc.table(config.tables.dlq).get(pk)!.status = closed;
      await activities.deadLetterRecords([letter(record('bad'), { reason: 'again' })]);
      const item = dlq(config.consumer)!;
      assert.equal(item.status, closed);
      assert.equal(item.reason, 'ValidationException: Item size has exceeded the maximum allowed size');
      assert.equal(item.attempts, 2, 'the attempt is counted');
      assert.equal(f.events.alerts().length, 1);
    });

  it('re-parks a PARKED letter (attempts counted, first parking time kept, same alert id)', async () => {
    const { config, f, activities, dlq } = setup();
    await activities.deadLetterRecords([letter(record('bad'))]);
    const first = dlq(config.consumer)!;
    await activities.deadLetterRecords([letter(record('bad'))]);
    const again = dlq(config.consumer)!;
    assert.equal(again.attempts, 2);
    assert.equal(again.parkedAt, first.parkedAt);
    // DynamoDB deletes the letter at the end of its redrive window, counted from the first parking.
    const end = Date.parse(String(first.parkedAt)) / 1000 + config.deadLetters.redriveWindowDays * 86_400;
    assert.ok(Math.abs(Number(first.ttl) - end) <= 1, `ttl ${String(first.ttl)} ≈ ${end}`);
    assert.equal(again.ttl, first.ttl, 'a re-parking keeps the window');
    assert.equal(again.status, 'PARKED');
    assert.equal(f.events.alerts().length, 1, 'the same alert id is published once');
  });

  it('says when a record was applied but not published, so a redrive publishes it', async () => {
    const { config, activities, dlq } = setup();
    await activities.deadLetterRecords([
      letter(record('x'), { category: 'operator-skip', appliedNotPublished: true }),
      letter(record('y', 'utf8', '4960002')),
    ]);
    assert.equal(dlq(config.consumer)!.appliedNotPublished, true);
    assert.equal(dlq(config.consumer, '4960002')!.appliedNotPublished, undefined);
  });

  it('parks a capture dead letter under its own key, claim-checked, with an alert naming it', async () => {
    const config = loadConfig({ CDC_DLQ_INLINE_MAX_BYTES: '2000' });
    const f = fakes();
    const raw = Buffer.from(JSON.stringify({ after: { description: 'z'.repeat(5_000) } }));
    const l: CaptureDeadLetter = {
      lsn: '0/16C4460',
      index: 3,
      txId: 812,
      commitTs: '2026-01-02T03:04:05.000Z',
      schema: 'public',
      table: 'products',
      op: 'u',
      category: 'permanent',
      reason:
        'change (u) of public.products at commit LSN 0/16C4460, index 3: the stream record is 1200000 bytes',
      raw,
      partitionKey: 'products:{"product_id":"P-1"}',
    };
    const deps = { config, ...f.io };
    await parkCaptureDeadLetter(deps, createAlertPublisher(deps), 'my_slot', l);
    await parkCaptureDeadLetter(deps, createAlertPublisher(deps), 'my_slot', l); // capture re-read the WAL
    const pk = captureDeadLetterKey('my_slot', '0/16C4460', 3);
    assert.equal(pk, 'CAPTURE#my_slot#0/16C4460#3');
    const item = f.doc.item(config.tables.dlq, pk)!;
    assert.equal(item.source, 'capture');
    assert.equal(item.table, 'public.products');
    assert.equal(item.status, 'PARKED');
    assert.equal(item.attempts, 2);
    assert.equal(item.rawS3Key, 'dead-letters/capture/my_slot/0-16C4460/3');
    assert.ok((await readDeadLetterRaw(f.io, item)).bytes.equals(raw));
    const alerts = f.events.alerts();
    assert.equal(alerts.length, 1, 'one alert, however often capture parks it');
    const detail = JSON.parse(alerts[0].Detail) as { entityId: string; details: Record<string, string> };
    assert.equal(alerts[0].DetailType, 'alert.dead_letter');
    assert.equal(detail.entityId, pk);
    assert.equal(detail.details.shardId, 'capture:my_slot');
    assert.equal(detail.details.category, 'permanent');
  });
});
