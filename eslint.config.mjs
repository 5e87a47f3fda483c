import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries (tested by test/unit/lintRules.test.ts).
//
// Product code: what ships and runs the pipeline. It must not depend on the developer folders
// (scripts/, bench/, test/) nor on the CDK app that deploys it (deploy/), not even for types. A
// relative specifier that climbs to one of them is refused at any depth (`../scripts/x`,
// `../../test/support/y`).
const PRODUCT_FOLDERS = [
  'workflows',
  'activities',
  'infra',
  'cli',
  'workers',
  'wallboard',
  'domain',
  'config',
];
const DEV_ONLY = '^(\\.\\./)+(scripts|bench|test|deploy)(/|$)';
const DEV_ONLY_MESSAGE =
  'Product code does not import scripts/, bench/ or test/ (nor deploy/): move what it needs into the product (e.g. infra/localStack/).';

// Workflows run in Temporal's deterministic sandbox: activities, infra (I/O), Node built-ins, the
// AWS SDK, pg and the non-workflow Temporal packages come in as types only. The built-ins are
// those Temporal's workflow bundler refuses (all but assert, url, util), with or without `node:`.
const SANDBOX_ALLOWED_BUILTINS = ['assert', 'url', 'util'];
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const SANDBOX_BUILTINS = builtinModules
  .filter((m) => !m.startsWith('_') && !SANDBOX_ALLOWED_BUILTINS.includes(m.split('/')[0]))
  .map(escape);
const SANDBOX_FORBIDDEN = [
  { regex: '^(\\.\\./)+(activities|infra)(/|$)', what: 'activities/ and infra/' },
  {
    regex: `^(node:)?(${SANDBOX_BUILTINS.join('|')})(/|$)|^node:(?!(${SANDBOX_ALLOWED_BUILTINS.join('|')})(/|$))`,
    what: 'Node built-ins',
  },
  {
    regex: '^(@aws-sdk/|@smithy/|pg(-[a-z-]+)?(/|$)|@temporalio/(activity|client|worker|testing)(/|$))',
    what: 'the AWS SDK, pg and the non-workflow Temporal packages',
  },
];

// no-restricted-imports sees import/export declarations (and `import x = require()`); dynamic
// import() and require() calls go through no-restricted-syntax. Esquery regexes are written
// between slashes, so a slash in them is escaped.
const dynamicImportsMatching = (regex, message) => [
  { selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\/')}/]`, message },
  {
    selector: `CallExpression[callee.name='require'][arguments.0.value=/${regex.replaceAll('/', '\\/')}/]`,
    message,
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', '.stack/', 'dist/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: PRODUCT_FOLDERS.map((folder) => `${folder}/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: DEV_ONLY, message: DEV_ONLY_MESSAGE }] }],
      'no-restricted-syntax': ['error', ...dynamicImportsMatching(DEV_ONLY, DEV_ONLY_MESSAGE)],
    },
  },
  {
    // Replaces the two rules above for workflows (a later block's options win), so it repeats them.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: DEV_ONLY, message: DEV_ONLY_MESSAGE },
            ...SANDBOX_FORBIDDEN.map(({ regex, what }) => ({
              regex,
              allowTypeImports: true,
              message: `Workflows run in Temporal's sandbox: they import ${what} as types only (\`import type\`).`,
            })),
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        ...dynamicImportsMatching(DEV_ONLY, DEV_ONLY_MESSAGE),
        {
          selector: 'ImportExpression',
          message: "Workflows run in Temporal's sandbox: no dynamic import(); import statically.",
        },
        {
          selector: "CallExpression[callee.name='require']",
          message:
            "Workflows run in Temporal's sandbox: no require(); import statically (types only for I/O code).",
        },
      ],
    },
  },
);
