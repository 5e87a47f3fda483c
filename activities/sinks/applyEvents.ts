import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import { classified } from '../failures';
import type { ApplyResult, ChangeSink } from './changeSink';

/** The `applyEvents` activity: the shard reader's apply step, delegated to the sink. */
export function createApplyActivities(sink: ChangeSink) {
  return classified({
    applyEvents: (events: PipelineEvent[]): Promise<ApplyResult> => sink.apply(events),
  });
}
