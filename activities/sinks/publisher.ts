import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { Rejection } from '../../domain/shards/shardTypes';

/** What a publisher did with a batch of changes. */
export interface PublishResult {
  /** Events consumers were given. */
  published: number;
  /** Alerts the events raised that were published now (each alert once). */
  alerts: number;
  /** Events refused for reasons of their own (dead-lettered; the batch goes on). */
  rejected: Rejection[];
}

/**
 * Where applied changes are announced to consumers, beside the `ChangeSink` that stores them
 * (changeSink.ts): EventBridge for the operational consumer
 * (activities/publishing/eventBridgePublisher.ts), nothing for a consumer that only stores
 * (activities/publishing/noopPublisher.ts). Publishing a change again (a retry) is harmless:
 * consumers deduplicate by event id. A failure that is not an event's own rejects the whole call.
 */
export interface Publisher {
  /** Names the publisher in reasons (`EventBridge: PutEvents …`). */
  readonly name: string;
  publish(events: PipelineEvent[]): Promise<PublishResult>;
}
