import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { Rejection } from '../../domain/shards/shardTypes';

/**
 * A record the sink refused for reasons of its own. `eventId` names the very change, so the one
 * delivery path (activities/delivery/deliver.ts) leaves out exactly that change when several share
 * a sequence number (a backfill chunk's, a key change's two events); the shard reader's
 * `applyEvents` drops it before the result reaches workflow history.
 */
export interface SinkRejection extends Rejection {
  eventId?: string;
}

/** What a sink did with a batch. */
export interface ApplyResult {
  /** Changes written. */
  applied: number;
  /** Changes not written because the sink already holds the same or a newer version (replays). */
  stale: number;
  /** Changes not written because a newer full change of the same key came later in the batch. */
  coalesced: number;
  /** Records that failed for reasons of their own (dead-lettered; the batch goes on). */
  rejected: SinkRejection[];
  /**
   * Event ids of changes strictly older than what the sink held or than a change of the same key
   * before them in the batch (`domain/processing/outdated.ts`): not written and not news, so not
   * published. Absent: none (sinks without versions, results recorded before it existed).
   */
  outdated?: string[];
}

/**
 * Where a consumer applies a batch of redacted changes: DynamoDB (dynamoDbSink.ts) or the
 * analytics database (analyticsSink.ts), for its shard readers, backfills and redrives alike
 * (activities/delivery/). What it applied is then announced by a `Publisher` (publisher.ts).
 * A sink must be idempotent: a batch may be applied again
 * after a retry or a restart. A failure that is not the record's own rejects the whole batch, so
 * the shard holds.
 */
export interface ChangeSink {
  readonly name: string;
  apply(events: PipelineEvent[]): Promise<ApplyResult>;
}
