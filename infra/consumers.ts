/**
 * The consumers a deployment runs on its stream. A consumer is (name, sink): its own stream
 * supervisor and shard readers (`cdc-supervisor:<stream>:<name>`, the same workflows for every
 * sink) on its own task queue, served by its own worker whose configuration binds the sink's
 * activities (activities/index.ts). Checkpoints, dead letters, pause/resume, STUCK and metrics
 * are keyed by the consumer's name, so consumers share nothing but the Kinesis stream: a stuck or
 * paused one never holds another back.
 *
 * What they do share is the stream's read capacity: 5 GetRecords calls and 2 MB/s per shard for
 * all shared-throughput consumers together. A shard reader polls at most 4 times a second while
 * idle (workflows/shardReader/pull.ts), so two consumers can exceed the call limit on an idle
 * shard and be throttled (retried, never lost); a busy one reads 500 records per call. Beyond two
 * consumers, or when a consumer needs its own 2 MB/s, use enhanced fan-out on AWS
 * (SubscribeToShard: a dedicated 2 MB/s pipe per registered consumer).
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { streamSupervisorWorkflow } from '../workflows';
import { supervisorWorkflowId } from '../workflows/names';
import type { BatchSettings } from '../workflows/shardReader';
import type { PipelineConfig, SinkKind } from './config';
import { provisionAnalytics } from './provisioning';

export interface Consumer {
  /** Consumer name: part of workflow ids, checkpoint and dead-letter keys, the metrics' `consumer` label. */
  name: string;
  sink: SinkKind;
  /** The task queue its supervisor, shard readers and activities run on (its own worker). */
  taskQueue: string;
}

/** The analytics consumer's name: `cdc-supervisor:<stream>:analytics`. */
export const ANALYTICS_CONSUMER = 'analytics';

/**
 * The consumers of a deployment: the operational one (the configured consumer name and task
 * queue: DynamoDB and EventBridge) and the analytics one (`analytics` on `<taskQueue>-analytics`).
 */
export function deploymentConsumers(base: PipelineConfig): Consumer[] {
  return [
    { name: base.consumer, sink: 'operational', taskQueue: base.taskQueue },
    { name: ANALYTICS_CONSUMER, sink: 'analytics', taskQueue: `${base.taskQueue}-analytics` },
  ];
}

/**
 * The configuration of a consumer's worker: the base configuration with the consumer's name, task
 * queue and sink. Reservation expiry stays with the operational consumer (holds are released once).
 */
export function consumerConfig(base: PipelineConfig, consumer: Consumer): PipelineConfig {
  return {
    ...base,
    consumer: consumer.name,
    taskQueue: consumer.taskQueue,
    sink: consumer.sink,
    reservationExpiry: consumer.sink === 'operational' && base.reservationExpiry,
  };
}

/** What a consumer's sink needs besides the shared resources of provisionAll (the analytics database). */
export async function provisionConsumer(config: PipelineConfig): Promise<void> {
  if (config.sink === 'analytics') await provisionAnalytics(config);
}

export interface ConsumerStartOptions {
  settings?: Partial<BatchSettings>;
  rescanSeconds?: number;
}

/**
 * Starts the consumer's stream supervisor (which starts its shard readers) on its task queue, or
 * leaves it be when it runs: safe on every start. Capture is started once, by startPipeline with
 * the operational configuration (infra/pipelineClient.ts); this starts readers only.
 */
export async function startConsumer(
  client: Client,
  config: PipelineConfig,
  opts: ConsumerStartOptions = {},
): Promise<WorkflowHandle<typeof streamSupervisorWorkflow>> {
  return client.workflow.start(streamSupervisorWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: supervisorWorkflowId(config.stream, config.consumer),
    workflowIdConflictPolicy: 'USE_EXISTING',
    args: [
      {
        stream: config.stream,
        consumer: config.consumer,
        ...(opts.settings ? { settings: opts.settings } : {}),
        ...(opts.rescanSeconds ? { rescanSeconds: opts.rescanSeconds } : {}),
      },
    ],
  });
}
