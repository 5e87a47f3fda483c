/**
 * Starts the capture and supervisor workflows (no-op when they already run) on the Temporal
 * cluster the environment configures, else on the local stack when it runs
 * (infra/localStack/environment.ts). For setups where workers run elsewhere (Docker, Temporal Cloud);
 * `npm start` does this itself on the local stack.
 */
import { loadConfig } from '../infra/config';
import { startPipeline } from '../infra/pipelineClient';
import { temporalClient } from '../infra/temporal';
import { useEnvironment } from '../infra/localStack/environment';

async function main(): Promise<void> {
  await useEnvironment();
  const client = await temporalClient();
  try {
    const { capture, supervisor } = await startPipeline(client, loadConfig());
    console.log(`capture: ${capture.workflowId}\nsupervisor: ${supervisor?.workflowId}`);
  } finally {
    await client.connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`pipeline:start: ${(err as Error).message}`);
  process.exit(1);
});
