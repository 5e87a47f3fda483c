import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadDeployConfig, type DeployConfig } from '../../../deploy/config';
import { awsTargetRefusal } from '../../../infra/awsTarget';
import { keyringFromEnv } from '../../../infra/codec/keyring';
import { parsePgEnv } from '../../../infra/pgConnection';
import { BOARD_QUEUE_RETENTION_SECONDS, eventRouting } from '../../../infra/provisioning';
import { eventArchive, TABLE_PARTITION_KEY, TTL_ATTRIBUTE } from '../../../infra/resourceDefinitions';
import { checkWorkerEnvironment } from '../../../workers/worker';
import { FARGATE_ENV, removeSynthesized, synthTestApp, TEST_ENV } from './synth';

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };
type Statement = { Effect: string; Action?: string | string[]; NotAction?: unknown; Resource?: unknown };

/** Actions without resource-level permissions: the only ones a statement may grant on `*`. */
const NO_RESOURCE_LEVEL = ['ecr:GetAuthorizationToken'];

/** Every identity policy statement of a template: managed policies, inline policies, roles' own. */
function identityStatements(resources: Record<string, Resource>): { where: string; s: Statement }[] {
  const out: { where: string; s: Statement }[] = [];
  for (const [id, r] of Object.entries(resources)) {
    const docs: unknown[] =
      r.Type === 'AWS::IAM::ManagedPolicy' || r.Type === 'AWS::IAM::Policy'
        ? [r.Properties.PolicyDocument]
        : r.Type === 'AWS::IAM::Role'
          ? ((r.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map(
              (p) => p.PolicyDocument,
            )
          : [];
    for (const doc of docs)
      for (const s of (doc as { Statement: Statement[] }).Statement) out.push({ where: id, s });
  }
  return out;
}
const actionsOf = (s: Statement) => (s.Action === undefined ? [] : [s.Action].flat());

/** No `*` action, no NotAction, `*` as the resource only for actions that take no other. */
function assertNoWildcards(resources: Record<string, Resource>): void {
  const statements = identityStatements(resources);
  assert.ok(statements.length > 20, 'the roles have their statements');
  for (const { where, s } of statements) {
    assert.equal(s.NotAction, undefined, `${where}: NotAction`);
    for (const a of actionsOf(s)) assert.ok(!a.includes('*'), `${where}: action ${a}`);
    if ([s.Resource].flat().includes('*'))
      assert.ok(
        actionsOf(s).every((a) => NO_RESOURCE_LEVEL.includes(a)),
        `${where}: ${actionsOf(s).join(',')} on *`,
      );
  }
}

/**
 * The CDK app's template (deploy/): what the pipeline reads exists under the names it reads, and is
 * encrypted, retained, expiring and reachable as issue 22 asks; IAM allows no `*` action.
 */
describe('deploy: the CDK template (deploy/)', function () {
  this.timeout(60_000);
  let template: Template;
  let config: DeployConfig;
  let resources: Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  const keyRef = () => {
    const keys = ofType('AWS::KMS::Key');
    assert.equal(keys.length, 1, 'one customer managed key');
    return keys[0][0];
  };

  before(() => {
    const synth = synthTestApp();
    config = synth.config;
    template = Template.fromStack(synth.stack);
    resources = template.toJSON().Resources as Record<string, Resource>;
  });
  after(removeSynthesized);

  it('the stream has CDC_SHARD_COUNT shards, keeps records CDC_STREAM_RETENTION_HOURS and is encrypted with the customer key', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResource('AWS::Kinesis::Stream', {
      DeletionPolicy: 'Retain',
      Properties: {
        Name: config.pipeline.stream,
        ShardCount: 3,
        RetentionPeriodHours: Number(TEST_ENV.CDC_STREAM_RETENTION_HOURS),
        StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [keyRef(), 'Arn'] } },
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('a retention Kinesis does not offer is refused, naming the variable', () => {
    assert.throws(
      () => loadDeployConfig({ ...TEST_ENV, CDC_STREAM_RETENTION_HOURS: '12' }),
      /CDC_STREAM_RETENTION_HOURS: 12 is outside Kinesis's 24-8760 hours/,
    );
    assert.throws(
      () => loadDeployConfig({ ...TEST_ENV, CDC_DEPLOY_RDS_DB_USER: undefined }),
      /CDC_DEPLOY_RDS_RESOURCE_ID and CDC_DEPLOY_RDS_DB_USER go together/,
    );
  });

  it('the four tables are named as the pipeline reads them, with its key and TTL attribute, PITR, deletion protection and the key', () => {
    const names = Object.values(config.pipeline.tables);
    assert.deepEqual(names.sort(), ['cdc_dlq', 'cdc_entities', 'cdc_state', 'inventory_realtime']);
    template.resourceCountIs('AWS::DynamoDB::Table', 4);
    for (const TableName of names)
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        Properties: {
          TableName,
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [{ AttributeName: TABLE_PARTITION_KEY.name, KeyType: 'HASH' }],
          AttributeDefinitions: [
            { AttributeName: TABLE_PARTITION_KEY.name, AttributeType: TABLE_PARTITION_KEY.type },
          ],
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
          SSESpecification: {
            SSEEnabled: true,
            SSEType: 'KMS',
            KMSMasterKeyId: { 'Fn::GetAtt': [keyRef(), 'Arn'] },
          },
        },
      });
  });

  it('the rules are eventRouting’s (names, patterns, target ids) on the bus CDC_EVENT_BUS, and the archive is provisioning’s', () => {
    template.hasResourceProperties('AWS::Events::EventBus', { Name: config.pipeline.eventBus });
    const routing = eventRouting(config.pipeline.eventBus);
    template.resourceCountIs('AWS::Events::Rule', routing.rules.length);
    for (const rule of routing.rules)
      template.hasResourceProperties('AWS::Events::Rule', {
        Name: rule.name,
        EventPattern: rule.pattern,
        State: 'ENABLED',
        Targets: [Match.objectLike({ Id: 'queue' }), Match.objectLike({ Id: 'board' })],
      });
    const archive = eventArchive(config.pipeline.eventBus);
    template.hasResourceProperties('AWS::Events::Archive', {
      ArchiveName: archive.name,
      EventPattern: archive.pattern,
      RetentionDays: archive.retentionDays,
    });
  });

  it('every target queue has a dead-letter queue of its own; all are encrypted and refuse requests without TLS', () => {
    const routing = eventRouting(config.pipeline.eventBus);
    const byName = new Map(
      ofType('AWS::SQS::Queue').map(([id, r]) => [r.Properties.QueueName as string, id]),
    );
    const targets = [...Object.values(routing.queues), ...Object.values(routing.boardQueues)];
    const dlqs = new Set<string>();
    for (const name of targets) {
      const id = byName.get(name);
      assert.ok(id, `queue ${name} exists`);
      const props = resources[id].Properties;
      const redrive = props.RedrivePolicy as { deadLetterTargetArn: { 'Fn::GetAtt': [string, string] } };
      assert.ok(redrive, `queue ${name} has a dead-letter queue`);
      const dlq = redrive.deadLetterTargetArn['Fn::GetAtt'][0];
      assert.equal(resources[dlq].Properties.QueueName, `${name}-dlq`);
      assert.ok(!dlqs.has(dlq), `${name}'s dead-letter queue is its own`);
      dlqs.add(dlq);
      if (Object.values(routing.boardQueues).includes(name))
        assert.equal(props.MessageRetentionPeriod, BOARD_QUEUE_RETENTION_SECONDS);
    }
    assert.equal(
      byName.size,
      targets.length * 2,
      'the target queues and their dead-letter queues, nothing else',
    );
    for (const [id, r] of ofType('AWS::SQS::Queue')) {
      assert.equal(r.Properties.SqsManagedSseEnabled, true, `${id} is encrypted`);
      const policies = ofType('AWS::SQS::QueuePolicy').filter(([, p]) =>
        JSON.stringify(p.Properties.Queues).includes(`"${id}"`),
      );
      assert.ok(
        policies.some(([, p]) => JSON.stringify(p.Properties).includes('"aws:SecureTransport":"false"')),
        `${id} refuses requests without TLS`,
      );
    }
  });

  it('the DLQ bucket is KMS-encrypted, blocks public access, refuses plain HTTP, is versioned and expires its objects', () => {
    const bucket = {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [keyRef(), 'Arn'] },
            },
          }),
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ DestinationBucketName: Match.anyValue() }),
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'held-batches/', ExpirationInDays: 90, Status: 'Enabled' }),
          Match.objectLike({
            Prefix: 'dead-letters/',
            ExpirationInDays: config.pipeline.deadLetters.redriveWindowDays + 7,
          }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
        ]),
      },
    };
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain', Properties: bucket });
    for (const [id] of ofType('AWS::S3::Bucket')) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      assert.ok(resources[id].Properties.PublicAccessBlockConfiguration, `${id} blocks public access`);
    }
  });

  it('the payload keys and the redaction secret are Secrets Manager secrets under the customer key, kept', () => {
    for (const Name of ['cdctest/pipeline/payload-keys', 'cdctest/pipeline/redaction-secret'])
      template.hasResource('AWS::SecretsManager::Secret', {
        DeletionPolicy: 'Retain',
        Properties: { Name, KmsKeyId: { 'Fn::GetAtt': [keyRef(), 'Arn'] } },
      });
  });

  it('no IAM policy statement allows a `*` action (or uses NotAction), and none names `*` as its resource', () => {
    assertNoWildcards(resources);
  });

  it('each role may do what its code calls only: capture writes the stream, the worker reads it, the operator neither', () => {
    const rolePolicies = (logicalPrefix: string) => {
      const role = Object.entries(resources).find(
        ([id, r]) => r.Type === 'AWS::IAM::Role' && id.startsWith(logicalPrefix),
      );
      assert.ok(role, logicalPrefix);
      const refs = (role[1].Properties.ManagedPolicyArns as { Ref: string }[]).map((p) => p.Ref);
      return new Set(
        identityStatements(resources)
          .filter(({ where }) => refs.includes(where))
          .flatMap(({ s }) => actionsOf(s)),
      );
    };
    const worker = rolePolicies('WorkerRole');
    const capture = rolePolicies('CaptureRole');
    const operator = rolePolicies('OperatorRole');
    const provisioner = rolePolicies('ProvisionerRole');
    assert.ok(capture.has('kinesis:PutRecords') && !capture.has('kinesis:GetRecords'));
    assert.ok(capture.has('rds-db:connect'));
    assert.ok(worker.has('kinesis:GetRecords') && worker.has('events:PutEvents'));
    assert.ok(
      worker.has('kinesis:PutRecords'),
      'the worker hosts capture (CDC_DEPLOY_WORKER_RUNS_CAPTURE=on)',
    );
    for (const a of ['kinesis:PutRecords', 'kinesis:GetRecords', 'events:PutEvents', 's3:PutObject'])
      assert.ok(!operator.has(a), `operator: ${a}`);
    assert.ok(operator.has('dynamodb:UpdateItem') && operator.has('sqs:ReceiveMessage'));
    // Capture raises alerts (dead letters, replication lag: activities/capture/captureChanges.ts).
    assert.ok(capture.has('events:PutEvents'), 'capture publishes its alerts');
    assert.ok(!capture.has('dynamodb:Scan') && !capture.has('s3:DeleteObject'));
    for (const a of [...provisioner])
      assert.match(a, /:(Create|Describe|Put|Get|Set|List|Update)/, `provisioner: ${a}`);
    template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'rds-db:connect',
            Resource: {
              'Fn::Join': [
                '',
                Match.arrayWith([Match.stringLikeRegexp(':dbuser:db-ABCDEFGHIJKL0123456789/cdc_capture$')]),
              ],
            },
          }),
        ]),
      },
    });
  });
});

describe('deploy: the worker as an ECS Fargate service (CDC_DEPLOY_WORKER_IMAGE)', function () {
  this.timeout(60_000);
  let template: Template;
  let resources: Record<string, Resource>;

  before(() => {
    const synth = synthTestApp({ env: FARGATE_ENV });
    template = Template.fromStack(synth.stack);
    resources = template.toJSON().Resources as Record<string, Resource>;
  });
  after(removeSynthesized);

  const container = () => {
    const defs = Object.values(resources).filter((r) => r.Type === 'AWS::ECS::TaskDefinition');
    assert.equal(defs.length, 1);
    const [c] = defs[0].Properties.ContainerDefinitions as {
      Environment: { Name: string; Value: unknown }[];
      Secrets: { Name: string; ValueFrom: unknown }[];
    }[];
    return { task: defs[0], c, env: new Map(c.Environment.map((e) => [e.Name, e.Value])) };
  };

  it('runs the image with the worker role, in the given private subnets, no public address, rolled back when unhealthy', () => {
    const workerRole = Object.keys(resources).find(
      (id) => resources[id].Type === 'AWS::IAM::Role' && id.startsWith('WorkerRole'),
    );
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      TaskRoleArn: { 'Fn::GetAtt': [workerRole, 'Arn'] },
      RequiresCompatibilities: ['FARGATE'],
      ContainerDefinitions: [
        Match.objectLike({ HealthCheck: Match.objectLike({ Command: Match.arrayWith(['node', '-e']) }) }),
      ],
    });
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          AssignPublicIp: 'DISABLED',
          Subnets: FARGATE_ENV.CDC_DEPLOY_SUBNET_IDS.split(','),
          SecurityGroups: Match.anyValue(),
        },
      },
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      }),
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      VpcId: FARGATE_ENV.CDC_DEPLOY_VPC_ID,
      SecurityGroupIngress: Match.absent(),
    });
  });

  it('gives the worker the names this stack made and says the target; secrets come from Secrets Manager, never the environment', () => {
    const { c, env } = container();
    assert.equal(env.get('CDC_STREAM'), 'cdc-inventory');
    assert.equal(env.get('CDC_STREAM_RETENTION_HOURS'), TEST_ENV.CDC_STREAM_RETENTION_HOURS);
    assert.equal(env.get('CDC_DLQ_TABLE'), 'cdc_dlq');
    const dlqBucket = Object.keys(resources).find(
      (id) => resources[id].Type === 'AWS::S3::Bucket' && id.startsWith('DeadLetterBucket'),
    );
    assert.deepEqual(env.get('CDC_DLQ_BUCKET'), { Ref: dlqBucket });
    assert.equal(env.get('CDC_TARGET'), 'aws');
    assert.deepEqual(env.get('AWS_REGION'), { Ref: 'AWS::Region' });
    assert.equal(env.get('TEMPORAL_NAMESPACE'), FARGATE_ENV.TEMPORAL_NAMESPACE);
    assert.equal(env.get('PGSSLMODE'), 'verify-full');
    for (const secret of [
      'CDC_REDACTION_SECRET',
      'CDC_REDACTION_KEY_ID',
      'CDC_PAYLOAD_KEYS',
      'TEMPORAL_API_KEY',
      'CDC_TABLES_FILE',
    ])
      assert.ok(!env.has(secret), `${secret} is not in the task's environment`);
    assert.deepEqual(c.Secrets.map((s) => s.Name).sort(), [
      'CDC_PAYLOAD_KEYS',
      'CDC_REDACTION_SECRET',
      'TEMPORAL_API_KEY',
    ]);
  });

  it('the task’s environment, with the image’s and the secrets’ values, passes the worker’s start-up checks', () => {
    const { env } = container();
    const taskEnv: Record<string, string> = {
      // The image's own (Dockerfile), then the task's, then what ECS puts in from the secrets.
      CDC_HEALTH_PORT: '8080',
      CDC_HEALTH_HOST: '0.0.0.0',
      CDC_METRICS_HOST: '0.0.0.0',
      CDC_SHUTDOWN_GRACE_MS: '5000',
      ...Object.fromEntries(
        [...env].map(([k, v]) => [
          k,
          typeof v === 'string' ? v : k === 'AWS_REGION' ? 'eu-west-1' : 'cdc-dlq-123456789012-eu-west-1',
        ]),
      ),
      CDC_PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      CDC_REDACTION_SECRET: randomBytes(32).toString('hex'),
      TEMPORAL_API_KEY: 'an-api-key',
    };
    const checked = checkWorkerEnvironment(taskEnv);
    assert.equal(checked.config.retention.streamHours, Number(TEST_ENV.CDC_STREAM_RETENTION_HOURS));
    assert.equal(checked.config.deadLetters.bucket, 'cdc-dlq-123456789012-eu-west-1');
    assert.equal(keyringFromEnv(taskEnv).currentKeyId, 'k1');
    assert.equal(awsTargetRefusal(taskEnv), undefined);
    assert.deepEqual(parsePgEnv(taskEnv), { sslmode: 'verify-full', iamAuth: true });
  });

  it('IAM: still no `*` action; `*` as a resource only for ecr:GetAuthorizationToken, which takes no other', () => {
    assertNoWildcards(resources);
  });
});
