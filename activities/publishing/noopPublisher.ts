import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { classified } from '../failures';
import type { createEventBridgeActivities } from './eventBridgePublisher';

/**
 * The `publishEvents` activity of a consumer that publishes nothing (the analytics sink): the
 * operational consumer already publishes every change and its alerts once; a second consumer of
 * the same stream publishing them again would deliver each event twice. Same name and result
 * shape as the EventBridge one, so the shard reader runs unchanged.
 */
export function createNoopPublishActivities(): ReturnType<typeof createEventBridgeActivities> {
  return classified({
    publishEvents: async (_events: PipelineEvent[]) => ({ published: 0, alerts: 0, rejected: [] }),
  });
}
