import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ActivityDeps } from '../../../activities/deps';
import { createKeyring } from '../../../infra/codec/keyring';
import type { ChangeEvent } from '../../../domain/core/changeEvent';
import type { PipelineEvent } from '../../../domain/core/pipelineEvent';
import type { EventEntry } from '../../../domain/publishing/eventEntry';
import { redactEvent } from '../../../domain/processing/redact';
import { transformChange } from '../../../domain/processing/transform';

/**
 * In-memory fakes of the AWS clients the activities use. Each implements only `send(command)`,
 * dispatching on the command's class name and reading `command.input`, for the commands and
 * expressions the activities send (anything else fails the test loudly).
 */

type Item = Record<string, unknown>;
// The fakes read plain JavaScript inputs, as the document client takes them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Input = Record<string, any>;
export interface Command {
  readonly input: object;
}
export interface SentCommand {
  name: string;
  input: Input;
}

const nameOf = (command: Command) => command.constructor.name;

/** The string attributes of an item as DynamoDB marshals them (what a condition failure returns). */
function marshalledStrings(item: Item): Record<string, { S: string }> {
  return Object.fromEntries(
    Object.entries(item)
      .filter(([, v]) => typeof v === 'string')
      .map(([k, v]) => [k, { S: v as string }]),
  );
}

function conditionFailed(): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
}

/** An AWS-style error, classified by its name like the SDK's. */
export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

/** DynamoDB tables in memory, keyed by `pk`, evaluating the activities' condition and update expressions. */
export class FakeDynamo {
  readonly tables = new Map<string, Map<string, Item>>();
  readonly sent: SentCommand[] = [];
  /** Runs before each command is applied: may delay it or throw to fail it. */
  before: (command: SentCommand) => Promise<void> | void = () => undefined;
  /** BatchGetItem answers at most this many keys per request and leaves the rest unprocessed. */
  batchGetLimit = Infinity;

  async send(command: Command): Promise<unknown> {
    const sent = { name: nameOf(command), input: command.input as Input };
    this.sent.push(sent);
    await this.before(sent);
    switch (sent.name) {
      case 'PutCommand':
        return this.put(sent.input);
      case 'GetCommand':
        return { Item: this.item(sent.input.TableName, sent.input.Key.pk) };
      case 'UpdateCommand':
        return this.update(sent.input);
      case 'BatchGetCommand':
        return this.batchGet(sent.input);
      default:
        throw new Error(`FakeDynamo: ${sent.name} is not faked`);
    }
  }

  table(name: string): Map<string, Item> {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Map()));
    return t;
  }

  item(table: string, pk: string): Item | undefined {
    const found = this.table(table).get(pk);
    return found && structuredClone(found);
  }

  count(name: string): number {
    return this.sent.filter((c) => c.name === name).length;
  }

  private put(input: Input): object {
    const { TableName, Item: item, ConditionExpression, ExpressionAttributeValues } = input;
    const current = this.table(TableName).get(item.pk);
    if (
      ConditionExpression &&
      !holds(ConditionExpression, current, ExpressionAttributeValues ?? {}, input.ExpressionAttributeNames)
    ) {
      const err = conditionFailed();
      // As DynamoDB: the held item comes back (marshalled) when asked for.
      if (input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && current)
        Object.assign(err, { Item: marshalledStrings(current) });
      throw err;
    }
    this.table(TableName).set(item.pk, structuredClone(item));
    return input.ReturnValues === 'ALL_OLD' && current ? { Attributes: structuredClone(current) } : {};
  }

  private update(input: Input): object {
    const { TableName, Key, ConditionExpression, ExpressionAttributeValues: values = {} } = input;
    const current = this.table(TableName).get(Key.pk);
    if (ConditionExpression && !holds(ConditionExpression, current, values, input.ExpressionAttributeNames))
      throw conditionFailed();
    const next = applyUpdate(
      structuredClone(current ?? { ...Key }),
      input.UpdateExpression,
      input.ExpressionAttributeNames ?? {},
      values,
    );
    this.table(TableName).set(Key.pk, next);
    return input.ReturnValues === 'ALL_NEW' ? { Attributes: structuredClone(next) } : {};
  }

  private batchGet(input: Input): object {
    const Responses: Record<string, Item[]> = {};
    const UnprocessedKeys: Record<string, Input> = {};
    for (const [table, request] of Object.entries(input.RequestItems as Record<string, Input>)) {
      const keys = request.Keys as { pk: string }[];
      const answered = keys.slice(0, this.batchGetLimit);
      Responses[table] = answered.map((k) => this.item(table, k.pk)).filter((i) => i !== undefined);
      if (keys.length > answered.length)
        UnprocessedKeys[table] = { ...request, Keys: keys.slice(answered.length) };
    }
    return { Responses, UnprocessedKeys };
  }
}

/** `attribute_not_exists(a) OR b < :v` and `attribute_not_exists(a) OR #b = :v`, the condition forms the activities use. */
function holds(expression: string, item: Item | undefined, values: Input, names: Input = {}): boolean {
  const m = /^attribute_not_exists\((\w+)\) OR (#?\w+) (<|=) (:\w+)$/.exec(expression);
  if (!m) throw new Error(`FakeDynamo: condition not faked: ${expression}`);
  const [, absent, attrName, op, value] = m;
  const attr = attrName.startsWith('#') ? (names[attrName] as string) : attrName;
  if (item?.[absent] === undefined) return true;
  if (op === '=') return item[attr] === values[value];
  return (item[attr] as string) < (values[value] as string);
}

/** `SET a = :x, #b = if_not_exists(b, :y) ADD c :n`. */
function applyUpdate(item: Item, expression: string, names: Input, values: Input): Item {
  const m = /^SET (.+?)(?: ADD (\w+) (:\w+))?$/.exec(expression);
  if (!m) throw new Error(`FakeDynamo: update not faked: ${expression}`);
  const [, sets, addAttr, addValue] = m;
  const attr = (n: string) => (n.startsWith('#') ? (names[n] as string) : n);
  for (const assignment of sets.split(/,\s*(?![^(]*\))/)) {
    const [lhs, rhs] = assignment.split(/\s*=\s*/);
    const ifNotExists = /^if_not_exists\((#?\w+),\s*(:\w+)\)$/.exec(rhs);
    if (ifNotExists) item[attr(lhs)] ??= values[ifNotExists[2]];
    else if (/^:\w+$/.test(rhs)) item[attr(lhs)] = values[rhs];
    else throw new Error(`FakeDynamo: assignment not faked: ${assignment}`);
  }
  if (addAttr) item[addAttr] = ((item[addAttr] as number | undefined) ?? 0) + (values[addValue] as number);
  return item;
}

/** An EventBridge bus that keeps what it accepted; entries fail on demand. */
export class FakeEventBridge {
  readonly accepted: EventEntry[] = [];
  readonly requests: EventEntry[][] = [];
  /** The error code for an entry in a request, or undefined to accept it. */
  failEntry: (entry: EventEntry, request: number) => string | undefined = () => undefined;

  async send(command: Command): Promise<unknown> {
    if (nameOf(command) !== 'PutEventsCommand') throw new Error(`FakeEventBridge: ${nameOf(command)}`);
    const entries = (command.input as { Entries: EventEntry[] }).Entries;
    this.requests.push(entries);
    const results = entries.map((entry) => {
      const code = this.failEntry(entry, this.requests.length);
      if (code) return { ErrorCode: code, ErrorMessage: `${code} (fake)` };
      this.accepted.push(entry);
      return { EventId: `fake-${this.accepted.length}` };
    });
    return { Entries: results, FailedEntryCount: results.filter((r) => r.ErrorCode).length };
  }

  /** Accepted entries whose detail type starts with `alert.`. */
  alerts(): EventEntry[] {
    return this.accepted.filter((e) => e.DetailType.startsWith('alert.'));
  }
}

/** A Kinesis client whose `send` is the given function. */
export class FakeKinesis {
  readonly sent: SentCommand[] = [];
  constructor(private readonly respond: (command: SentCommand) => Promise<unknown> | unknown) {}
  async send(command: Command): Promise<unknown> {
    const sent = { name: nameOf(command), input: command.input as Input };
    this.sent.push(sent);
    return this.respond(sent);
  }
}

/** An S3 bucket store in memory: PutObject and GetObject; `before` may delay or fail a command. */
export class FakeS3 {
  readonly objects = new Map<string, { body: Buffer; input: Input }>();
  readonly sent: SentCommand[] = [];
  before: (command: SentCommand) => Promise<void> | void = () => undefined;

  async send(command: Command): Promise<unknown> {
    const sent = { name: nameOf(command), input: command.input as Input };
    this.sent.push(sent);
    await this.before(sent);
    const id = `${sent.input.Bucket}/${sent.input.Key}`;
    switch (sent.name) {
      case 'PutObjectCommand':
        this.objects.set(id, { body: Buffer.from(sent.input.Body as Uint8Array), input: sent.input });
        return {};
      case 'GetObjectCommand': {
        const o = this.objects.get(id);
        if (!o) throw awsError('NoSuchKey');
        return { Body: { transformToByteArray: async () => new Uint8Array(o.body) } };
      }
      default:
        throw new Error(`FakeS3: ${sent.name} is not faked`);
    }
  }

  object(bucket: string, key: string): Buffer | undefined {
    return this.objects.get(`${bucket}/${key}`)?.body;
  }
}

export interface Fakes {
  doc: FakeDynamo;
  events: FakeEventBridge;
  kinesis: FakeKinesis;
  s3: FakeS3;
  /** What `createActivities(config, io)` takes. */
  io: Omit<ActivityDeps, 'config'>;
}

/** A fixed payload keyring for unit tests (dead letters are encrypted at rest). */
export const TEST_KEYRING = createKeyring([{ id: 'test-key', key: Buffer.alloc(32, 7) }]);

export function fakes(kinesis = new FakeKinesis(() => Promise.reject(new Error('no Kinesis here')))): Fakes {
  const doc = new FakeDynamo();
  const events = new FakeEventBridge();
  const s3 = new FakeS3();
  return {
    doc,
    events,
    kinesis,
    s3,
    io: {
      aws: {
        doc: doc as unknown as DynamoDBDocumentClient,
        events: events as unknown as EventBridgeClient,
        kinesis: kinesis as unknown as KinesisClient,
        s3: s3 as unknown as S3Client,
      },
      pg: () => {
        throw new Error('no PostgreSQL in unit tests');
      },
      keyring: TEST_KEYRING,
    },
  };
}

/** A transformed and redacted change of one inventory row, at LSN 0/<lsn>. */
export function inventoryChange(p: {
  op: ChangeEvent['op'];
  sku: string;
  warehouse?: number;
  lsn: number;
  index?: number;
  sequenceNumber?: string;
  before?: { on_hand: number; reserved: number; low_stock_threshold?: number } | null;
  after?: { on_hand: number; reserved: number; low_stock_threshold?: number } | null;
}): PipelineEvent {
  const key = { sku: p.sku, warehouse_id: p.warehouse ?? 1 };
  const image = (q: typeof p.after) => (q ? { ...key, low_stock_threshold: 10, ...q } : null);
  const change: ChangeEvent = {
    source: {
      db: 'inventory',
      schema: 'public',
      table: 'inventory',
      lsn: `0/${p.lsn.toString(16).toUpperCase()}`,
      commitTs: new Date(1_790_000_000_000 + p.lsn).toISOString(),
      index: p.index ?? 0,
    },
    op: p.op,
    key,
    before: image(p.before ?? null),
    after: p.op === 'd' ? null : image(p.after ?? { on_hand: 100, reserved: 0 }),
  };
  const position = { shardId: 'shardId-000000000000', sequenceNumber: p.sequenceNumber ?? String(p.lsn) };
  return redactEvent(transformChange(change, position), { secret: 'secret-for-tests', keyId: 'test' });
}
