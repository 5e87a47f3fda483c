/**
 * Starts the capture and supervisor workflows against whatever Temporal cluster the environment
 * configures (no-op when they already run). For setups where workers run elsewhere (Docker,
 * Temporal Cloud); `npm start` does this itself on the local stack.
 */
import { loadConfig } from '../infra/config';
import { startPipeline } from '../infra/pipelineClient';
import { temporalClient } from '../infra/temporal';

async function main(): Promise<void> {
  const client = await temporalClient();
  const { capture, supervisor } = await startPipeline(client, loadConfig());
  console.log(`capture: ${capture.workflowId}\nsupervisor: ${supervisor?.workflowId}`);
  await client.connection.close();
}

main().catch((err: unknown) => {
  console.error(`pipeline:start: ${(err as Error).message}`);
  process.exit(1);
});
