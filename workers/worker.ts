/** The worker process: hosts every workflow and activity of the pipeline on the `cdc-pipeline` task queue. */
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { assertProductionSecrets, loadConfig, type PipelineConfig } from '../infra/config';
import { checkSchemaAtStartup } from '../infra/schemaCheck';
import { workerConnection } from '../infra/temporal';
import { useEnvironment } from '../scripts/lib/environment';

export async function createWorker(opts: { config?: PipelineConfig } = {}): Promise<Worker> {
  const config = opts.config ?? loadConfig();
  // Start-up refusals: the development HMAC secret outside the local stack; a table file that
  // does not match PostgreSQL (keys); warnings for rule columns that do not exist and unruled PII.
  assertProductionSecrets(config);
  await checkSchemaAtStartup(config, (line) => console.warn(`[schema] ${line}`));
  const { connection, namespace, dataConverter } = await workerConnection();
  return Worker.create({
    connection,
    namespace,
    // Encrypted payloads and failures (infra/codec): history holds no plaintext rows.
    dataConverter,
    taskQueue: config.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities(config),
    maxConcurrentActivityTaskExecutions: 100,
  });
}

if (require.main === module) {
  // Against a running local stack without hand-set variables, like every script (scripts/lib/environment.ts).
  useEnvironment()
    .then(() => createWorker())
    .then((worker) => worker.run())
    .catch((err: unknown) => {
      // Configuration problems are one clear message; anything else with its stack.
      const name = (err as Error)?.name ?? '';
      const clear = /Configuration|Keyring/.test(name) || /^invalid /.test((err as Error)?.message ?? '');
      console.error(clear ? `worker: ${(err as Error).message}` : err);
      process.exit(1);
    });
}
