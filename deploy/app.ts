/**
 * The CDK app: `npm run deploy:synth` writes the CloudFormation template to deploy/cdk.out/;
 * `cd deploy && npx cdk deploy` (with the CDK CLI) deploys it. Settings come from the environment
 * (deploy/config.ts, docs/deploy.md). cdk-nag's AwsSolutions checks run at synthesis: a finding
 * that is not acknowledged (deploy/stacks/acknowledgements.ts) stops it.
 */
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeployConfig, type DeployConfig } from './config';
import { CdcPipelineStack } from './stacks/pipelineStack';

/** Where `npm run deploy:synth` writes (the CDK CLI sets CDK_OUTDIR itself). */
export const DEFAULT_OUTDIR = join(__dirname, 'cdk.out');

export function buildApp(config: DeployConfig, opts: { outdir?: string; nag?: boolean } = {}) {
  const app = new App({
    outdir: opts.outdir ?? (process.env.CDK_OUTDIR ? undefined : DEFAULT_OUTDIR),
    // Access logs are delivered under a bucket policy, not an ACL (the log bucket enforces ownership).
    context: { '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true },
  });
  const stack = new CdcPipelineStack(app, config.stackName, config, {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  if (opts.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (require.main === module) {
  try {
    const { app, stack } = buildApp(loadDeployConfig());
    const assembly = app.synth();
    console.log(`synthesized ${stack.stackName}: ${join(assembly.directory, stack.templateFile)}`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
