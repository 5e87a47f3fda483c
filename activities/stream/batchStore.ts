/**
 * Where a batch's records live while the shard reader works on it by reference
 * (domain/shards/batchRef.ts): a cache in the worker process, else the batch kept in S3 (a batch
 * held long enough to risk the stream's retention), else read again from Kinesis by sequence
 * range. Every way back is checked against the reference's count and checksum.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { recordBytes, type BatchRef } from '../../domain/shards/batchRef';
import type { StreamRecord } from '../../domain/shards/shardTypes';
import { open, seal } from '../../infra/codec/keyring';
import { metrics } from '../../infra/metrics';
import type { ActivityDeps } from '../deps';
import { toStreamRecord } from './streamReader';

/** The reference of a pulled batch. */
export function refOf(stream: string, shardId: string, records: readonly StreamRecord[]): BatchRef {
  return {
    stream,
    shardId,
    first: records[0].sequenceNumber,
    last: records[records.length - 1].sequenceNumber,
    count: records.length,
    bytes: records.reduce((n, r) => n + recordBytes(r), 0),
    checksum: checksumOf(records),
    firstArrivalMs: records[0].arrivalMs,
    lastArrivalMs: records[records.length - 1].arrivalMs,
  };
}

export function checksumOf(records: readonly StreamRecord[]): string {
  const h = createHash('sha256');
  for (const r of records) h.update(`${r.sequenceNumber}\0${r.partitionKey}\0${r.data}\0`);
  return h.digest('hex').slice(0, 16);
}

/** A batch's key: its range and checksum (a stream created again under the same name may repeat a range). */
export const batchKey = (ref: BatchRef) =>
  `${ref.stream}/${ref.shardId}/${ref.first}-${ref.last}/${ref.checksum}`;
const keyOf = batchKey;

/** A bounded map, least recently used out first, sized by the bytes of its entries. */
export class LruCache<V> {
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e); // most recently used last
    return e.value;
  }

  set(key: string, value: V, bytes: number): void {
    this.delete(key);
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(k);
      this.bytes -= e.bytes;
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
  }
}

/** The process's batches (records by reference): 256 MiB holds hundreds of full batches. */
const recordCache = new LruCache<StreamRecord[]>(256 * 1024 * 1024);

/** Keeps a pulled batch's records for the steps that follow. */
export function rememberBatch(ref: BatchRef, records: StreamRecord[]): void {
  recordCache.set(keyOf(ref), records, ref.bytes);
}

/** Drops a finished batch (its checkpoint is taken). */
export function forgetBatch(ref: BatchRef): void {
  recordCache.delete(keyOf(ref));
}

/** Why a batch cannot be had back (trimmed from the stream and not kept): the step holds. */
export class BatchUnavailableError extends Error {
  override name = 'BatchUnavailableError';
}

/** The records of a batch: from the cache, the S3 copy, or Kinesis (and cached again). */
export async function recordsOf(deps: ActivityDeps, ref: BatchRef): Promise<StreamRecord[]> {
  const cached = recordCache.get(keyOf(ref));
  if (cached) return cached;
  const consumer = deps.config.consumer;
  // Only a batch kept in S3 is looked for there: every other cache miss goes to Kinesis at once.
  const kept = ref.kept ? await readKept(deps, ref) : undefined;
  const records = kept ?? (await rereadFromStream(deps, ref));
  metrics.batchReread(consumer, kept ? 's3' : 'kinesis');
  verify(ref, records);
  rememberBatch(ref, records);
  return records;
}

function verify(ref: BatchRef, records: StreamRecord[]): void {
  if (records.length !== ref.count || checksumOf(records) !== ref.checksum)
    throw new BatchUnavailableError(
      `batch ${ref.first}…${ref.last} of ${ref.shardId} read back ${records.length} of ${ref.count} records` +
        (records.length === ref.count ? ' with another checksum' : '') +
        ': trimmed by the stream’s retention or changed; it was not kept in S3',
    );
}

/** Reads the range again: AT_SEQUENCE_NUMBER of the first record until the last one. */
async function rereadFromStream(deps: ActivityDeps, ref: BatchRef): Promise<StreamRecord[]> {
  const { kinesis } = deps.aws;
  let iterator: string | undefined;
  try {
    iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: ref.stream,
          ShardId: ref.shardId,
          ShardIteratorType: 'AT_SEQUENCE_NUMBER',
          StartingSequenceNumber: ref.first,
        }),
      )
    ).ShardIterator;
  } catch (err) {
    if ((err as Error).name === 'InvalidArgumentException') return []; // trimmed
    throw err;
  }
  const last = BigInt(ref.last);
  const out: StreamRecord[] = [];
  for (let page = 0; iterator && page < MAX_REREAD_PAGES; page++) {
    metrics.getRecordsCalled({ stream: ref.stream, shardId: ref.shardId, consumer: deps.config.consumer });
    const got = await kinesis.send(
      new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(10_000, ref.count - out.length + 1) }),
    );
    for (const r of got.Records ?? []) {
      if (BigInt(r.SequenceNumber!) > last) return out;
      out.push(toStreamRecord(r));
    }
    if (out.length >= ref.count) return out;
    iterator = got.NextShardIterator;
    if (!got.Records?.length) {
      if (!got.MillisBehindLatest) return out; // nothing more to come
      await sleep(200); // empty page with data ahead: at most 5 GetRecords a second per shard
    }
  }
  return out;
}

const MAX_REREAD_PAGES = 50;

/** The S3 object of a kept batch. */
const keptKey = (deps: ActivityDeps, ref: BatchRef) =>
  `held-batches/${deps.config.consumer}/${keyOf(ref)}.json`;

/**
 * Keeps a held batch in S3 (encrypted, as dead letters are), so a hold longer than the stream's
 * retention never loses it. Idempotent: the same reference writes the same object.
 */
export async function keepBatch(deps: ActivityDeps, ref: BatchRef, records: StreamRecord[]): Promise<void> {
  const key = keptKey(deps, ref);
  const sealed = seal(deps.keyring, Buffer.from(JSON.stringify(records)), Buffer.from(key));
  await deps.aws.s3.send(
    new PutObjectCommand({
      Bucket: deps.config.deadLetters.bucket,
      Key: key,
      Body: sealed.ciphertext,
      ContentType: 'application/octet-stream',
      Metadata: { 'encryption-key-id': sealed.keyId, encryption: 'AES-256-GCM' },
    }),
  );
}

async function readKept(deps: ActivityDeps, ref: BatchRef): Promise<StreamRecord[] | undefined> {
  const key = keptKey(deps, ref);
  try {
    const out = await deps.aws.s3.send(
      new GetObjectCommand({ Bucket: deps.config.deadLetters.bucket, Key: key }),
    );
    const keyId = out.Metadata?.['encryption-key-id'] ?? '';
    const ciphertext = await out.Body!.transformToByteArray();
    const plain = open(deps.keyring, { keyId, ciphertext }, Buffer.from(key));
    return JSON.parse(Buffer.from(plain).toString('utf8')) as StreamRecord[];
  } catch (err) {
    if (err instanceof NoSuchKey || (err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound')
      return undefined;
    throw err;
  }
}

/** Deletes a kept batch once it is processed (its checkpoint follows); deleting none is no error. */
export async function dropKept(deps: ActivityDeps, ref: BatchRef): Promise<void> {
  await deps.aws.s3.send(
    new DeleteObjectCommand({ Bucket: deps.config.deadLetters.bucket, Key: keptKey(deps, ref) }),
  );
}
