import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  BOARD_QUEUE_RETENTION_SECONDS,
  BOARD_TARGET_ID,
  eventRouting,
  QUEUE_TARGET_ID,
} from '../../infra/provisioning';
import { eventArchive } from '../../infra/resourceDefinitions';
import type { DeployConfig } from '../config';

/** How long a message waits in a dead-letter queue (SQS's maximum). */
const DEAD_LETTER_RETENTION = Duration.days(14);

export interface PipelineEvents {
  bus: events.EventBus;
  rules: events.CfnRule[];
  /** Every target queue (consumers' and boards'), by name. */
  queues: Map<string, sqs.Queue>;
  /** Their dead-letter queues, by the name of the queue they serve. */
  deadLetterQueues: Map<string, sqs.Queue>;
  archive: events.CfnArchive;
}

/**
 * The bus (CDC_EVENT_BUS), its rules with their two SQS targets each (the consumers' queue, id
 * `queue`, and the live board's copy, id `board`: the names, patterns and ids of `eventRouting`,
 * infra/provisioning.ts), every queue with a dead-letter queue of its own, and the archive. Queues
 * are encrypted (SQS managed keys: EventBridge delivers to them without a key policy) and refuse
 * requests without TLS; each accepts messages from its own rule only.
 */
export function pipelineEvents(scope: Construct, config: DeployConfig): PipelineEvents {
  const busName = config.pipeline.eventBus;
  const bus = new events.EventBus(scope, 'EventBus', { eventBusName: busName });
  const routing = eventRouting(busName);
  const queues = new Map<string, sqs.Queue>();
  const deadLetterQueues = new Map<string, sqs.Queue>();
  const group = new Construct(scope, 'Routing');

  const queue = (name: string, retention?: Duration) => {
    const dlq = new sqs.Queue(group, `${name}-dlq`, {
      queueName: `${name}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    const q = new sqs.Queue(group, name, {
      queueName: name,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      ...(retention ? { retentionPeriod: retention } : {}),
      deadLetterQueue: { queue: dlq, maxReceiveCount: config.queueMaxReceives },
    });
    queues.set(name, q);
    deadLetterQueues.set(name, dlq);
    return q;
  };

  const rules = routing.rules.map((r) => {
    const consumers = queue(r.queue);
    const board = queue(r.boardQueue, Duration.seconds(BOARD_QUEUE_RETENTION_SECONDS));
    const rule = new events.CfnRule(group, `${r.name}-rule`, {
      name: r.name,
      eventBusName: bus.eventBusName,
      eventPattern: r.pattern,
      state: 'ENABLED',
      targets: [
        { id: QUEUE_TARGET_ID, arn: consumers.queueArn },
        { id: BOARD_TARGET_ID, arn: board.queueArn },
      ],
    });
    for (const q of [consumers, board])
      q.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DeliveriesOfItsRule',
          principals: [new iam.ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [q.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
        }),
      );
    return rule;
  });

  const spec = eventArchive(busName);
  const archive = new events.CfnArchive(scope, 'EventArchive', {
    archiveName: spec.name,
    sourceArn: bus.eventBusArn,
    eventPattern: spec.pattern,
    retentionDays: spec.retentionDays,
  });
  return { bus, rules, queues, deadLetterQueues, archive };
}
