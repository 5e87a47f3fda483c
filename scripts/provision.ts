/** Provisions every resource of the pipeline, idempotently. Uses real AWS unless AWS_ENDPOINT_URL_* point elsewhere. */
import { destroyAwsClients } from '../infra/aws';
import { loadConfig } from '../infra/config';
import { provisionAll } from '../infra/provisioning';

provisionAll(loadConfig(), (l) => console.log(l))
  .then(() => destroyAwsClients())
  .catch((err: unknown) => {
    console.error(`provision: ${(err as Error).message}`);
    process.exit(1);
  });
