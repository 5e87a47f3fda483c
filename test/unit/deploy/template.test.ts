import assert from 'node:assert/strict';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadDeployConfig, type DeployConfig } from '../../../deploy/config';
import { BOARD_QUEUE_RETENTION_SECONDS, eventRouting } from '../../../infra/provisioning';
import { eventArchive, TABLE_PARTITION_KEY, TTL_ATTRIBUTE } from '../../../infra/resourceDefinitions';
import { removeSynthesized, synthTestApp, TEST_ENV } from './synth';

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string };
type Statement = { Effect: string; Action?: string | string[]; NotAction?: unknown; Resource?: unknown };

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

  /** Every identity policy statement: managed policies, inline policies, roles' own policies. */
  function identityStatements(): { where: string; s: Statement }[] {
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

  it('no IAM policy statement allows a `*` action (or uses NotAction), and none names `*` as its resource', () => {
    const statements = identityStatements();
    assert.ok(statements.length > 20, 'the roles have their statements');
    for (const { where, s } of statements) {
      assert.equal(s.NotAction, undefined, `${where}: NotAction`);
      for (const a of actionsOf(s)) assert.ok(!a.includes('*'), `${where}: action ${a}`);
      for (const res of [s.Resource].flat())
        assert.notEqual(res, '*', `${where}: ${actionsOf(s).join(',')} on *`);
    }
  });

  it('each role may do what its code calls only: capture writes the stream, the worker reads it, the operator neither', () => {
    const rolePolicies = (logicalPrefix: string) => {
      const role = Object.entries(resources).find(
        ([id, r]) => r.Type === 'AWS::IAM::Role' && id.startsWith(logicalPrefix),
      );
      assert.ok(role, logicalPrefix);
      const refs = (role[1].Properties.ManagedPolicyArns as { Ref: string }[]).map((p) => p.Ref);
      return new Set(
        identityStatements()
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
    assert.ok(!capture.has('events:PutEvents'));
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
