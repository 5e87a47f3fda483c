import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';

/**
 * The change stream (CDC_STREAM), provisioned with CDC_SHARD_COUNT shards and the retention the
 * pipeline assumes (CDC_STREAM_RETENTION_HOURS: tombstone TTLs and the retention-gap alert follow
 * it), encrypted with the deployment's key.
 */
export function changeStream(scope: Construct, config: DeployConfig, key: kms.IKey): kinesis.Stream {
  const { pipeline } = config;
  return new kinesis.Stream(scope, 'ChangeStream', {
    streamName: pipeline.stream,
    streamMode: kinesis.StreamMode.PROVISIONED,
    shardCount: pipeline.shardCount,
    retentionPeriod: Duration.hours(pipeline.retention.streamHours),
    encryption: kinesis.StreamEncryption.KMS,
    encryptionKey: key,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
