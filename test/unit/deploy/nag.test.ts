import assert from 'node:assert/strict';
import { Stack, Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { FARGATE_ENV, removeSynthesized, synthTestApp } from './synth';

/**
 * cdk-nag's AwsSolutions pack on the CDK app (deploy/): no finding (error or warning) that is not
 * acknowledged on its construct with a reason (deploy/stacks/acknowledgements.ts). cdk-nag 3
 * runs as a CDK validation plugin (`Validations.of(app).addPlugins`, as deploy/app.ts registers
 * it); `validateScope` runs the same rules here and returns every finding.
 */
describe('deploy: cdk-nag AwsSolutions checks (deploy/)', function () {
  this.timeout(60_000);
  let synth: ReturnType<typeof synthTestApp>;
  /** With the optional worker service (CDC_DEPLOY_WORKER_IMAGE): its findings too. */
  let withService: ReturnType<typeof synthTestApp>;

  before(() => {
    synth = synthTestApp();
    withService = synthTestApp({ env: FARGATE_ENV });
  });
  after(removeSynthesized);

  it('leaves no finding unacknowledged, errors and warnings alike, with and without the worker service', () => {
    for (const { app } of [synth, withService]) {
      const report = new AwsSolutionsChecks(app).validateScope(app);
      const findings = report.violations.map(
        (v) =>
          `${v.severity} ${v.ruleName}: ${v.description} (${v.violatingResources.map((r) => r.constructPath).join(', ')})`,
      );
      assert.deepEqual(findings, [], `unacknowledged cdk-nag findings:\n${findings.join('\n')}`);
      assert.equal(report.success, true);
    }
  });

  it('every acknowledgement has a reason and sits on the construct it concerns, never on the stack or the app', () => {
    const acks: { path: string; id: string; reason: string; onScope: boolean }[] = [];
    const walk = (c: IConstruct) => {
      for (const m of c.node.metadata)
        if (m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          for (const [id, reason] of Object.entries(m.data as Record<string, string>))
            acks.push({ path: c.node.path, id, reason, onScope: Stack.isStack(c) || Stage.isStage(c) });
      c.node.children.forEach(walk);
    };
    walk(synth.app);
    walk(withService.app);
    assert.ok(acks.length > 0, 'the app acknowledges its findings');
    for (const a of acks) {
      assert.ok(a.reason.trim().length >= 60, `${a.path} ${a.id}: a reason of substance, not "${a.reason}"`);
      assert.ok(!a.onScope, `${a.path} ${a.id}: acknowledged for a whole stack or app`);
      assert.match(a.id, /AwsSolutions-[A-Z]+\d+/, `${a.path}: ${a.id}`);
    }
  });

  it('the app as deploy/app.ts builds it (checks registered) synthesizes', () => {
    const withChecks = synthTestApp({ nag: true });
    const assembly = withChecks.app.synth();
    assert.ok(assembly.getStackByName(withChecks.stack.stackName).template);
  });
});
