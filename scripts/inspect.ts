/**
 * Look at what the pipeline wrote: `inspect <table> <entityId>` prints the current item of
 * cdc_entities (and of inventory_realtime for inventory), `inspect queue <name>` reads a few
 * messages from an SQS target (they become visible again after 30 s).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { awsClients, destroyAwsClients } from '../infra/aws';
import { loadConfig } from '../infra/config';
import { queueUrl } from '../infra/provisioning';
import { applyLocalStackEnv } from './lib/localStack';

async function main(): Promise<void> {
  if (process.env.CDC_USE_AWS !== 'true') applyLocalStackEnv();
  const config = loadConfig();
  const [what, id] = process.argv.slice(2);
  if (!what || !id) throw new Error('usage: inspect <table> <entityId> | inspect queue <queue-name>');
  if (what === 'queue') {
    const out = await awsClients().sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: await queueUrl(id),
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        WaitTimeSeconds: 1,
      }),
    );
    for (const m of out.Messages ?? []) console.log(JSON.stringify(JSON.parse(m.Body ?? '{}'), null, 2));
    if (!out.Messages?.length) console.log('(no messages)');
    return;
  }
  const { doc } = awsClients();
  const entity = await doc.send(
    new GetCommand({ TableName: config.tables.entities, Key: { pk: `${what}#${id}` } }),
  );
  console.log(JSON.stringify(entity.Item ?? null, null, 2));
  if (what === 'inventory') {
    const view = await doc.send(new GetCommand({ TableName: config.tables.inventory, Key: { pk: id } }));
    console.log(JSON.stringify(view.Item ?? null, null, 2));
  }
}

main()
  .catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 1;
  })
  .finally(() => destroyAwsClients());
