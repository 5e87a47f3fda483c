import { Arn, ArnFormat, Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { deadLetterObjectPrefix } from '../../domain/core/itemKeys';
import { eventArchive } from '../../infra/resourceDefinitions';
import type { DeployConfig } from '../config';
import { DEAD_LETTERS_PREFIX, KEPT_BATCHES_PREFIX } from './bucket';
import type { PipelineEvents } from './events';
import type { PipelineSecrets } from './secrets';
import type { PipelineTables } from './tables';

export interface RoleResources {
  key: kms.IKey;
  stream: kinesis.Stream;
  tables: PipelineTables;
  events: PipelineEvents;
  bucket: s3.Bucket;
  secrets: PipelineSecrets;
}

export interface PipelineRoles {
  worker: iam.Role;
  capture: iam.Role;
  operator: iam.Role;
  provisioner: iam.Role;
  /** The policies, by what they allow (attached to the roles above). */
  policies: Record<'consumer' | 'capture' | 'operator' | 'provisioner', iam.ManagedPolicy>;
}

/** Where a statement's objects sit in the DLQ bucket: `<bucket ARN>/<prefix>*`. */
const objectsUnder = (bucket: s3.IBucket, prefix: string) => `${bucket.bucketArn}/${prefix}*`;

/**
 * One role per way the pipeline is run, each with only what that code calls (the SDK calls are
 * listed in docs/deploy.md), on these resources' ARNs:
 * - worker: the consumers' shard readers, redrives and backfills (stream read, its tables, PutEvents
 *   on the bus, its prefixes of the DLQ bucket, the two secrets); and capture's permissions while
 *   the worker hosts capture (CDC_DEPLOY_WORKER_RUNS_CAPTURE, the default);
 * - capture: PutRecords on the stream, its alerts, its source-epoch item and dead letters, RDS IAM connect;
 * - operator (the `cdc` CLI): reads, and the dead-letter table read-write;
 * - provisioner: what `cdc provision aws` calls on these names.
 * KMS use is limited to the deployment's key through the services that hold data with it
 * (kms:ViaService).
 */
export function pipelineRoles(scope: Construct, config: DeployConfig, r: RoleResources): PipelineRoles {
  const g = grantsFor(scope, config, r);
  const consumer = consumerPolicy(scope, config, g);
  const capture = capturePolicy(scope, config, g);
  const operator = operatorPolicy(scope, g);
  const provisioner = provisionerPolicy(scope, config, g);
  const workerPrincipal = new iam.ServicePrincipal(config.workerService);
  const inAccount = new iam.AccountRootPrincipal();
  const role = (id: string, name: string, assumedBy: iam.IPrincipal, policies: iam.IManagedPolicy[]) =>
    new iam.Role(scope, id, {
      roleName: `${config.prefix}-pipeline-${name}-${Aws.REGION}`,
      description: `CDC pipeline ${config.prefix}: ${name}`,
      assumedBy,
      managedPolicies: policies,
    });
  return {
    worker: role(
      'WorkerRole',
      'worker',
      workerPrincipal,
      config.workerRunsCapture ? [consumer, capture] : [consumer],
    ),
    capture: role('CaptureRole', 'capture', workerPrincipal, [capture]),
    operator: role('OperatorRole', 'operator', inAccount, [operator]),
    provisioner: role('ProvisionerRole', 'provisioner', inAccount, [provisioner]),
    policies: { consumer, capture, operator, provisioner },
  };
}

/** What every policy is made of: the resources' ARNs and the statement helpers. */
interface Grants {
  r: RoleResources;
  allow(actions: string[], resources: string[], conditions?: Record<string, unknown>): iam.PolicyStatement;
  via(...services: string[]): Record<string, unknown>;
  tableArns: string[];
  stream: string;
  key: string;
  bucket: s3.Bucket;
  rules: string[];
  queueArns: string[];
  dlqArns: string[];
  captureObjects: string;
  /** GetObject of a missing key answers 404 (not 403) only with ListBucket: kept batches look for theirs. */
  listBucket: iam.PolicyStatement;
  decryptSecrets: iam.PolicyStatement;
  /** The deployment's key, through the services that hold data with it. */
  useKey: iam.PolicyStatement;
}

function grantsFor(scope: Construct, config: DeployConfig, r: RoleResources): Grants {
  const region = Stack.of(scope).region;
  const via = (...services: string[]) => ({
    StringEquals: { 'kms:ViaService': services.map((s) => `${s}.${region}.amazonaws.com`) },
  });
  const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
    new iam.PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) });
  const key = r.key.keyArn;
  return {
    r,
    allow,
    via,
    tableArns: Object.values(r.tables).map((t) => t.tableArn),
    stream: r.stream.streamArn,
    key,
    bucket: r.bucket,
    rules: r.events.rules.map((rule) => rule.attrArn),
    queueArns: [...r.events.queues.values()].map((q) => q.queueArn),
    dlqArns: [...r.events.deadLetterQueues.values()].map((q) => q.queueArn),
    captureObjects: objectsUnder(r.bucket, deadLetterObjectPrefix.capture(config.pipeline.slot)),
    listBucket: allow(['s3:ListBucket'], [r.bucket.bucketArn]),
    decryptSecrets: allow(
      ['secretsmanager:GetSecretValue'],
      [r.secrets.payloadKeys.secretArn, r.secrets.redaction.secretArn],
    ),
    useKey: allow(
      [
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
        'kms:DescribeKey',
      ],
      [key],
      via('kinesis', 'dynamodb', 's3', 'secretsmanager'),
    ),
  };
}

/** The worker's shard readers, redrives and backfills of its consumers. */
function consumerPolicy(scope: Construct, config: DeployConfig, g: Grants): iam.ManagedPolicy {
  return new iam.ManagedPolicy(scope, 'ConsumerPolicy', {
    description: 'CDC worker: shard readers, redrives, backfills of its consumers',
    statements: [
      g.allow(
        [
          'kinesis:DescribeStreamSummary',
          'kinesis:ListShards',
          'kinesis:GetShardIterator',
          'kinesis:GetRecords',
        ],
        [g.stream],
      ),
      g.allow(
        [
          'dynamodb:DescribeTable',
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:Scan',
        ],
        g.tableArns,
      ),
      g.allow(['events:PutEvents', 'events:DescribeEventBus'], [g.r.events.bus.eventBusArn]),
      g.allow(
        ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        config.consumers.flatMap((c) => [
          objectsUnder(g.bucket, `${KEPT_BATCHES_PREFIX}${c}/`),
          objectsUnder(g.bucket, deadLetterObjectPrefix.shards(c, config.pipeline.stream)),
        ]),
      ),
      // Redrives read the raw records capture parked.
      g.allow(['s3:GetObject'], [g.captureObjects]),
      g.listBucket,
      g.decryptSecrets,
      g.useKey,
    ],
  });
}

/** Capture: PutRecords, its alerts, its source epoch and dead letters, the database. */
function capturePolicy(scope: Construct, config: DeployConfig, g: Grants): iam.ManagedPolicy {
  return new iam.ManagedPolicy(scope, 'CapturePolicy', {
    description: 'CDC capture: PutRecords, its source epoch and dead letters, the database',
    statements: [
      g.allow(['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'], [g.stream]),
      // Its alerts (dead letters, replication lag), once each (alert markers in the state table).
      g.allow(['events:PutEvents'], [g.r.events.bus.eventBusArn]),
      g.allow(
        ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem'],
        [g.r.tables.state.tableArn],
      ),
      g.allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [g.r.tables.dlq.tableArn]),
      g.allow(['s3:GetObject', 's3:PutObject'], [g.captureObjects]),
      g.listBucket,
      g.decryptSecrets,
      g.useKey,
      ...(config.rds
        ? [
            g.allow(
              ['rds-db:connect'],
              [
                Arn.format(
                  {
                    service: 'rds-db',
                    resource: 'dbuser',
                    resourceName: `${config.rds.resourceId}/${config.rds.dbUser}`,
                    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
                  },
                  Stack.of(scope),
                ),
              ],
            ),
          ]
        : []),
      ...(config.databaseSecretArn
        ? [g.allow(['secretsmanager:GetSecretValue'], [config.databaseSecretArn])]
        : []),
    ],
  });
}

/** The operator's `cdc`: status, inspect, dead letters. */
function operatorPolicy(scope: Construct, g: Grants): iam.ManagedPolicy {
  return new iam.ManagedPolicy(scope, 'OperatorPolicy', {
    description: 'CDC operator (cdc CLI): status, inspect, dead letters',
    statements: [
      g.allow(['kinesis:DescribeStreamSummary', 'kinesis:ListShards'], [g.stream]),
      g.allow(
        [
          'dynamodb:DescribeTable',
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:Query',
          'dynamodb:Scan',
        ],
        g.tableArns,
      ),
      g.allow(['dynamodb:PutItem', 'dynamodb:UpdateItem'], [g.r.tables.dlq.tableArn]),
      g.allow(['events:DescribeEventBus'], [g.r.events.bus.eventBusArn]),
      g.allow(
        ['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        [...g.queueArns, ...g.dlqArns],
      ),
      g.allow(['s3:GetObject'], [objectsUnder(g.bucket, DEAD_LETTERS_PREFIX)]),
      g.listBucket,
      // `cdc dlq show` opens sealed records with the payload keys.
      g.allow(['secretsmanager:GetSecretValue'], [g.r.secrets.payloadKeys.secretArn]),
      g.allow(
        ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        [g.key],
        g.via('kinesis', 'dynamodb', 's3', 'secretsmanager'),
      ),
    ],
  });
}

/** What `cdc provision aws` calls, on these names only. */
function provisionerPolicy(scope: Construct, config: DeployConfig, g: Grants): iam.ManagedPolicy {
  const archive = Arn.format(
    { service: 'events', resource: 'archive', resourceName: eventArchive(config.pipeline.eventBus).name },
    Stack.of(scope),
  );
  return new iam.ManagedPolicy(scope, 'ProvisionerPolicy', {
    description: 'CDC provisioner: what `cdc provision aws` calls, on these names only',
    statements: [
      g.allow(
        ['kinesis:CreateStream', 'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary'],
        [g.stream],
      ),
      g.allow(['dynamodb:CreateTable', 'dynamodb:DescribeTable', 'dynamodb:UpdateTimeToLive'], g.tableArns),
      g.allow(
        ['events:CreateEventBus', 'events:DescribeEventBus', 'events:CreateArchive'],
        [g.r.events.bus.eventBusArn],
      ),
      g.allow(['events:PutRule', 'events:PutTargets', 'events:DescribeRule'], g.rules),
      g.allow(['events:CreateArchive', 'events:DescribeArchive'], [archive]),
      g.allow(
        ['sqs:CreateQueue', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SetQueueAttributes'],
        g.queueArns,
      ),
      g.allow(['s3:CreateBucket', 's3:ListBucket', 's3:PutBucketPublicAccessBlock'], [g.bucket.bucketArn]),
    ],
  });
}
