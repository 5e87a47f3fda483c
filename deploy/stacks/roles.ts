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
  const { pipeline } = config;
  const region = Stack.of(scope).region;
  const via = (...services: string[]) => ({
    StringEquals: { 'kms:ViaService': services.map((s) => `${s}.${region}.amazonaws.com`) },
  });
  const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
    new iam.PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) });
  const tables = Object.values(r.tables);
  const tableArns = tables.map((t) => t.tableArn);
  const stream = r.stream.streamArn;
  const key = r.key.keyArn;
  const bucket = r.bucket;
  const secrets = [r.secrets.payloadKeys.secretArn, r.secrets.redaction.secretArn];
  const rules = r.events.rules.map((rule) => rule.attrArn);
  const queueArns = [...r.events.queues.values()].map((q) => q.queueArn);
  const dlqArns = [...r.events.deadLetterQueues.values()].map((q) => q.queueArn);
  const captureObjects = objectsUnder(bucket, deadLetterObjectPrefix.capture(pipeline.slot));
  // GetObject of a missing key answers 404 (not 403) only with ListBucket: kept batches look for theirs.
  const listBucket = allow(['s3:ListBucket'], [bucket.bucketArn]);
  const decryptSecrets = allow(['secretsmanager:GetSecretValue'], secrets);

  const consumer = new iam.ManagedPolicy(scope, 'ConsumerPolicy', {
    description: 'CDC worker: shard readers, redrives, backfills of its consumers',
    statements: [
      allow(
        [
          'kinesis:DescribeStreamSummary',
          'kinesis:ListShards',
          'kinesis:GetShardIterator',
          'kinesis:GetRecords',
        ],
        [stream],
      ),
      allow(
        [
          'dynamodb:DescribeTable',
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:Scan',
        ],
        tableArns,
      ),
      allow(['events:PutEvents', 'events:DescribeEventBus'], [r.events.bus.eventBusArn]),
      allow(
        ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        config.consumers.flatMap((c) => [
          objectsUnder(bucket, `${KEPT_BATCHES_PREFIX}${c}/`),
          objectsUnder(bucket, deadLetterObjectPrefix.shards(c, pipeline.stream)),
        ]),
      ),
      // Redrives read the raw records capture parked.
      allow(['s3:GetObject'], [captureObjects]),
      listBucket,
      decryptSecrets,
      allow(
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
    ],
  });

  const capture = new iam.ManagedPolicy(scope, 'CapturePolicy', {
    description: 'CDC capture: PutRecords, its source epoch and dead letters, the database',
    statements: [
      allow(['kinesis:PutRecords', 'kinesis:DescribeStreamSummary'], [stream]),
      // Its alerts (dead letters, replication lag), once each (alert markers in the state table).
      allow(['events:PutEvents'], [r.events.bus.eventBusArn]),
      allow(['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem'], [r.tables.state.tableArn]),
      allow(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], [r.tables.dlq.tableArn]),
      allow(['s3:GetObject', 's3:PutObject'], [captureObjects]),
      listBucket,
      decryptSecrets,
      allow(
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
      ...(config.rds
        ? [
            allow(
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
        ? [allow(['secretsmanager:GetSecretValue'], [config.databaseSecretArn])]
        : []),
    ],
  });

  const operator = new iam.ManagedPolicy(scope, 'OperatorPolicy', {
    description: 'CDC operator (cdc CLI): status, inspect, dead letters',
    statements: [
      allow(['kinesis:DescribeStreamSummary', 'kinesis:ListShards'], [stream]),
      allow(
        [
          'dynamodb:DescribeTable',
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:Query',
          'dynamodb:Scan',
        ],
        tableArns,
      ),
      allow(['dynamodb:PutItem', 'dynamodb:UpdateItem'], [r.tables.dlq.tableArn]),
      allow(['events:DescribeEventBus'], [r.events.bus.eventBusArn]),
      allow(['sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'], [...queueArns, ...dlqArns]),
      allow(['s3:GetObject'], [objectsUnder(bucket, DEAD_LETTERS_PREFIX)]),
      listBucket,
      // `cdc dlq show` opens sealed records with the payload keys.
      allow(['secretsmanager:GetSecretValue'], [r.secrets.payloadKeys.secretArn]),
      allow(
        ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        [key],
        via('kinesis', 'dynamodb', 's3', 'secretsmanager'),
      ),
    ],
  });

  const archive = Arn.format(
    { service: 'events', resource: 'archive', resourceName: eventArchive(pipeline.eventBus).name },
    Stack.of(scope),
  );
  const provisioner = new iam.ManagedPolicy(scope, 'ProvisionerPolicy', {
    description: 'CDC provisioner: what `cdc provision aws` calls, on these names only',
    statements: [
      allow(['kinesis:CreateStream', 'kinesis:DescribeStream', 'kinesis:DescribeStreamSummary'], [stream]),
      allow(['dynamodb:CreateTable', 'dynamodb:DescribeTable', 'dynamodb:UpdateTimeToLive'], tableArns),
      allow(
        ['events:CreateEventBus', 'events:DescribeEventBus', 'events:CreateArchive'],
        [r.events.bus.eventBusArn],
      ),
      allow(['events:PutRule', 'events:PutTargets', 'events:DescribeRule'], rules),
      allow(['events:CreateArchive', 'events:DescribeArchive'], [archive]),
      allow(
        ['sqs:CreateQueue', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SetQueueAttributes'],
        queueArns,
      ),
      allow(['s3:CreateBucket', 's3:ListBucket', 's3:PutBucketPublicAccessBlock'], [bucket.bucketArn]),
    ],
  });

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
