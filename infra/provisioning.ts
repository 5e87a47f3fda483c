import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateArchiveCommand,
  CreateEventBusCommand,
  DeleteArchiveCommand,
  DeleteEventBusCommand,
  DeleteRuleCommand,
  RemoveTargetsCommand,
  DescribeEventBusCommand,
  PutRuleCommand,
  PutTargetsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException as EventsNotFound,
} from '@aws-sdk/client-eventbridge';
import {
  CreateStreamCommand,
  ResourceInUseException as KinesisInUse,
  waitUntilStreamExists,
} from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import type { Client } from 'pg';
import { pgClient } from './pgConnection';
import { HEARTBEAT_TABLE } from '../domain/capture/walChange';
import { deadLetterObjectPrefix } from '../domain/core/itemKeys';
import { configuredTables } from '../domain/core/tables';
import { awsClients } from './aws';
import type { PipelineConfig } from './config';
import { ConfigurationError } from '../domain/core/errors';
import { checkSchema, enforceSchemaReport, readCatalog } from './schemaCheck';
import { planSource, type SourcePlan, type SourceState } from './sourcePlan';
import { eventArchive, TABLE_PARTITION_KEY, TTL_ATTRIBUTE } from './resourceDefinitions';

/**
 * Provisioning as code, idempotent, the same for the local emulators and real AWS (the SDK's
 * endpoint configuration decides which): Kinesis stream, DynamoDB tables, EventBridge bus with
 * its rules, SQS targets and archive, the DLQ bucket, and the PostgreSQL schema, publication and slot.
 */

export async function provisionKinesis(config: PipelineConfig): Promise<void> {
  const { kinesis } = awsClients();
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: config.stream, ShardCount: config.shardCount }));
  } catch (err) {
    if (!(err instanceof KinesisInUse)) throw err;
  }
  await waitUntilStreamExists(
    { client: kinesis, maxWaitTime: 60, minDelay: 1 },
    { StreamName: config.stream },
  );
}

export async function provisionDynamo(config: PipelineConfig): Promise<void> {
  const { dynamo } = awsClients();
  // `ttl` (epoch seconds): tombstones in the entity tables, alert markers in the state table, dead
  // letters at the end of their redrive window (CDC_DLQ_REDRIVE_WINDOW_DAYS).
  const withTtl = new Set([
    config.tables.entities,
    config.tables.inventory,
    config.tables.state,
    config.tables.dlq,
  ]);
  await Promise.all(
    Object.values(config.tables).map(async (TableName) => {
      try {
        await dynamo.send(
          new CreateTableCommand({
            TableName,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: TABLE_PARTITION_KEY.name, AttributeType: TABLE_PARTITION_KEY.type },
            ],
            KeySchema: [{ AttributeName: TABLE_PARTITION_KEY.name, KeyType: 'HASH' }],
          }),
        );
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw err;
      }
      await waitUntilTableExists({ client: dynamo, maxWaitTime: 60, minDelay: 1 }, { TableName });
      if (withTtl.has(TableName)) {
        const desc = await dynamo.send(new DescribeTableCommand({ TableName }));
        if (desc.Table) {
          await dynamo
            .send(
              new UpdateTimeToLiveCommand({
                TableName,
                TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
              }),
            )
            .catch((err: Error) => {
              if (!/already enabled/i.test(err.message)) throw err;
            });
        }
      }
    }),
  );
}

/** Target IDs on each rule: the consumers' queue (as the design documents specify), the live board's copy. */
export const QUEUE_TARGET_ID = 'queue';
export const BOARD_TARGET_ID = 'board';
/**
 * Retention of the board's queues (SQS's default is 4 days): a board starts empty and learns rows
 * as they change, so an hour of backlog is plenty, and a copy nobody reads does not pile up.
 */
export const BOARD_QUEUE_RETENTION_SECONDS = 3600;

/**
 * SQS targets and the rules that feed them (event patterns from the design documents), named after
 * the bus. `queues` are the consumers' (each rule's first target, id `queue`); `boardQueues` are
 * the live wallboard's own (wallboard/, docs/wallboard.md): a second target on each rule (id
 * `board`), `<rule's queue>-board`, so the board's receives take nothing from the consumers.
 */
export function eventRouting(bus: string) {
  const queues = {
    wallboardUsers: `${bus}-wallboard-users`,
    wallboardOrders: `${bus}-wallboard-orders`,
    inventory: `${bus}-inventory-events`,
    alerts: `${bus}-alerts`,
  };
  const boardQueues: typeof queues = {
    wallboardUsers: `${queues.wallboardUsers}-board`,
    wallboardOrders: `${queues.wallboardOrders}-board`,
    inventory: `${queues.inventory}-board`,
    alerts: `${queues.alerts}-board`,
  };
  const rules = [
    {
      name: `${bus}-wallboard-users`,
      pattern: { source: ['cdc-pipeline.users'] },
      queue: queues.wallboardUsers,
      boardQueue: boardQueues.wallboardUsers,
    },
    {
      name: `${bus}-wallboard-orders`,
      pattern: { source: ['cdc-pipeline.orders'] },
      queue: queues.wallboardOrders,
      boardQueue: boardQueues.wallboardOrders,
    },
    {
      name: `${bus}-inventory-realtime`,
      pattern: { source: ['cdc-pipeline.inventory', 'cdc-pipeline.reservations'] },
      queue: queues.inventory,
      boardQueue: boardQueues.inventory,
    },
    {
      name: `${bus}-alerts`,
      pattern: { 'detail-type': [{ prefix: 'alert.' }] },
      queue: queues.alerts,
      boardQueue: boardQueues.alerts,
    },
  ];
  return { queues, boardQueues, rules };
}

export async function queueUrl(name: string): Promise<string> {
  const out = await awsClients().sqs.send(new CreateQueueCommand({ QueueName: name }));
  return out.QueueUrl!;
}

export async function provisionEvents(config: PipelineConfig): Promise<void> {
  const { events, sqs } = awsClients();
  let busArn: string;
  try {
    busArn = (await events.send(new DescribeEventBusCommand({ Name: config.eventBus }))).Arn!;
  } catch (err) {
    if (!(err instanceof EventsNotFound)) throw err;
    try {
      busArn = (await events.send(new CreateEventBusCommand({ Name: config.eventBus }))).EventBusArn!;
    } catch (created) {
      // A CreateEventBus that timed out but succeeded, then retried: the bus is there.
      if ((created as Error)?.name !== 'ResourceAlreadyExistsException') throw created;
      busArn = (await events.send(new DescribeEventBusCommand({ Name: config.eventBus }))).Arn!;
    }
  }
  for (const rule of eventRouting(config.eventBus).rules) {
    const ruleArn = (
      await events.send(
        new PutRuleCommand({
          Name: rule.name,
          EventBusName: config.eventBus,
          EventPattern: JSON.stringify(rule.pattern),
          State: 'ENABLED',
        }),
      )
    ).RuleArn!;
    // Each target queue: created, and open to this rule's deliveries (on real AWS; the emulator
    // ignores the policy). The board's copy keeps its messages for a short while only.
    const target = async (Id: string, queue: string, attributes: Record<string, string> = {}) => {
      const url = await queueUrl(queue);
      const arn = (
        await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))
      ).Attributes!.QueueArn!;
      await sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: url,
          Attributes: {
            ...attributes,
            Policy: JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Principal: { Service: 'events.amazonaws.com' },
                  Action: 'sqs:SendMessage',
                  Resource: arn,
                  Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
                },
              ],
            }),
          },
        }),
      );
      return { Id, Arn: arn };
    };
    await events.send(
      new PutTargetsCommand({
        Rule: rule.name,
        EventBusName: config.eventBus,
        Targets: [
          await target(QUEUE_TARGET_ID, rule.queue),
          await target(BOARD_TARGET_ID, rule.boardQueue, {
            MessageRetentionPeriod: String(BOARD_QUEUE_RETENTION_SECONDS),
          }),
        ],
      }),
    );
  }
  const archive = eventArchive(config.eventBus);
  try {
    await events.send(
      new CreateArchiveCommand({
        ArchiveName: archive.name,
        EventSourceArn: busArn,
        EventPattern: JSON.stringify(archive.pattern),
        RetentionDays: archive.retentionDays,
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceAlreadyExistsException)) throw err;
  }
}

/**
 * Every captured table needs a primary key: it keys the Kinesis partition, the DynamoDB item and
 * the event ID, and PostgreSQL refuses updates and deletes on a published table without one.
 * Provisioning runs the full schema check (infra/schemaCheck.ts), which includes this; this
 * narrower check by table name stays for callers without a table configuration.
 */
export async function assertPrimaryKeys(db: Client, schema: string, tables: string[]): Promise<void> {
  const catalog = await readCatalog(db, schema, tables);
  const names = tables.filter((t) => catalog.get(t)?.primaryKey.length === 0).map((t) => `${schema}.${t}`);
  if (names.length)
    throw new ConfigurationError(
      `table ${names.join(', ')} has no primary key; CDC needs one to key partitions, items and event IDs`,
    );
}

/**
 * The local stack's demo database: the database if missing, the configured schema, and the shipped
 * tables (infra/schema.sql). Never run against a user's database: `cdc provision` runs it only when
 * PostgreSQL is the local stack's (`cdc provision source` never creates a database or a table).
 */
export async function provisionDemoSchema(config: PipelineConfig): Promise<void> {
  const database = process.env.PGDATABASE ?? 'postgres';
  const admin = pgClient({ database: 'postgres' });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  const db = pgClient();
  await db.connect();
  try {
    const schema = `"${config.pgSchema}"`;
    const hasSchema = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [config.pgSchema]);
    if (hasSchema.rowCount === 0) await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`SET search_path TO ${schema}`);
    try {
      await db.query(readFileSync(join(__dirname, 'schema.sql'), 'utf8'));
    } finally {
      await db.query('RESET search_path');
    }
  } finally {
    await db.end();
  }
}

/** What the user's database holds of what `cdc provision source` manages (read-only). */
export async function readSourceState(db: Client, config: PipelineConfig): Promise<SourceState> {
  const tables = [...configuredTables().values()];
  const who = await db.query<{ user: string; database: string; rds: boolean }>(
    `SELECT current_user AS user, current_database() AS database,
            EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication') AS rds`,
  );
  const rel = await db.query<{ table: string; ident: string; owner: string }>(
    `SELECT c.relname AS table, c.relreplident AS ident, pg_get_userbyid(c.relowner) AS owner
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY($2)`,
    [config.pgSchema, [...tables.map((t) => t.table), HEARTBEAT_TABLE]],
  );
  const byName = new Map(rel.rows.map((r) => [r.table, r]));
  const pub = await db.query<{ name: string | null }>(
    `SELECT pt.schemaname || '.' || pt.tablename AS name
       FROM pg_publication p LEFT JOIN pg_publication_tables pt ON pt.pubname = p.pubname
      WHERE p.pubname = $1`,
    [config.publication],
  );
  const slot = await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [config.slot]);
  return {
    database: who.rows[0]!.database,
    user: who.rows[0]!.user,
    schema: config.pgSchema,
    rds: who.rows[0]!.rds,
    tables: tables.map((t) => ({
      table: t.table,
      fullBeforeImage: t.fullBeforeImage,
      replicaIdentity: byName.get(t.table)?.ident ?? '?',
      owner: byName.get(t.table)?.owner ?? '?',
    })),
    heartbeatExists: byName.has(HEARTBEAT_TABLE),
    publicationTables: pub.rowCount ? pub.rows.flatMap((r) => (r.name ? [r.name] : [])) : undefined,
    slotExists: (slot.rowCount ?? 0) > 0,
  };
}

/**
 * The user's database under CDC (`cdc provision source`): the schema check against the table file
 * (errors throw one ConfigurationError listing every problem, e.g. a missing table; warnings go to
 * `log`), then the plan of infra/sourcePlan.ts: the heartbeat table, REPLICA IDENTITY of the
 * configured tables, the publication and the slot, each only where it differs. With `dryRun`,
 * nothing runs: the plan is returned (statements and the grants they need).
 */
export async function provisionSource(
  config: PipelineConfig,
  opts: { dryRun?: boolean; log?: (line: string) => void } = {},
): Promise<SourcePlan> {
  const log = opts.log ?? (() => {});
  const db = pgClient();
  await db.connect();
  try {
    const state = await readSourceState(db, config);
    // A table the table file names but the database lacks is an error here (never created).
    enforceSchemaReport(await checkSchema(db, config.pgSchema), log);
    const plan = planSource(state, {
      publication: config.publication,
      slot: config.slot,
      heartbeatTable: HEARTBEAT_TABLE,
    });
    if (opts.dryRun) return plan;
    for (const sql of plan.statements) await db.query(sql);
    return plan;
  } finally {
    await db.end();
  }
}

/** The local stack's PostgreSQL: the demo schema, then the source as `cdc provision source` sets it up. */
export async function provisionPostgres(
  config: PipelineConfig,
  log: (line: string) => void = () => {},
): Promise<void> {
  await provisionDemoSchema(config);
  await provisionSource(config, { log });
}

/**
 * The DLQ bucket: raw records too large to keep in their DLQ item (claim check). Private (public
 * access blocked); created in the client's region.
 */
export async function provisionDeadLetterBucket(config: PipelineConfig): Promise<void> {
  const { s3 } = awsClients();
  const Bucket = config.deadLetters.bucket;
  const exists = await s3.send(new HeadBucketCommand({ Bucket })).then(
    () => true,
    (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
      if (err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404) return false;
      if (err.$metadata?.httpStatusCode === 403)
        throw new ConfigurationError(
          `DLQ bucket ${Bucket} exists but is not accessible (bucket names are global: another account may own it); set CDC_DLQ_BUCKET to a name of your own`,
        );
      throw err;
    },
  );
  if (!exists) {
    const region = await s3.config.region();
    await s3
      .send(
        new CreateBucketCommand({
          Bucket,
          ...(region && region !== 'us-east-1'
            ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
            : {}),
        }),
      )
      .catch((err: Error) => {
        if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
      });
  }
  await s3.send(
    new PutPublicAccessBlockCommand({
      Bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        IgnorePublicAcls: true,
        BlockPublicPolicy: true,
        RestrictPublicBuckets: true,
      },
    }),
  );
}

/** Serializes concurrent runs of the analytics schema (CREATE … IF NOT EXISTS races in the catalog). */
const ANALYTICS_SCHEMA_LOCK = 0x63646361; // 'cdca'
/** SQLSTATEs of CREATE DATABASE: it exists (another run made it); template1 is busy (another CREATE DATABASE). */
const DUPLICATE_DATABASE = '42P04';
const OBJECT_IN_USE = '55006';

/**
 * The analytics consumer's database (`CDC_ANALYTICS_DATABASE`, on the server PG* names: locally
 * the stack's PostgreSQL, a stand-in for Redshift) and its tables (infra/analyticsSchema.sql):
 * created when missing, idempotent, safe to run from several processes at once.
 */
export async function provisionAnalytics(config: PipelineConfig): Promise<void> {
  const database = config.analyticsDatabase;
  const admin = pgClient({ database: 'postgres' });
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (exists.rowCount) break;
      try {
        // The name is a checked identifier (infra/config.ts: lower case, digits, '_').
        await admin.query(`CREATE DATABASE "${database}"`);
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === DUPLICATE_DATABASE) break;
        if (code !== OBJECT_IN_USE || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  const db = pgClient({ database });
  await db.connect();
  try {
    await db.query('SELECT pg_advisory_lock($1)', [ANALYTICS_SCHEMA_LOCK]);
    await db.query(readFileSync(join(__dirname, 'analyticsSchema.sql'), 'utf8'));
  } finally {
    await db.end(); // ends the session, and so the advisory lock
  }
}

/** The AWS resources (for those not using the CDK app in deploy/): stream, tables, bus, queues, bucket. */
export async function provisionAws(
  config: PipelineConfig,
  step: (name: string, fn: () => Promise<void>) => Promise<void> = (_n, fn) => fn(),
): Promise<void> {
  await Promise.all([
    step('kinesis', () => provisionKinesis(config)),
    step('dynamodb', () => provisionDynamo(config)),
    step('eventbridge', () => provisionEvents(config)),
    step('s3', () => provisionDeadLetterBucket(config)),
  ]);
}

/**
 * Everything at once: PostgreSQL (with `demoSchema`, the default for the jobs that run on the local
 * stack by design, the demo database and tables first; without, only `provisionSource`), the AWS
 * resources, and the analytics database where this worker's sink is it.
 */
export async function provisionAll(
  config: PipelineConfig,
  log: (line: string) => void = () => {},
  opts: { demoSchema?: boolean } = {},
): Promise<void> {
  const step = async (name: string, fn: () => Promise<void>) => {
    const t0 = Date.now();
    await fn();
    log(`${name.padEnd(11)} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  };
  const pgLog = (l: string) => log(`${'postgres'.padEnd(11)} ${l}`);
  await Promise.all([
    step('postgres', () =>
      opts.demoSchema === false
        ? provisionSource(config, { log: pgLog }).then(() => undefined)
        : provisionPostgres(config, pgLog),
    ),
    provisionAws(config, step),
    // Only a worker configured for the analytics sink needs its database (infra/consumers.ts
    // provisions each consumer of a deployment).
    ...(config.sink === 'analytics' ? [step('analytics', () => provisionAnalytics(config))] : []),
  ]);
}

/** Removes the bus with its rules, targets, archive and queues (test and benchmark clean-up). */
export async function deprovisionEvents(config: PipelineConfig): Promise<void> {
  const { events, sqs } = awsClients();
  const { rules } = eventRouting(config.eventBus);
  const ignore = () => undefined;
  for (const rule of rules) {
    // One target per call: a bus provisioned before the board's queues has no `board` target.
    for (const id of [QUEUE_TARGET_ID, BOARD_TARGET_ID])
      await events
        .send(new RemoveTargetsCommand({ Rule: rule.name, EventBusName: config.eventBus, Ids: [id] }))
        .catch(ignore);
    await events
      .send(new DeleteRuleCommand({ Name: rule.name, EventBusName: config.eventBus }))
      .catch(ignore);
    for (const QueueName of [rule.queue, rule.boardQueue]) {
      const url = await sqs.send(new GetQueueUrlCommand({ QueueName })).catch(ignore);
      if (url?.QueueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: url.QueueUrl })).catch(ignore);
    }
  }
  await events
    .send(new DeleteArchiveCommand({ ArchiveName: eventArchive(config.eventBus).name }))
    .catch(ignore);
  await events.send(new DeleteEventBusCommand({ Name: config.eventBus })).catch(ignore);
}

/**
 * Removes this pipeline's dead-letter objects (its consumer on its stream, its slot) from the DLQ
 * bucket (test and benchmark clean-up), and the bucket itself when `deleteBucket` is set. The
 * bucket is kept by default: its name comes from CDC_DLQ_BUCKET, which other pipelines on the same
 * account (or the same emulator) may share.
 */
export async function deprovisionDeadLetters(
  config: PipelineConfig,
  opts: { deleteBucket?: boolean } = {},
): Promise<void> {
  const { s3 } = awsClients();
  const Bucket = config.deadLetters.bucket;
  const prefixes = [
    deadLetterObjectPrefix.shards(config.consumer, config.stream),
    deadLetterObjectPrefix.capture(config.slot),
  ];
  try {
    for (const Prefix of opts.deleteBucket ? [''] : prefixes) {
      let ContinuationToken: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, ContinuationToken }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys } }));
        ContinuationToken = page.NextContinuationToken;
      } while (ContinuationToken);
    }
    if (opts.deleteBucket) await s3.send(new DeleteBucketCommand({ Bucket }));
  } catch (err) {
    if ((err as Error).name !== 'NoSuchBucket') throw err;
  }
}
