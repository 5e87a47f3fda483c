import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { classified } from '../failures';
import type { ApplyResult } from '../sinks/changeSink';
import type { PublishResult } from '../sinks/publisher';
import type { DeliveryPorts } from './deliver';

/**
 * The shard reader's apply and publish steps as activities (`applyEvents`, `publishEvents`; the
 * by-reference steps of activities/batches.ts delegate to them), over the consumer's ports: the
 * workflow runs the one delivery path step by step, each step held on its own.
 */
export function createDeliveryActivities(ports: Pick<DeliveryPorts, 'sink' | 'publisher'>) {
  return classified({
    applyEvents: async (events: PipelineEvent[]): Promise<ApplyResult> =>
      forHistory(await ports.sink.apply(events)),
    publishEvents: (events: PipelineEvent[]): Promise<PublishResult> => ports.publisher.publish(events),
  });
}

/** The result as the workflow has always recorded it: rejections by sequence number only. */
function forHistory(result: ApplyResult): ApplyResult {
  if (!result.rejected.some((r) => r.eventId !== undefined)) return result;
  return {
    ...result,
    rejected: result.rejected.map((r) => ({
      sequenceNumber: r.sequenceNumber,
      category: r.category,
      reason: r.reason,
    })),
  };
}
