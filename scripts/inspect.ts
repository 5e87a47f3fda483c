/**
 * Look at what the pipeline wrote, changing nothing:
 * - `inspect <table> <entityId>` prints the current item of cdc_entities (and of
 *   inventory_realtime for inventory);
 * - `inspect queue <name>` peeks at up to 10 messages of an SQS queue: received with
 *   VisibilityTimeout 0 and never deleted, so they stay visible to the queue's consumers. A queue
 *   that does not exist is reported, never created.
 * Connects where the standard variables point, else to the local stack when it runs
 * (infra/localStack/environment.ts).
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { awsClients, destroyAwsClients } from '../infra/aws';
import { loadConfig, type PipelineConfig } from '../infra/config';
import { eventRouting } from '../infra/provisioning';
import { useEnvironment } from '../infra/localStack/environment';

const USAGE = 'usage: inspect <table> <entityId> | inspect queue <queue-name> [--force]';

class InspectError extends Error {}

async function main(): Promise<void> {
  await useEnvironment({ summary: false });
  const config = loadConfig();
  const [what, id, ...flags] = process.argv.slice(2);
  if (!what || !id) throw new InspectError(USAGE);
  if (what === 'queue') return peekQueue(config, id, flags.includes('--force'));
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

/** Peeks: ReceiveMessage with VisibilityTimeout 0 (the messages stay visible), no DeleteMessage. */
async function peekQueue(config: PipelineConfig, name: string, force: boolean): Promise<void> {
  const { sqs } = awsClients();
  const url = await existingQueueUrl(config, name);
  const attrs =
    (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'RedrivePolicy',
          ],
        }),
      )
    ).Attributes ?? {};
  if (attrs.RedrivePolicy && !force) {
    const max = (JSON.parse(attrs.RedrivePolicy) as { maxReceiveCount?: number }).maxReceiveCount;
    throw new InspectError(
      `queue '${name}' has a redrive policy (maxReceiveCount ${max ?? '?'}): a peek counts as a receive and could move messages to its dead-letter queue; pass --force to peek anyway`,
    );
  }
  console.log(
    `Peeking at queue ${name}: about ${attrs.ApproximateNumberOfMessages ?? '?'} messages visible, ` +
      `${attrs.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight. Peeked messages stay on the queue, ` +
      `visible to its consumers (received with VisibilityTimeout 0, never deleted).`,
  );
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 1,
    }),
  );
  for (const m of out.Messages ?? []) {
    console.log(`--- message ${m.MessageId}`);
    console.log(pretty(m.Body ?? ''));
  }
  if (!out.Messages?.length) console.log('(no messages)');
}

/** The queue's URL, without creating it (GetQueueUrl): a missing queue is a one-line error. */
async function existingQueueUrl(config: PipelineConfig, name: string): Promise<string> {
  try {
    const out = await awsClients().sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    return out.QueueUrl!;
  } catch (err) {
    const e = err as Error;
    if (!/QueueDoesNotExist|NonExistentQueue/.test(`${e.name} ${e.message}`)) throw err;
    const ours = Object.values(eventRouting(config.eventBus).queues).join(', ');
    throw new InspectError(
      `queue '${name}' does not exist (nothing was created); the pipeline's queues: ${ours}`,
    );
  }
}

function pretty(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

main()
  .catch((err: unknown) => {
    console.error(`inspect: ${(err as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => destroyAwsClients());
