/** The worker process: hosts every workflow and activity of the pipeline on the `cdc-pipeline` task queue. */
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { loadConfig, type PipelineConfig } from '../infra/config';
import { workerConnection } from '../infra/temporal';
import { useEnvironment } from '../scripts/lib/environment';

export async function createWorker(opts: { config?: PipelineConfig } = {}): Promise<Worker> {
  const config = opts.config ?? loadConfig();
  const { connection, namespace } = await workerConnection();
  return Worker.create({
    connection,
    namespace,
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
      console.error(err);
      process.exit(1);
    });
}
