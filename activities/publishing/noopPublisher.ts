import type { Publisher } from '../sinks/publisher';

/**
 * The publisher of a consumer that publishes nothing (the analytics sink): the operational
 * consumer already publishes every change and its alerts once; a second consumer of the same
 * stream publishing them again would deliver each event twice. Same result shape as the
 * EventBridge one, so the shard reader, backfill and redrive run unchanged.
 */
export const noopPublisher: Publisher = {
  name: 'none',
  publish: async () => ({ published: 0, alerts: 0, rejected: [] }),
};
