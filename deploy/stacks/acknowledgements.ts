import { Stack, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { deadLetterObjectPrefix } from '../../domain/core/itemKeys';
import type { DeployConfig } from '../config';
import { DEAD_LETTERS_PREFIX, KEPT_BATCHES_PREFIX } from './bucket';
import type { PipelineRoles } from './roles';
import type { PipelineSecrets } from './secrets';

/** A cdk-nag finding this app accepts: where, which, why. */
export interface Acknowledged {
  on: IConstruct;
  id: string;
  reason: string;
}

const OBJECT_ARNS =
  'Object-level S3 actions (GetObject, PutObject, DeleteObject) take object ARNs only, and the object keys are made at run time';

/**
 * The cdk-nag (AwsSolutions) findings this app accepts, each on the construct it concerns (never
 * the stack), with its reason. test/unit/deploy/nag.test.ts fails on any other finding and on an
 * acknowledgement without a reason; docs/deploy.md lists them.
 */
export function acknowledgements(
  config: DeployConfig,
  r: {
    stream: kinesis.Stream;
    bucket: s3.Bucket;
    secrets: PipelineSecrets;
    roles: PipelineRoles;
    fargate?: { task: ecs.FargateTaskDefinition };
  },
): Acknowledged[] {
  const stack = Stack.of(r.bucket);
  const bucketId = stack.resolve((r.bucket.node.defaultChild as s3.CfnBucket).logicalId) as string;
  const objects = (prefix: string) => `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`;
  const { consumer, capture, operator } = r.roles.policies;
  const captureObjects = deadLetterObjectPrefix.capture(config.pipeline.slot);
  const list: Acknowledged[] = [
    {
      on: r.stream,
      id: 'AwsSolutions-KDS3',
      reason:
        'The stream is encrypted with the deployment’s customer managed key (key policy, rotation and CloudTrail audit in the account’s hands, as issue 22 asks); this rule prefers the AWS managed aws/kinesis key instead.',
    },
    {
      on: r.secrets.payloadKeys,
      id: 'AwsSolutions-SMG4',
      reason:
        'Payload keys rotate by putting a new key first and keeping the old ones until nothing sealed with them remains (docs/payload-encryption.md); a scheduled rotation that replaced the value would make encrypted workflow history and kept batches unreadable.',
    },
    {
      on: r.secrets.redaction,
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the redaction HMAC secret changes every HASH and TOKENIZE output and the events’ redaction key id, which consumers join on: an operator decision announced to them (docs/deploy.md), not a schedule.',
    },
    ...config.consumers.flatMap((c): Acknowledged[] => [
      {
        on: consumer,
        id: objects(`${KEPT_BATCHES_PREFIX}${c}/`),
        reason: `${OBJECT_ARNS}: the batches consumer ${c} keeps while a shard is held (<stream>/<shard>/<range>/<checksum>.json), its own prefix only.`,
      },
      {
        on: consumer,
        id: objects(deadLetterObjectPrefix.shards(c, config.pipeline.stream)),
        reason: `${OBJECT_ARNS}: the raw records of consumer ${c}’s dead letters on this stream (<shard>/<sequence number>), its own prefix only.`,
      },
    ]),
    {
      on: consumer,
      id: objects(captureObjects),
      reason: `${OBJECT_ARNS}: redrives read (GetObject only) the raw records capture parked for this slot (<commit LSN>/<index>).`,
    },
    {
      on: capture,
      id: objects(captureObjects),
      reason: `${OBJECT_ARNS}: capture parks the raw records of this slot’s dead letters under its own prefix (<commit LSN>/<index>).`,
    },
    {
      on: operator,
      id: objects(DEAD_LETTERS_PREFIX),
      reason: `${OBJECT_ARNS}: \`cdc dlq show\` reads (GetObject only) the raw record of any dead letter, every consumer’s and capture’s.`,
    },
  ];
  if (r.fargate) {
    const { task } = r.fargate;
    list.push(
      {
        on: task,
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds names and settings only (stream, tables, bus, bucket, Temporal address, PostgreSQL host: deploy/stacks/workerService.ts); the payload keys, the redaction secret and Temporal’s API key come from Secrets Manager through `secrets`.',
      },
      {
        on: task.obtainExecutionRole(),
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken has no resource-level permissions (Resource must be *); it only issues the registry login token, and the image pull itself (BatchGetImage, GetDownloadUrlForLayer) is limited to the worker’s repository.',
      },
    );
  }
  return list;
}

/** Records the acknowledgements on their constructs (cdk-nag and CDK's validation read them there). */
export function acknowledgeFindings(list: Acknowledged[]): void {
  for (const a of list) Validations.of(a.on).acknowledge({ id: a.id, reason: a.reason });
}
