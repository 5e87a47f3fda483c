import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FARGATE_ENV, removeSynthesized, synthTestApp } from './synth';

const ROOT = resolve(__dirname, '..', '..', '..');
/** Installed by scripts/setup.sh from scripts/requirements.txt (CDC_CFN_LINT: another one). */
const CFN_LINT = process.env.CDC_CFN_LINT ?? join(ROOT, '.cache', 'venv', 'bin', 'cfn-lint');
const IN_CI = Boolean(process.env.CI) && !['0', 'false'].includes(process.env.CI!.toLowerCase());

/** cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational findings (1: it failed). */
const FAILED = 1;
const ERRORS = 2;
const WARNINGS = 4;

/**
 * cfn-lint (the CloudFormation linter AWS publishes) on the CDK app's synthesized template: no
 * error and no warning. In CI (CI set, as CI services set it) a missing cfn-lint fails the test; elsewhere it is
 * skipped, saying how to install it.
 */
describe('deploy: cfn-lint on the synthesized template (deploy/)', function () {
  this.timeout(120_000);
  const templates: string[] = [];

  before(function () {
    if (!existsSync(CFN_LINT)) {
      if (IN_CI)
        throw new Error(`${CFN_LINT} is missing: scripts/setup.sh installs it (scripts/requirements.txt)`);
      console.warn(`    skipped: ${CFN_LINT} is missing; run scripts/setup.sh (npm run setup) to install it`);
      this.skip();
    }
    // As configured by default, and with the optional worker service.
    for (const env of [{}, FARGATE_ENV]) {
      const { app, stack } = synthTestApp({ env });
      templates.push(join(app.synth().directory, stack.templateFile));
    }
  });
  after(removeSynthesized);

  it('finds no error and no warning, with and without the worker service', () => {
    const run = spawnSync(CFN_LINT, ['--format', 'parseable', '--', ...templates], { encoding: 'utf8' });
    assert.equal(run.error, undefined, `cfn-lint did not run: ${run.error?.message}`);
    const status = run.status ?? FAILED;
    assert.equal(status & FAILED, 0, `cfn-lint failed (status ${status}): ${run.stderr}`);
    assert.equal(
      status & (ERRORS | WARNINGS),
      0,
      `cfn-lint reports (status ${status}):\n${run.stdout}${run.stderr}`,
    );
  });
});
