import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';

/**
 * The boundary rules of eslint.config.mjs, run through ESLint's Node API on planted code at paths
 * that do not exist (lintText): workflows import activities, infra, Node built-ins and I/O
 * packages as types only; product code (workflows, activities, infra, cli, workers, wallboard,
 * domain, config) imports nothing from scripts/, bench/ or test/.
 */
const ROOT = resolve(__dirname, '..', '..');
const BOUNDARY_RULES = new Set(['no-restricted-imports', 'no-restricted-syntax']);

// The project's config as is, without type information (the planted files are in no program) and
// with only the boundary rules on: fast, and a finding can come from nothing else.
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: null } } },
  ruleFilter: ({ ruleId }) => BOUNDARY_RULES.has(ruleId),
});

async function findings(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, file), warnIgnored: true });
  assert.ok(result, file);
  const fatal = result.messages.filter((m) => m.fatal).map((m) => m.message);
  assert.deepEqual(fatal, [], `${file} does not parse or is ignored`);
  return result.messages
    .filter((m) => m.ruleId !== null && BOUNDARY_RULES.has(m.ruleId))
    .map((m) => m.message);
}

const SANDBOX = /Temporal's sandbox/;
const DEV_ONLY = /does not import scripts\/, bench\/ or test\//;

async function expectRefused(file: string, code: string, because: RegExp): Promise<void> {
  const found = await findings(file, code);
  assert.ok(found.length > 0, `${file} should be refused, and is not: ${code}`);
  assert.ok(
    found.every((m) => because.test(m)),
    `${file}: ${code}\nrefused for another reason: ${found.join('; ')}`,
  );
}

async function expectAllowed(file: string, code: string): Promise<void> {
  assert.deepEqual(await findings(file, code), [], `${file} should be allowed: ${code}`);
}

describe('lint rules: import boundaries (eslint.config.mjs)', function () {
  this.timeout(60_000);

  describe('workflow sandbox', () => {
    it('refuses a value import of activities or infra from a workflow, at any depth', async () => {
      await expectRefused(
        'workflows/shardReader/planted.ts',
        "import { createActivities } from '../../activities';\nvoid createActivities;\n",
        SANDBOX,
      );
      await expectRefused(
        'workflows/shardReader/planted.ts',
        "import { pullBatch } from '../../activities/shardReader';\nvoid pullBatch;\n",
        SANDBOX,
      );
      await expectRefused(
        'workflows/planted.ts',
        "import { awsClients } from '../infra/aws';\nvoid awsClients;\n",
        SANDBOX,
      );
      await expectRefused(
        'workflows/backfill/planted.ts',
        "import { keyring } from '../../infra/codec/keyring';\nvoid keyring;\n",
        SANDBOX,
      );
      await expectRefused(
        'workflows/redrive/planted.ts',
        "export { redrive } from '../../activities/redrive';\n",
        SANDBOX,
      );
      await expectRefused('workflows/redrive/planted.ts', "export * from '../../activities';\n", SANDBOX);
    });

    it('refuses Node built-ins, the AWS SDK, pg and non-workflow Temporal packages in a workflow', async () => {
      for (const source of [
        'node:fs',
        'fs',
        'fs/promises',
        'node:crypto',
        'child_process',
        '@aws-sdk/client-dynamodb',
        '@aws-sdk/lib-dynamodb',
        '@smithy/node-http-handler',
        'pg',
        '@temporalio/activity',
        '@temporalio/client',
        '@temporalio/worker',
      ]) {
        await expectRefused(
          'workflows/supervisor/planted.ts',
          `import * as m from '${source}';\nvoid m;\n`,
          SANDBOX,
        );
      }
    });

    it('refuses dynamic import() and require() in a workflow', async () => {
      await expectRefused(
        'workflows/shardReader/planted.ts',
        "export async function f() {\n  return import('../../activities');\n}\n",
        SANDBOX,
      );
      await expectRefused(
        'workflows/shardReader/planted.ts',
        "export const m = import('@temporalio/workflow');\n",
        SANDBOX,
      );
      await expectRefused('workflows/planted.ts', "export const fs = require('fs');\n", SANDBOX);
    });

    it('allows type-only imports and the workflow SDK', async () => {
      await expectAllowed(
        'workflows/shardReader/planted.ts',
        "import type { Activities } from '../../activities';\n",
      );
      await expectAllowed(
        'workflows/shardReader/planted.ts',
        "import { type Activities } from '../../activities';\nexport type A = Activities;\n",
      );
      await expectAllowed(
        'workflows/redrive/planted.ts',
        "export type { RedriveSummary } from '../../activities/redrive';\n",
      );
      // Temporal's bundler lets these three built-ins into the sandbox.
      await expectAllowed(
        'workflows/planted.ts',
        "import assert from 'node:assert';\nimport { inspect } from 'util';\nvoid [assert, inspect];\n",
      );
      await expectAllowed('workflows/planted.ts', "import type { Pool } from 'pg';\nexport type P = Pool;\n");
      await expectAllowed(
        'workflows/planted.ts',
        "import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport type D = DynamoDBClient;\n",
      );
      await expectAllowed(
        'workflows/shardReader/planted.ts',
        [
          "import { proxyActivities, sleep } from '@temporalio/workflow';",
          "import { ApplicationFailure } from '@temporalio/common';",
          "import { z } from 'zod';",
          "import { activities } from './activities';",
          "import { SA } from '../names';",
          "import { planReshard } from '../../domain/shards/reshardPlan';",
          'void [proxyActivities, sleep, ApplicationFailure, z, activities, SA, planReshard];',
          '',
        ].join('\n'),
      );
    });
  });

  describe('product code does not depend on scripts/, bench/ or test/', () => {
    it('refuses imports of scripts/, bench/ and test/ from every product folder', async () => {
      const planted: Array<[string, string]> = [
        ['cli/planted.ts', '../scripts/main'],
        ['cli/commands/planted.ts', '../../scripts/stack'],
        ['cli/planted.ts', '../test/support/waitFor'],
        ['activities/planted.ts', '../test/support/testPipeline'],
        ['activities/shardReader/planted.ts', '../../bench/lib/latency'],
        ['infra/planted.ts', '../bench/pipeline'],
        ['infra/localStack/planted.ts', '../../scripts/codecServer'],
        ['workers/planted.ts', '../scripts'],
        ['wallboard/planted.ts', '../test/support/browser'],
        ['domain/shards/planted.ts', '../../test/support/waitFor'],
        ['config/planted.ts', '../scripts/provision'],
        ['workflows/planted.ts', '../test/support/timeSkipping'],
        // The CDK app (deploy/) uses the product; never the other way round.
        ['infra/planted.ts', '../deploy/config'],
        ['workers/planted.ts', '../deploy/stacks/roles'],
      ];
      for (const [file, source] of planted) {
        await expectRefused(file, `import { x } from '${source}';\nvoid x;\n`, DEV_ONLY);
      }
      // Types too: product code must type-check without the dev folders.
      await expectRefused(
        'cli/planted.ts',
        "import type { X } from '../test/support/waitFor';\nexport type Y = X;\n",
        DEV_ONLY,
      );
      await expectRefused(
        'workflows/planted.ts',
        "import type { X } from '../scripts/main';\nexport type Y = X;\n",
        DEV_ONLY,
      );
    });

    it('refuses dynamic import() and require() of them', async () => {
      await expectRefused(
        'wallboard/planted.ts',
        "export async function f() {\n  return import('../scripts/inspect');\n}\n",
        DEV_ONLY,
      );
      await expectRefused(
        'workers/planted.ts',
        "export const t = require('../test/support/waitFor');\n",
        DEV_ONLY,
      );
    });

    it('allows the product its own folders, and scripts/ and test/ anything', async () => {
      await expectAllowed(
        'cli/commands/planted.ts',
        "import { chooseEnvironment } from '../../infra/localStack/environment';\nvoid chooseEnvironment;\n",
      );
      await expectAllowed(
        'wallboard/planted.ts',
        "export async function f() {\n  return import('../infra/localStack/environment');\n}\n",
      );
      await expectAllowed(
        'infra/planted.ts',
        "import { x } from './tests/x';\nimport { y } from './scriptsHelper';\nvoid [x, y];\n",
      );
      await expectAllowed(
        'scripts/planted.ts',
        "import { ROOT } from '../infra/localStack/localStack';\nimport { w } from '../test/support/waitFor';\nvoid [ROOT, w];\n",
      );
      await expectAllowed('test/unit/planted.test.ts', "import { x } from '../../scripts/main';\nvoid x;\n");
      await expectAllowed(
        'deploy/stacks/planted.ts',
        "import { eventRouting } from '../../infra/provisioning';\nvoid eventRouting;\n",
      );
    });
  });
});
