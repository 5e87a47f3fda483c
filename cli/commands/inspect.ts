/**
 * `cdc inspect <table> <entityId>` and `cdc inspect queue <name> [--force]`: what the pipeline
 * wrote, changing nothing (also `npm run inspect`). An entity: its cdc_entities item (and
 * the inventory_realtime item for inventory). A queue: up to 10 messages peeked with
 * VisibilityTimeout 0 and never deleted; a missing queue is reported, never created.
 */
import type { Command } from 'commander';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { configuredTables } from '../../domain/core/tables';
import { entityKey } from '../../domain/core/itemKeys';
import { eventRouting } from '../../infra/provisioning';
import { EntityIdSchema, NameSchema } from '../args';
import {
  CliError,
  notFound,
  parseArg,
  usageError,
  type Cli,
  type RegisterCommands,
  type Session,
} from '../runtime';

export const registerInspect: RegisterCommands = (program: Command, cli: Cli) => {
  program
    .command('inspect')
    .description(
      "look at what the pipeline wrote: an entity's DynamoDB items, or the messages of an SQS queue (changes nothing)",
    )
    .argument('<table>', "a monitored table (config/tables.yaml), or 'queue'")
    .argument(
      '<id>',
      "the entity id (primary-key values joined with '#', e.g. SKU-1#101), or the queue's name",
    )
    .option('--force', 'queue: peek even if the queue has a redrive policy (a peek counts as a receive)')
    .addHelpText(
      'after',
      `
Exit codes: 0 found, 3 no item for the entity / the queue does not exist, 2 unknown table, 1 error.

Examples:
  cdc inspect inventory 'SKU-1#1'
  cdc inspect queue cdc-pipeline-inventory-events
  cdc --json inspect users 42`,
    )
    .action(async (what: string, id: string, opts: { force?: boolean }) => {
      await cli.session(async (s) => {
        if (what === 'queue')
          return peekQueue(cli, s, parseArg(NameSchema, id, 'queue name'), Boolean(opts.force));
        const table = parseArg(NameSchema, what, 'table');
        const entityId = parseArg(EntityIdSchema, id, 'entity id');
        const known = [...configuredTables().keys()];
        if (!known.includes(table))
          throw usageError(
            `table '${table}' is not monitored (known: ${known.join(', ')}; or 'queue <name>')`,
          );
        const { doc } = s.aws();
        const pk = entityKey(table, entityId);
        const entity =
          (
            await doc.send(
              new GetCommand({ TableName: s.config.tables.entities, Key: { pk }, ConsistentRead: true }),
            )
          ).Item ?? null;
        const inventory =
          table === 'inventory'
            ? ((
                await doc.send(
                  new GetCommand({
                    TableName: s.config.tables.inventory,
                    Key: { pk: entityId },
                    ConsistentRead: true,
                  }),
                )
              ).Item ?? null)
            : undefined;
        const doc_ = {
          table,
          entityId,
          entity: { table: s.config.tables.entities, pk, item: entity },
          ...(inventory !== undefined
            ? { inventory: { table: s.config.tables.inventory, pk: entityId, item: inventory } }
            : {}),
        };
        cli.out.result(doc_, () =>
          [
            `${s.config.tables.entities} ${pk}:`,
            JSON.stringify(entity, null, 2),
            ...(inventory !== undefined
              ? [`${s.config.tables.inventory} ${entityId}:`, JSON.stringify(inventory, null, 2)]
              : []),
          ].join('\n'),
        );
        if (!entity && !inventory)
          throw notFound(`no item for ${table} ${entityId} in ${s.config.tables.entities}`);
      });
    });
};

/** Peeks: ReceiveMessage with VisibilityTimeout 0 (the messages stay visible), no DeleteMessage. */
async function peekQueue(cli: Cli, s: Session, name: string, force: boolean): Promise<void> {
  const { sqs } = s.aws();
  let url: string;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
  } catch (err) {
    const e = err as Error;
    if (!/QueueDoesNotExist|NonExistentQueue/.test(`${e.name} ${e.message}`)) throw err;
    const ours = Object.values(eventRouting(s.config.eventBus).queues).join(', ');
    throw notFound(`queue '${name}' does not exist (nothing was created); the pipeline's queues: ${ours}`);
  }
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
    throw new CliError(
      `queue '${name}' has a redrive policy (maxReceiveCount ${max ?? '?'}): a peek counts as a receive and could move messages to its dead-letter queue; pass --force to peek anyway`,
    );
  }
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 0,
      WaitTimeSeconds: 1,
    }),
  );
  const messages = (out.Messages ?? []).map((m) => ({ messageId: m.MessageId, body: parse(m.Body ?? '') }));
  const visible = attrs.ApproximateNumberOfMessages ?? '?';
  const inFlight = attrs.ApproximateNumberOfMessagesNotVisible ?? '?';
  cli.out.result(
    { queue: name, url, approximateVisible: visible, approximateInFlight: inFlight, messages },
    () =>
      [
        `Peeking at queue ${name}: about ${visible} messages visible, ${inFlight} in flight. Peeked messages stay on the queue, visible to its consumers (received with VisibilityTimeout 0, never deleted).`,
        ...messages.flatMap((m) => [
          `--- message ${m.messageId}`,
          typeof m.body === 'string' ? m.body : JSON.stringify(m.body, null, 2),
        ]),
        ...(messages.length ? [] : ['(no messages)']),
      ].join('\n'),
  );
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}
