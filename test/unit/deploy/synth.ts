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
