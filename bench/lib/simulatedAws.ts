/**
 * Simulated AWS for `npm run bench -- --sinks simulated` (issue 20, item 4): in-process fakes of
 * Kinesis, DynamoDB, EventBridge and S3 that answer after a fixed, AWS-like latency and keep their
 * data for checking, so the benchmark measures Temporal orchestration and our code alone (no
 * emulator ceilings). They are injected at the client level (the activities' `ActivityDeps.aws`,
 * activities/deps.ts), like the unit tests' fakes (test/unit/activities/fakes.ts): each
 * implements `send(command)`, dispatching on the command's class name and reading
 * `command.input`. A command they do not implement fails loudly and is counted (`unsupported`).
 *
 * Latencies (one fixed value per service and call kind, no jitter; `SimLatency`, overridable by
 * flags or CDC_SIM_* variables, see `simLatencyFromEnv`): docs/performance.md, "Simulated sinks",
 * gives the published figures behind the defaults.
 *
 * What is simulated and what is not:
 * - Kinesis: shards with evenly split hash-key ranges (MD5 of the partition key, as Kinesis),
 *   56-digit sequence numbers ascending per shard, every iterator type, GetRecords up to `Limit`
 *   (≤ 10,000) records and MillisBehindLatest. A record is placed on its shard (and numbered) when
 *   PutRecords is called and becomes readable when the call returns (after its latency), so
 *   concurrent puts keep call order. Throughput limits (1,000 records/s and 5 GetRecords calls/s
 *   per shard) are not enforced but measured (`kinesisPeaks`), so a run can say whether it stayed
 *   within what a real shard takes.
 * - DynamoDB (document client inputs): items keyed by `pk` (and `sk` when present); PutItem,
 *   GetItem, UpdateItem, DeleteItem, BatchGetItem with the condition and update expressions the
 *   activities use (AND/OR of attribute_(not_)exists and comparisons; SET with if_not_exists,
 *   ADD). Capacity limits are not simulated.
 * - EventBridge: PutEvents of at most 10 entries; every accepted entry is kept as a `SimEvent`
 *   (its change's key, LSN, version and commit time parsed from the detail, and when it was
 *   accepted: the end of the call), in acceptance order. No rules or targets.
 * - S3: PutObject, GetObject, HeadObject, DeleteObject on in-memory buckets.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { NoSuchKey, NotFound, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Client, type ClientConfig } from 'pg';
import type { ActivityDeps } from '../../activities/deps';
import { keyringFromEnv, type Keyring } from '../../infra/codec/keyring';

// ---- Latency -----------------------------------------------------------------------------------

/** Milliseconds each simulated call takes (the time between `send` and its answer). */
export interface SimLatency {
  /** Every DynamoDB request (PutItem, GetItem, UpdateItem, DeleteItem, BatchGetItem). */
  dynamoMs: number;
  /** EventBridge PutEvents. */
  eventsMs: number;
  /** Kinesis GetRecords. */
  kinesisGetMs: number;
  /** Kinesis PutRecords / PutRecord (the load generator's writes). */
  kinesisPutMs: number;
  /** Kinesis control calls: GetShardIterator, ListShards, DescribeStreamSummary. */
  kinesisControlMs: number;
  /** S3 PutObject, GetObject, HeadObject, DeleteObject. */
  s3Ms: number;
}

/** Defaults from AWS' published figures (docs/performance.md, "Simulated sinks", cites them). */
export const DEFAULT_SIM_LATENCY: SimLatency = {
  dynamoMs: 5,
  eventsMs: 25,
  kinesisGetMs: 15,
  kinesisPutMs: 20,
  kinesisControlMs: 10,
  s3Ms: 30,
};

/** The flag and variable of each latency: `--sim-dynamo-ms 5`, `CDC_SIM_DYNAMO_MS=5`. */
export const SIM_LATENCY_NAMES: Readonly<Record<keyof SimLatency, { flag: string; env: string }>> = {
  dynamoMs: { flag: 'sim-dynamo-ms', env: 'CDC_SIM_DYNAMO_MS' },
  eventsMs: { flag: 'sim-events-ms', env: 'CDC_SIM_EVENTS_MS' },
  kinesisGetMs: { flag: 'sim-kinesis-get-ms', env: 'CDC_SIM_KINESIS_GET_MS' },
  kinesisPutMs: { flag: 'sim-kinesis-put-ms', env: 'CDC_SIM_KINESIS_PUT_MS' },
  kinesisControlMs: { flag: 'sim-kinesis-control-ms', env: 'CDC_SIM_KINESIS_CONTROL_MS' },
  s3Ms: { flag: 'sim-s3-ms', env: 'CDC_SIM_S3_MS' },
};

/** The latencies: flags (`--sim-dynamo-ms 5`) over variables (`CDC_SIM_DYNAMO_MS`) over the defaults. */
export function simLatencyFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = [],
): SimLatency {
  const out: SimLatency = { ...DEFAULT_SIM_LATENCY };
  for (const [k, { flag, env: name }] of Object.entries(SIM_LATENCY_NAMES) as [
    keyof SimLatency,
    { flag: string; env: string },
  ][]) {
    const i = argv.indexOf(`--${flag}`);
    const raw = i >= 0 ? argv[i + 1] : env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0)
      throw new Error(`${i >= 0 ? `--${flag}` : name} needs milliseconds ≥ 0, got ${raw}`);
    out[k] = n;
  }
  return out;
}

const wait = (ms: number) => (ms > 0 ? sleep(ms) : Promise.resolve());

// ---- Shared ------------------------------------------------------------------------------------

// The fakes read plain JavaScript inputs, as the document client takes them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Input = Record<string, any>;
type Item = Record<string, unknown>;
interface Command {
  readonly input: object;
}

const nameOf = (command: Command) => command.constructor.name;

/** An AWS-style error, classified by its name like the SDK's. */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

/** Counts calls per command name, and commands nobody implemented. */
class Calls {
  readonly byName: Record<string, number> = {};
  readonly unsupported: Record<string, number> = {};
  count(name: string): void {
    this.byName[name] = (this.byName[name] ?? 0) + 1;
  }
  refuse(service: string, name: string): never {
    this.unsupported[name] = (this.unsupported[name] ?? 0) + 1;
    throw new Error(`simulated ${service}: ${name} is not simulated`);
  }
}

// ---- Kinesis -----------------------------------------------------------------------------------

export interface SimRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  arrivalMs: number;
  /** Readable from this time on (the end of the PutRecords call that wrote it). */
  visibleAtMs: number;
}

interface SimShard {
  shardId: string;
  index: number;
  startingHashKey: bigint;
  endingHashKey: bigint;
  records: SimRecord[];
  /** Records written and GetRecords calls per whole second (epoch seconds), for the peaks. */
  writesPerSecond: Map<number, number>;
  getsPerSecond: Map<number, number>;
}

const MAX_HASH = (1n << 128n) - 1n;
const SEQ_PREFIX = '49';
const SEQ_DIGITS = 56;
const MAX_GET_RECORDS = 10_000;

const shardIdOf = (i: number) => `shardId-${String(i).padStart(12, '0')}`;
const sequenceOf = (shard: number, n: number) =>
  `${SEQ_PREFIX}${String(shard).padStart(4, '0')}${String(n).padStart(SEQ_DIGITS - 6, '0')}`;

const bump = (m: Map<number, number>, atMs: number, n = 1) => {
  const s = Math.floor(atMs / 1000);
  m.set(s, (m.get(s) ?? 0) + n);
};

/** Kinesis streams in memory (see the header). */
export class SimKinesis {
  readonly calls = new Calls();
  private readonly streams = new Map<string, SimShard[]>();

  constructor(
    private readonly latency: Pick<SimLatency, 'kinesisGetMs' | 'kinesisPutMs' | 'kinesisControlMs'>,
  ) {}

  /** A stream of `shards` open shards with evenly split hash-key ranges. */
  createStream(name: string, shards: number): void {
    const width = (MAX_HASH + 1n) / BigInt(shards);
    this.streams.set(
      name,
      Array.from({ length: shards }, (_, i) => ({
        shardId: shardIdOf(i),
        index: i,
        startingHashKey: width * BigInt(i),
        endingHashKey: i === shards - 1 ? MAX_HASH : width * BigInt(i + 1) - 1n,
        records: [],
        writesPerSecond: new Map(),
        getsPerSecond: new Map(),
      })),
    );
  }

  /** The records of a shard, in order (for checks). */
  records(stream: string, shardId: string): readonly SimRecord[] {
    return this.shard(stream, shardId).records;
  }

  /** The shard a partition key goes to (MD5 of the key as a 128-bit number, as Kinesis maps it). */
  shardFor(stream: string, partitionKey: string, explicitHashKey?: string): string {
    const hash = explicitHashKey
      ? BigInt(explicitHashKey)
      : BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
    const shard = this.shards(stream).find((s) => hash >= s.startingHashKey && hash <= s.endingHashKey);
    return shard!.shardId;
  }

  /**
   * The busiest whole second of each shard (within `within`, when given): records written, and
   * GetRecords calls (a real shard takes 1,000 records/s and 5 GetRecords calls/s, shared by its
   * consumers).
   */
  kinesisPeaks(
    stream: string,
    within?: { startMs: number; endMs: number },
  ): { shardId: string; maxWritesPerSecond: number; maxGetsPerSecond: number }[] {
    const inside = (second: number) =>
      !within || (second * 1000 >= within.startMs && (second + 1) * 1000 <= within.endMs);
    const max = (m: Map<number, number>) =>
      Math.max(0, ...[...m].filter(([second]) => inside(second)).map(([, n]) => n));
    return this.shards(stream).map((s) => ({
      shardId: s.shardId,
      maxWritesPerSecond: max(s.writesPerSecond),
      maxGetsPerSecond: max(s.getsPerSecond),
    }));
  }

  async send(command: Command): Promise<unknown> {
    const name = nameOf(command);
    const input = command.input as Input;
    this.calls.count(name);
    switch (name) {
      case 'PutRecordsCommand':
        return this.putRecords(input);
      case 'PutRecordCommand': {
        const out = await this.putRecords({
          StreamName: input.StreamName,
          Records: [
            { PartitionKey: input.PartitionKey, Data: input.Data, ExplicitHashKey: input.ExplicitHashKey },
          ],
        });
        return out.Records[0];
      }
      case 'GetRecordsCommand':
        return this.getRecords(input);
      case 'GetShardIteratorCommand':
        await wait(this.latency.kinesisControlMs);
        return { ShardIterator: this.iterator(input) };
      case 'ListShardsCommand':
        await wait(this.latency.kinesisControlMs);
        return this.listShards(input);
      case 'DescribeStreamSummaryCommand': {
        await wait(this.latency.kinesisControlMs);
        const shards = this.shards(input.StreamName);
        return {
          StreamDescriptionSummary: {
            StreamName: input.StreamName,
            StreamStatus: 'ACTIVE',
            OpenShardCount: shards.length,
            RetentionPeriodHours: 24,
          },
        };
      }
      default:
        return this.calls.refuse('Kinesis', name);
    }
  }

  private shards(stream: string): SimShard[] {
    const s = this.streams.get(stream);
    if (!s) throw awsError('ResourceNotFoundException', `Stream ${stream} not found`);
    return s;
  }

  private shard(stream: string, shardId: string): SimShard {
    const s = this.shards(stream).find((x) => x.shardId === shardId);
    if (!s) throw awsError('ResourceNotFoundException', `Shard ${shardId} in stream ${stream} not found`);
    return s;
  }

  private async putRecords(input: Input): Promise<{ FailedRecordCount: number; Records: Input[] }> {
    const entries = (input.Records ?? []) as Input[];
    if (entries.length > 500) throw awsError('ValidationException', 'at most 500 records per PutRecords');
    const now = Date.now();
    const visibleAtMs = now + this.latency.kinesisPutMs;
    const results = entries.map((e) => {
      const shard = this.shard(
        input.StreamName,
        this.shardFor(input.StreamName, e.PartitionKey, e.ExplicitHashKey),
      );
      const sequenceNumber = sequenceOf(shard.index, shard.records.length);
      const data = e.Data instanceof Uint8Array ? e.Data : Buffer.from(String(e.Data));
      shard.records.push({ sequenceNumber, partitionKey: e.PartitionKey, data, arrivalMs: now, visibleAtMs });
      bump(shard.writesPerSecond, now);
      return { SequenceNumber: sequenceNumber, ShardId: shard.shardId };
    });
    await wait(this.latency.kinesisPutMs);
    return { FailedRecordCount: 0, Records: results };
  }

  private listShards(input: Input): object {
    const stream = input.StreamName ?? (input.NextToken ? String(input.NextToken) : undefined);
    return {
      Shards: this.shards(stream).map((s) => ({
        ShardId: s.shardId,
        HashKeyRange: { StartingHashKey: String(s.startingHashKey), EndingHashKey: String(s.endingHashKey) },
        SequenceNumberRange: { StartingSequenceNumber: sequenceOf(s.index, 0) },
      })),
    };
  }

  /** An iterator is the stream, the shard and the index of the next record, base64 JSON. */
  private iterator(input: Input): string {
    const shard = this.shard(input.StreamName, input.ShardId);
    const type = String(input.ShardIteratorType);
    let position: number;
    if (type === 'TRIM_HORIZON') position = 0;
    else if (type === 'LATEST') position = shard.records.length;
    else if (type === 'AT_TIMESTAMP') {
      const t = new Date(input.Timestamp as Date | string | number).getTime();
      const i = shard.records.findIndex((r) => r.arrivalMs >= t);
      position = i < 0 ? shard.records.length : i;
    } else if (type === 'AT_SEQUENCE_NUMBER' || type === 'AFTER_SEQUENCE_NUMBER') {
      const seq = String(input.StartingSequenceNumber ?? '');
      const n = this.indexOf(shard, seq);
      position = type === 'AT_SEQUENCE_NUMBER' ? n : n + 1;
    } else throw awsError('InvalidArgumentException', `unknown ShardIteratorType ${type}`);
    return Buffer.from(JSON.stringify([input.StreamName, shard.shardId, position])).toString('base64');
  }

  /** The index of a sequence number of this shard (one of ours, in range: else InvalidArgument). */
  private indexOf(shard: SimShard, seq: string): number {
    const prefix = sequenceOf(shard.index, 0).slice(0, 6);
    const n = Number(seq.slice(6));
    if (
      seq.length !== SEQ_DIGITS ||
      !seq.startsWith(prefix) ||
      !Number.isInteger(n) ||
      n >= shard.records.length
    )
      throw awsError('InvalidArgumentException', `StartingSequenceNumber ${seq} is not on ${shard.shardId}`);
    return n;
  }

  private async getRecords(input: Input): Promise<object> {
    let parsed: [string, string, number];
    try {
      parsed = JSON.parse(
        Buffer.from(String(input.ShardIterator), 'base64').toString('utf8'),
      ) as typeof parsed;
    } catch {
      throw awsError('InvalidArgumentException', 'invalid ShardIterator');
    }
    const [stream, shardId, position] = parsed;
    const limit = Math.min(MAX_GET_RECORDS, Math.max(1, Number(input.Limit ?? MAX_GET_RECORDS)));
    const shard = this.shard(stream, shardId);
    bump(shard.getsPerSecond, Date.now());
    await wait(this.latency.kinesisGetMs);
    const now = Date.now();
    const out: SimRecord[] = [];
    let next = position;
    while (next < shard.records.length && out.length < limit && shard.records[next].visibleAtMs <= now)
      out.push(shard.records[next++]);
    const ahead = next < shard.records.length && shard.records[next].visibleAtMs <= now;
    return {
      Records: out.map((r) => ({
        SequenceNumber: r.sequenceNumber,
        PartitionKey: r.partitionKey,
        Data: r.data,
        ApproximateArrivalTimestamp: new Date(r.arrivalMs),
      })),
      NextShardIterator: Buffer.from(JSON.stringify([stream, shardId, next])).toString('base64'),
      MillisBehindLatest: ahead ? Math.max(0, now - shard.records[next].arrivalMs) : 0,
    };
  }
}

// ---- DynamoDB ----------------------------------------------------------------------------------

/** DynamoDB tables in memory, document-client inputs and outputs (see the header). */
export class SimDynamo {
  readonly calls = new Calls();
  readonly tables = new Map<string, Map<string, Item>>();

  constructor(private readonly latency: Pick<SimLatency, 'dynamoMs'>) {}

  table(name: string): Map<string, Item> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }

  /** An item (a copy), by its `pk` (and `sk`). */
  item(table: string, pk: string, sk?: string): Item | undefined {
    const found = this.table(table).get(keyOf({ pk, ...(sk === undefined ? {} : { sk }) }));
    return found && structuredClone(found);
  }

  async send(command: Command): Promise<unknown> {
    const name = nameOf(command);
    const input = command.input as Input;
    this.calls.count(name);
    if (!['PutCommand', 'GetCommand', 'UpdateCommand', 'DeleteCommand', 'BatchGetCommand'].includes(name))
      return this.calls.refuse('DynamoDB', name);
    await wait(this.latency.dynamoMs);
    switch (name) {
      case 'PutCommand':
        return this.put(input);
      case 'GetCommand': {
        const found = this.table(input.TableName).get(keyOf(input.Key));
        return found ? { Item: structuredClone(found) } : {};
      }
      case 'UpdateCommand':
        return this.update(input);
      case 'DeleteCommand':
        return this.remove(input);
      default:
        return this.batchGet(input);
    }
  }

  private put(input: Input): object {
    const item = input.Item as Item;
    const key = keyOf(item);
    const t = this.table(input.TableName);
    const current = t.get(key);
    checkCondition(input, current);
    t.set(key, structuredClone(item));
    return input.ReturnValues === 'ALL_OLD' && current ? { Attributes: current } : {};
  }

  private update(input: Input): object {
    const key = keyOf(input.Key);
    const t = this.table(input.TableName);
    const current = t.get(key);
    checkCondition(input, current);
    const next = applyUpdate(
      structuredClone(current ?? { ...input.Key }),
      String(input.UpdateExpression),
      input.ExpressionAttributeNames ?? {},
      input.ExpressionAttributeValues ?? {},
    );
    t.set(key, next);
    if (input.ReturnValues === 'ALL_NEW') return { Attributes: structuredClone(next) };
    if (input.ReturnValues === 'ALL_OLD' && current) return { Attributes: current };
    return {};
  }

  private remove(input: Input): object {
    const key = keyOf(input.Key);
    const t = this.table(input.TableName);
    const current = t.get(key);
    checkCondition(input, current);
    t.delete(key);
    return input.ReturnValues === 'ALL_OLD' && current ? { Attributes: current } : {};
  }

  private batchGet(input: Input): object {
    const Responses: Record<string, Item[]> = {};
    for (const [table, request] of Object.entries(input.RequestItems as Record<string, Input>)) {
      const keys = request.Keys as Input[];
      if (keys.length > 100) throw awsError('ValidationException', 'at most 100 keys per BatchGetItem');
      Responses[table] = keys.flatMap((k) => {
        const found = this.table(table).get(keyOf(k));
        return found ? [structuredClone(found)] : [];
      });
    }
    return { Responses, UnprocessedKeys: {} };
  }
}

const keyOf = (k: Input) => (k.sk === undefined ? String(k.pk) : `${String(k.pk)}\u0000${String(k.sk)}`);

/** Throws ConditionalCheckFailedException (with the held item when asked) when the condition does not hold. */
function checkCondition(input: Input, current: Item | undefined): void {
  if (!input.ConditionExpression) return;
  if (
    holds(
      String(input.ConditionExpression),
      current,
      input.ExpressionAttributeValues ?? {},
      input.ExpressionAttributeNames ?? {},
    )
  )
    return;
  const err = new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
  });
  if (input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current)
    Object.assign(err, { Item: marshalled(current) });
  throw err;
}

/** Top-level string, number and boolean attributes as DynamoDB marshals them (a condition failure's item). */
function marshalled(item: Item): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [k, v] of Object.entries(item)) {
    if (typeof v === 'string') out[k] = { S: v };
    else if (typeof v === 'number') out[k] = { N: String(v) };
    else if (typeof v === 'boolean') out[k] = { BOOL: v };
  }
  return out;
}

/**
 * A condition of OR-ed groups of AND-ed terms (no parentheses): `attribute_exists(a)`,
 * `attribute_not_exists(a)`, `a <op> :v` with <op> one of = <> < <= > >=.
 */
export function holds(expression: string, item: Item | undefined, values: Input, names: Input): boolean {
  const attr = (n: string) => (n.startsWith('#') ? String(names[n]) : n);
  return expression.split(/\s+OR\s+/).some((group) =>
    group.split(/\s+AND\s+/).every((term) => {
      const t = term.trim();
      const fn = /^attribute_(not_)?exists\((#?[\w.]+)\)$/.exec(t);
      if (fn) return (item?.[attr(fn[2])] === undefined) === Boolean(fn[1]);
      const cmp = /^(#?\w+)\s*(=|<>|<=|>=|<|>)\s*(:\w+)$/.exec(t);
      if (!cmp) throw new Error(`simulated DynamoDB: condition not simulated: ${expression}`);
      const a = item?.[attr(cmp[1])] as string | number | undefined;
      const v = values[cmp[3]] as string | number;
      if (a === undefined) return cmp[2] === '<>';
      switch (cmp[2]) {
        case '=':
          return a === v;
        case '<>':
          return a !== v;
        case '<':
          return a < v;
        case '<=':
          return a <= v;
        case '>':
          return a > v;
        default:
          return a >= v;
      }
    }),
  );
}

/** `SET a = :x, #b = if_not_exists(#b, :y) ADD c :n, d :m` (what the activities send). */
export function applyUpdate(item: Item, expression: string, names: Input, values: Input): Item {
  const m = /^SET\s+(.+?)(?:\s+ADD\s+(.+))?$/.exec(expression.trim());
  if (!m) throw new Error(`simulated DynamoDB: update not simulated: ${expression}`);
  const attr = (n: string) => (n.startsWith('#') ? String(names[n]) : n);
  for (const assignment of m[1].split(/,\s*(?![^(]*\))/)) {
    const [lhs, rhs] = assignment.split(/\s*=\s*/).map((s) => s.trim());
    const ifNotExists = /^if_not_exists\((#?\w+),\s*(:\w+)\)$/.exec(rhs);
    if (ifNotExists) item[attr(lhs)] = item[attr(ifNotExists[1])] ?? values[ifNotExists[2]];
    else if (/^:\w+$/.test(rhs)) item[attr(lhs)] = values[rhs];
    else throw new Error(`simulated DynamoDB: assignment not simulated: ${assignment}`);
  }
  for (const add of m[2]?.split(/,\s*/) ?? []) {
    const [a, v] = add.trim().split(/\s+/);
    item[attr(a)] = ((item[attr(a)] as number | undefined) ?? 0) + (values[v] as number);
  }
  return item;
}

// ---- EventBridge -------------------------------------------------------------------------------

/** One accepted PutEvents entry, as the benchmark checks it. */
export interface SimEvent {
  /** Acceptance order (0, 1, …) over the whole bus. */
  order: number;
  acceptedMs: number;
  detailType: string;
  source: string;
  /** `<sourceTable>#<entityId>` for a change event; undefined for others (alerts). */
  entityKey?: string;
  /** The change's commit LSN (metadata.sourcePosition) and version. */
  lsn?: string;
  version?: string;
  eventId?: string;
  /** The change's commit time (detail.timestamp), epoch ms. */
  commitMs?: number;
}

interface ChangeDetail {
  eventId?: string;
  entityId?: string;
  timestamp?: string;
  metadata?: { sourceTable?: string; sourcePosition?: string; version?: string };
}

/** An EventBridge that accepts every entry after its latency and keeps what it accepted. */
export class SimEventBridge {
  readonly calls = new Calls();
  readonly accepted: SimEvent[] = [];

  constructor(private readonly latency: Pick<SimLatency, 'eventsMs'>) {}

  async send(command: Command): Promise<unknown> {
    const name = nameOf(command);
    this.calls.count(name);
    if (name !== 'PutEventsCommand') return this.calls.refuse('EventBridge', name);
    const entries = (command.input as Input).Entries as Input[];
    if (!entries?.length || entries.length > 10)
      throw awsError('ValidationException', 'PutEvents takes 1 to 10 entries');
    await wait(this.latency.eventsMs);
    const acceptedMs = Date.now();
    const results = entries.map((e) => {
      const order = this.accepted.length;
      this.accepted.push(simEvent(e, order, acceptedMs));
      return { EventId: `sim-${order}` };
    });
    return { Entries: results, FailedEntryCount: 0 };
  }
}

function simEvent(e: Input, order: number, acceptedMs: number): SimEvent {
  const base: SimEvent = { order, acceptedMs, detailType: String(e.DetailType), source: String(e.Source) };
  let d: ChangeDetail;
  try {
    d = JSON.parse(String(e.Detail)) as ChangeDetail;
  } catch {
    return base;
  }
  const table = d.metadata?.sourceTable;
  if (!table || d.entityId === undefined || !d.metadata?.sourcePosition) return base;
  return {
    ...base,
    entityKey: `${table}#${d.entityId}`,
    lsn: d.metadata.sourcePosition,
    ...(d.metadata.version ? { version: d.metadata.version } : {}),
    ...(d.eventId ? { eventId: d.eventId } : {}),
    ...(d.timestamp ? { commitMs: Date.parse(d.timestamp) } : {}),
  };
}

// ---- S3 ----------------------------------------------------------------------------------------

/** S3 buckets in memory. */
export class SimS3 {
  readonly calls = new Calls();
  readonly objects = new Map<
    string,
    { body: Buffer; metadata: Record<string, string>; contentType?: string }
  >();

  constructor(private readonly latency: Pick<SimLatency, 's3Ms'>) {}

  async send(command: Command): Promise<unknown> {
    const name = nameOf(command);
    const input = command.input as Input;
    this.calls.count(name);
    if (!['PutObjectCommand', 'GetObjectCommand', 'HeadObjectCommand', 'DeleteObjectCommand'].includes(name))
      return this.calls.refuse('S3', name);
    await wait(this.latency.s3Ms);
    const id = `${String(input.Bucket)}/${String(input.Key)}`;
    switch (name) {
      case 'PutObjectCommand': {
        const body = input.Body as string | Uint8Array;
        this.objects.set(id, {
          body: typeof body === 'string' ? Buffer.from(body) : Buffer.from(body),
          metadata: { ...(input.Metadata as Record<string, string> | undefined) },
          ...(input.ContentType ? { contentType: String(input.ContentType) } : {}),
        });
        return {};
      }
      case 'DeleteObjectCommand':
        this.objects.delete(id);
        return {};
      default: {
        const o = this.objects.get(id);
        if (!o && name === 'HeadObjectCommand') throw new NotFound({ message: 'Not Found', $metadata: {} });
        if (!o) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
        const head = {
          ContentLength: o.body.length,
          Metadata: { ...o.metadata },
          ContentType: o.contentType,
        };
        if (name === 'HeadObjectCommand') return head;
        return {
          ...head,
          Body: {
            transformToByteArray: async () => new Uint8Array(o.body),
            transformToString: async () => o.body.toString('utf8'),
          },
        };
      }
    }
  }
}

// ---- Together ----------------------------------------------------------------------------------

/** One simulated AWS: the four services, and the dependencies the activities take (`createActivities(config, io)`). */
export class SimulatedAws {
  readonly kinesis: SimKinesis;
  readonly dynamo: SimDynamo;
  readonly events: SimEventBridge;
  readonly s3: SimS3;
  private keyring: Keyring | undefined;

  /** `keyring`: the payload keys dead letters are sealed with (default: the environment's, on first use). */
  constructor(
    readonly latency: SimLatency = DEFAULT_SIM_LATENCY,
    keyring?: Keyring,
  ) {
    this.keyring = keyring;
    this.kinesis = new SimKinesis(latency);
    this.dynamo = new SimDynamo(latency);
    this.events = new SimEventBridge(latency);
    this.s3 = new SimS3(latency);
  }

  /**
   * What `createActivities(config, io)` and the worker take: these clients, PostgreSQL as the
   * process's (`new Client()`: the shard readers never use it), the payload keys given or the
   * environment's (read now: `createActivities` spreads its dependencies).
   */
  io(): Omit<ActivityDeps, 'config'> {
    const keyring = (this.keyring ??= keyringFromEnv());
    return {
      aws: {
        kinesis: this.kinesis as unknown as KinesisClient,
        doc: this.dynamo as unknown as DynamoDBDocumentClient,
        events: this.events as unknown as EventBridgeClient,
        s3: this.s3 as unknown as S3Client,
      },
      pg: (options) => (options ? new Client(options as ClientConfig) : new Client()),
      keyring,
    };
  }

  /** Calls per command, and commands that were refused (not simulated), over all services. */
  callCounts(): { byName: Record<string, number>; unsupported: Record<string, number> } {
    const byName: Record<string, number> = {};
    const unsupported: Record<string, number> = {};
    for (const c of [this.kinesis.calls, this.dynamo.calls, this.events.calls, this.s3.calls]) {
      Object.assign(byName, c.byName);
      Object.assign(unsupported, c.unsupported);
    }
    return { byName, unsupported };
  }
}
