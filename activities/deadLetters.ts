import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { captureDeadLetterAlert, type CaptureDeadLetter } from '../domain/capture/captureDeadLetter';
import {
  captureDeadLetterKey,
  captureDeadLetterObjectKey,
  deadLetterKey,
  deadLetterObjectKey,
} from '../domain/core/itemKeys';
import { deadLetterAlert, type Alert } from '../domain/publishing/alerts';
import { deadLetterTtl } from '../domain/redrive/sourceRead';
import type { DeadLetter } from '../domain/shards/shardTypes';
import { open, seal } from '../infra/codec/keyring';
import { metrics } from '../infra/metrics';
import { mapLimit } from './concurrency';
import type { ActivityDeps } from './deps';
import { classified } from './failures';
import type { AlertPublisher } from './publishing/alertPublisher';

const WRITE_CONCURRENCY = 32;

/** The `deadLetterRecords` activity. */
export function createDeadLetterActivities(deps: ActivityDeps, alerts: AlertPublisher) {
  return classified({
    deadLetterRecords: (letters: DeadLetter[]) =>
      metrics.timed(deps.config.consumer, 'dead_letter', () => deadLetterRecords(deps, alerts, letters)),
  });
}

/**
 * Parks records in cdc_dlq with their raw data and reason, and raises a dead-letter alert for each
 * newly parked one. A record whose letter was already closed (REDRIVEN or DISCARDED) stays closed
 * and raises no alert.
 */
async function deadLetterRecords(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  letters: DeadLetter[],
): Promise<void> {
  const now = new Date().toISOString();
  const raised: Alert[] = [];
  const parked: string[] = [];
  const { consumer, stream } = deps.config;
  await mapLimit(letters, WRITE_CONCURRENCY, async (l) => {
    const seq = l.record.sequenceNumber;
    const pk = deadLetterKey(consumer, stream, l.shardId, seq);
    const raw = await keepRaw(
      deps,
      pk,
      deadLetterObjectKey(consumer, stream, l.shardId, seq),
      Buffer.from(l.record.data, l.record.encoding),
      l.record.encoding,
    );
    const parkedAt = await park(deps, pk, now, {
      source: 'shard',
      consumer,
      stream,
      shardId: l.shardId,
      sequenceNumber: seq,
      partitionKey: l.record.partitionKey,
      category: l.category,
      reason: l.reason,
      ...raw,
      ...(l.appliedNotPublished ? { appliedNotPublished: true } : {}),
    });
    if (parkedAt === undefined) return;
    parked.push(l.category);
    // Keyed by the first parking time, so a retried dead-lettering raises the same alert.
    raised.push(
      deadLetterAlert({
        stream,
        shardId: l.shardId,
        sequenceNumber: seq,
        category: l.category,
        reason: l.reason,
        at: parkedAt,
      }),
    );
  });
  await alerts.publishAlerts(raised);
  metrics.deadLettered(consumer, 'shard', parked);
}

/**
 * Parks a change capture could not put on the stream (`CAPTURE#<slot>#<lsn>#<index>`), with its raw
 * data, and raises its `alert.dead_letter`. Idempotent: capture re-reading the same WAL after a
 * crash writes the same item again (counting attempts) and raises the same alert.
 */
export async function parkCaptureDeadLetter(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  slot: string,
  l: CaptureDeadLetter,
): Promise<void> {
  const pk = captureDeadLetterKey(slot, l.lsn, l.index);
  const raw = await keepRaw(deps, pk, captureDeadLetterObjectKey(slot, l.lsn, l.index), l.raw, 'utf8');
  const parkedAt = await park(deps, pk, new Date().toISOString(), {
    source: 'capture',
    slot,
    lsn: l.lsn,
    index: l.index,
    txId: l.txId,
    commitTs: l.commitTs,
    table: `${l.schema}.${l.table}`,
    op: l.op,
    // Capture runs with the operational consumer: its letters are that consumer's to redrive.
    consumer: deps.config.consumer,
    ...(l.partitionKey ? { partitionKey: l.partitionKey } : {}),
    category: l.category,
    reason: l.reason,
    ...raw,
  });
  if (parkedAt === undefined) return;
  await alerts.publishAlerts([
    captureDeadLetterAlert({ stream: deps.config.stream, slot, letter: l }, parkedAt),
  ]);
  metrics.deadLettered(deps.config.consumer, 'capture', [l.category]);
}

/**
 * Where the raw record is kept (claim check), always encrypted at rest (AES-256-GCM with the
 * payload keyring, the item's key as associated data so a ciphertext cannot be moved to another
 * item): up to `deadLetters.inlineMaxBytes` in the item (`rawCiphertext`, binary); larger (a
 * DynamoDB item holds at most 400 KB) as an object in the DLQ bucket, written before the item so
 * a reference never dangles (`rawS3Bucket`, `rawS3Key`). Either way the item has `rawKeyId`,
 * `rawEncoding` (how the plaintext reads: utf8 or base64), `rawBytes` and `rawSha256` of the
 * plaintext (integrity after decryption). `readDeadLetterRaw` gives the record back.
 */
async function keepRaw(
  { aws, config, keyring }: ActivityDeps,
  pk: string,
  objectKey: string,
  bytes: Buffer,
  encoding: 'utf8' | 'base64',
): Promise<Record<string, string | number | Uint8Array>> {
  const rawBytes = bytes.length;
  const rawSha256 = createHash('sha256').update(bytes).digest('hex');
  const meta = { rawEncryption: RAW_ENCRYPTION, rawEncoding: encoding, rawBytes, rawSha256 };
  if (rawBytes <= config.deadLetters.inlineMaxBytes) {
    const sealed = seal(keyring, bytes, Buffer.from(pk));
    return { ...meta, rawKeyId: sealed.keyId, rawCiphertext: sealed.ciphertext };
  }
  const sealed = seal(keyring, bytes, Buffer.from(objectKey));
  await aws.s3.send(
    new PutObjectCommand({
      Bucket: config.deadLetters.bucket,
      Key: objectKey,
      Body: sealed.ciphertext,
      ContentType: 'application/octet-stream',
      Metadata: { 'encryption-key-id': sealed.keyId, encryption: RAW_ENCRYPTION },
    }),
  );
  return { ...meta, rawKeyId: sealed.keyId, rawS3Bucket: config.deadLetters.bucket, rawS3Key: objectKey };
}

const RAW_ENCRYPTION = 'AES-256-GCM';

/** A DLQ item's raw record, decrypted (from the item or its S3 object); checks size and hash. */
export async function readDeadLetterRaw(
  { aws, keyring }: Pick<ActivityDeps, 'aws' | 'keyring'>,
  item: Record<string, unknown>,
): Promise<{ bytes: Buffer; encoding: 'utf8' | 'base64' }> {
  const keyId = String(item.rawKeyId);
  let bytes: Buffer;
  if (item.rawCiphertext !== undefined) {
    const ciphertext = item.rawCiphertext as Uint8Array;
    bytes = Buffer.from(open(keyring, { keyId, ciphertext }, Buffer.from(String(item.pk))));
  } else {
    const key = String(item.rawS3Key);
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: String(item.rawS3Bucket), Key: key }));
    const ciphertext = await out.Body!.transformToByteArray();
    bytes = Buffer.from(open(keyring, { keyId, ciphertext }, Buffer.from(key)));
  }
  if (createHash('sha256').update(bytes).digest('hex') !== item.rawSha256)
    throw new Error(`dead letter ${String(item.pk)}: the raw record does not match its sha256`);
  return { bytes, encoding: item.rawEncoding === 'base64' ? 'base64' : 'utf8' };
}

/**
 * Writes (or re-writes) a DLQ item as PARKED, counting attempts; returns when it was first parked.
 * A letter already closed (REDRIVEN or DISCARDED) is never turned back into PARKED: the write is
 * conditional, and then only the attempt is counted and undefined returned. The item's `ttl` is
 * the end of its redrive window from the first parking (`CDC_DLQ_REDRIVE_WINDOW_DAYS`): DynamoDB
 * deletes it after that, and a redrive of it meanwhile reads the row again from the source
 * (activities/redrive.ts) instead of replaying an image that may have been deleted since.
 */
async function park(
  { aws, config }: ActivityDeps,
  pk: string,
  now: string,
  attrs: Record<string, unknown>,
): Promise<string | undefined> {
  const names: Record<string, string> = { '#status': 'status', '#ttl': 'ttl' };
  const values: Record<string, unknown> = {
    ':parked': 'PARKED',
    ':now': now,
    ':one': 1,
    ':ttl': deadLetterTtl(Date.parse(now), config.deadLetters.redriveWindowDays),
  };
  const sets = Object.entries(attrs).map(([name, value], i) => {
    names[`#a${i}`] = name;
    values[`:a${i}`] = value;
    return `#a${i} = :a${i}`;
  });
  try {
    const out = await aws.doc.send(
      new UpdateCommand({
        TableName: config.tables.dlq,
        Key: { pk },
        UpdateExpression: `SET ${sets.join(', ')}, #status = :parked, parkedAt = if_not_exists(parkedAt, :now), #ttl = if_not_exists(#ttl, :ttl) ADD attempts :one`,
        ConditionExpression: 'attribute_not_exists(pk) OR #status = :parked',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return String(out.Attributes?.parkedAt ?? now);
  } catch (err) {
    if (!(
      err instanceof ConditionalCheckFailedException ||
      (err as Error)?.name === 'ConditionalCheckFailedException'
    ))
      throw err;
  }
  await aws.doc.send(
    new UpdateCommand({
      TableName: config.tables.dlq,
      Key: { pk },
      UpdateExpression: 'SET lastSeenAgainAt = :now ADD attempts :one',
      ExpressionAttributeValues: { ':now': now, ':one': 1 },
    }),
  );
  return undefined;
}
