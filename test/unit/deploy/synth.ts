import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../../deploy/app';
import { loadDeployConfig, type DeployConfig } from '../../../deploy/config';

/**
 * The settings the deploy tests synthesize with: not the defaults (a retention, shard count and
 * prefix of their own, RDS IAM authentication and a database secret), so a value that comes from
 * a default instead of the setting shows.
 */
export const TEST_ENV = {
  CDC_DEPLOY_PREFIX: 'cdctest',
  CDC_STREAM_RETENTION_HOURS: '72',
  CDC_SHARD_COUNT: '3',
  CDC_DEPLOY_RDS_RESOURCE_ID: 'db-ABCDEFGHIJKL0123456789',
  CDC_DEPLOY_RDS_DB_USER: 'cdc_capture',
  CDC_DEPLOY_PG_SECRET_ARN:
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds-db-credentials/cdc-AbCdEf',
};

/** The optional worker service (deploy/stacks/workerService.ts): an ECR image, a VPC, Temporal Cloud, RDS. */
export const FARGATE_ENV = {
  CDC_DEPLOY_WORKER_IMAGE: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/inventory-cdc:1.4.0',
  CDC_DEPLOY_VPC_ID: 'vpc-0123456789abcdef0',
  CDC_DEPLOY_SUBNET_IDS: 'subnet-0123456789abcdef1,subnet-0123456789abcdef2',
  TEMPORAL_ADDRESS: 'cdc.a1b2c.tmprl.cloud:7233',
  TEMPORAL_NAMESPACE: 'cdc.a1b2c',
  CDC_DEPLOY_TEMPORAL_API_KEY_SECRET_ARN:
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:temporal-api-key-AbCdEf',
  PGHOST: 'inventory.cluster-abc.eu-west-1.rds.amazonaws.com',
  PGUSER: 'cdc_capture',
  PGSSLMODE: 'verify-full',
  CDC_PG_IAM_AUTH: 'on',
};

/** One app with the pipeline stack, written to a temporary folder (`nag`: register the checks as app.ts does). */
export function synthTestApp(opts: { nag?: boolean; env?: Record<string, string> } = {}) {
  const config: DeployConfig = loadDeployConfig({ ...TEST_ENV, ...opts.env });
  const outdir = mkdtempSync(join(tmpdir(), 'cdc-deploy-'));
  outdirs.push(outdir);
  const { app, stack } = buildApp(config, { outdir, nag: opts.nag ?? false });
  return { app, stack, config, outdir };
}

const outdirs: string[] = [];

/** Removes the folders the synthesized apps were written to (each test file's `after`). */
export function removeSynthesized(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
