import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';

/** Top-level prefixes of the DLQ bucket (activities/stream/batchStore.ts, domain/core/itemKeys.ts). */
export const KEPT_BATCHES_PREFIX = 'held-batches/';
export const DEAD_LETTERS_PREFIX = 'dead-letters/';

/**
 * The DLQ bucket (CDC_DLQ_BUCKET): batches kept while a shard is held (`held-batches/`) and the raw
 * records of large dead letters (`dead-letters/`, claim checks), both already sealed by the
 * pipeline (AES-256-GCM); encrypted again at rest with the deployment's key (a bucket key keeps
 * KMS requests down), private, TLS only, versioned (an overwritten or deleted object can be had
 * back for 7 days). Objects expire: kept batches after CDC_DEPLOY_KEPT_BATCH_DAYS, dead letters a
 * week after their redrive window (their DynamoDB item expires at its end). Server access logs go
 * to a bucket of their own.
 */
export function deadLetterBucket(scope: Construct, config: DeployConfig, key: kms.IKey) {
  const accessLogs = new s3.Bucket(scope, 'AccessLogsBucket', {
    encryption: s3.BucketEncryption.S3_MANAGED, // server access logs cannot go to an SSE-KMS bucket
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const bucket = new s3.Bucket(scope, 'DeadLetterBucket', {
    bucketName: config.bucketName ?? `${config.prefix}-dlq-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: 'dlq-bucket/',
    lifecycleRules: [
      {
        id: 'expire-kept-batches',
        prefix: KEPT_BATCHES_PREFIX,
        expiration: Duration.days(config.keptBatchDays),
      },
      {
        id: 'expire-dead-letters',
        prefix: DEAD_LETTERS_PREFIX,
        expiration: Duration.days(config.pipeline.deadLetters.redriveWindowDays + 7),
      },
      {
        id: 'expire-old-versions',
        noncurrentVersionExpiration: Duration.days(7),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
        expiredObjectDeleteMarker: true,
      },
    ],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  return { bucket, accessLogs };
}
