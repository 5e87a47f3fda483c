/**
 * Provisions every resource of the pipeline, idempotently: where the standard variables point
 * (real AWS, your PostgreSQL), else on the local stack when it runs (infra/localStack/environment.ts).
 * Provisioning checks the PostgreSQL schema against the table file first (infra/schemaCheck.ts):
 * errors stop it, warnings are printed.
 *
 * `npm run provision -- --check-schema` runs only that check (read-only): prints every problem,
 * exits 1 when there are errors.
 */
import { destroyAwsClients } from '../infra/aws';
import { loadConfig } from '../infra/config';
import { consumerConfig, deploymentConsumers, provisionConsumer } from '../infra/consumers';
import { provisionAll } from '../infra/provisioning';
import { checkSchemaAtStartup } from '../infra/schemaCheck';
import { useEnvironment } from '../infra/localStack/environment';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--check-schema');
  if (unknown.length)
    throw new Error(`unknown argument ${unknown.join(' ')} (usage: provision [--check-schema])`);
  await useEnvironment();
  const config = loadConfig();
  if (args.includes('--check-schema')) {
    const report = await checkSchemaAtStartup(config, (l) => console.log(l));
    console.log(
      `schema ${report.schema} matches the table file ${report.source}` +
        (report.warnings.length ? ` (${report.warnings.length} warning(s))` : ''),
    );
    return;
  }
  await provisionAll(config, (l) => console.log(l));
  // The analytics consumer's database (infra/consumers.ts), as `npm start` runs it.
  for (const c of deploymentConsumers(config)) await provisionConsumer(consumerConfig(config, c));
}

main().then(
  () => destroyAwsClients(),
  (err: unknown) => {
    console.error(`provision: ${(err as Error).message}`);
    destroyAwsClients();
    process.exit(1);
  },
);
