/**
 * Provisions every resource of the pipeline, idempotently: where the standard variables point
 * (real AWS, your PostgreSQL), else on the local stack when it runs (scripts/lib/environment.ts).
 */
import { destroyAwsClients } from '../infra/aws';
import { loadConfig } from '../infra/config';
import { provisionAll } from '../infra/provisioning';
import { useEnvironment } from './lib/environment';

async function main(): Promise<void> {
  await useEnvironment();
  await provisionAll(loadConfig(), (l) => console.log(l));
}

main().then(
  () => destroyAwsClients(),
  (err: unknown) => {
    console.error(`provision: ${(err as Error).message}`);
    destroyAwsClients();
    process.exit(1);
  },
);
