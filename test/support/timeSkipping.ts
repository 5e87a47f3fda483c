import { TestWorkflowEnvironment } from '@temporalio/testing';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { SA } from '../../workflows/names';
import { installTestRuntime } from './testRuntime';

/**
 * The Java time-skipping test server installed by infra/localStack/installTestServer.sh
 * (Maven Central's io.temporal:temporal-test-server), run through a wrapper script.
 */
export const TEST_SERVER_PATH = path.join(
  __dirname,
  '..',
  '..',
  '.cache',
  'test-server',
  'temporal-test-server',
);

/**
 * A time-skipping TestWorkflowEnvironment on the locally installed test server, so that no
 * binary is downloaded. sdk-core starts it as `<path> <port>` and gives it 5 s to answer.
 * Call `env.teardown()` when done.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  try {
    accessSync(TEST_SERVER_PATH, constants.X_OK);
  } catch {
    throw new Error(
      `Temporal test server not installed at ${TEST_SERVER_PATH}; ` +
        'run `bash infra/localStack/installTestServer.sh` (needs java 17+ and mvn)',
    );
  }
  installTestRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: TEST_SERVER_PATH } },
  });
  // The workflows' search attributes, as the local stack registers them.
  const type = temporal.api.enums.v1.IndexedValueType;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.values(SA).map((k) => [
        k.name,
        k.type === 'INT'
          ? type.INDEXED_VALUE_TYPE_INT
          : k.type === 'DATETIME'
            ? type.INDEXED_VALUE_TYPE_DATETIME
            : type.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
  return env;
}

/**
 * A TestWorkflowEnvironment on the Temporal CLI's dev server (the real server, no time skipping),
 * from the CLI setup installs in .cache/venv; for behaviour the Java test server does not model.
 */
export async function createDevServerEnv(): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: {
        type: 'existing-path',
        path: path.join(__dirname, '..', '..', '.cache', 'venv', 'bin', 'temporal'),
      },
      ip: '127.0.0.1',
      searchAttributes: Object.values(SA),
      extraArgs: ['--headless'],
    },
  });
  return env;
}
