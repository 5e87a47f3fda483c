// Loaded by mocha before any test (see .mocharc.json). A Kinesis emulator that the tests start
// does not persist its data: the tests delete their streams anyway, and persisting large
// streams costs the emulator a CPU core.
process.env.CDC_KINESIS_PERSIST ??= 'false';
// The table configuration every domain function reads (the worker and scripts load it with their configuration).
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('../../infra/tablesFile').loadTables();

/**
 * Suites that `npm test` runs on a PostgreSQL database of their own (scripts/test.sh sets
 * PGDATABASE for them): the database and its demo tables exist before the first test, as they do
 * on the stack's database once `npm start` or another suite provisioned it. Nothing otherwise.
 */
export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { localStackEnv, stackUp, applyLocalStackEnv } =
      require('../../infra/localStack/localStack') as typeof import('../../infra/localStack/localStack');
    const own = process.env.PGDATABASE;
    if (!own || own === localStackEnv().PGDATABASE) return;
    this.timeout(180_000);
    const { loadConfig } = require('../../infra/config') as typeof import('../../infra/config');
    const { provisionDemoSchema } =
      require('../../infra/provisioning') as typeof import('../../infra/provisioning');
    /* eslint-enable @typescript-eslint/no-require-imports */
    await stackUp();
    applyLocalStackEnv();
    await provisionDemoSchema(loadConfig());
  },
};
