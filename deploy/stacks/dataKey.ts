import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';

/**
 * The deployment's customer managed key: the stream, the tables, the DLQ bucket and the secrets
 * are encrypted with it (one key: one monthly key charge, one place to audit). Rotated yearly by KMS.
 */
export function dataKey(scope: Construct, config: DeployConfig): kms.Key {
  return new kms.Key(scope, 'DataKey', {
    alias: `alias/${config.prefix}-pipeline-data`,
    description: `CDC pipeline ${config.prefix}: stream, tables, DLQ bucket and secrets`,
    enableKeyRotation: true,
    pendingWindow: Duration.days(30),
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
