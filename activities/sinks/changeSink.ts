import type { PipelineEvent } from '../../domain/core/pipelineEvent';
import type { Rejection } from '../../domain/shards/shardTypes';

/** What a sink did with a batch. */
export interface ApplyResult {
  /** Changes written. */
  applied: number;
  /** Changes not written because the sink already holds the same or a newer version (replays). */
  stale: number;
  /** Changes not written because a newer full change of the same key came later in the batch. */
  coalesced: number;
  /** Records that failed for reasons of their own (dead-lettered; the batch goes on). */
  rejected: Rejection[];
  /**
   * Event ids of changes strictly older than what the sink held or than a change of the same key
   * before them in the batch (`domain/processing/outdated.ts`): not written and not news, so not
   * published. Absent: none (sinks without versions, results recorded before it existed).
   */
  outdated?: string[];
}

/**
 * Where the shard reader applies a batch of redacted changes (today DynamoDB; an analytics sink
 * would be a second implementation). A sink must be idempotent: a batch may be applied again
 * after a retry or a restart. A failure that is not the record's own rejects the whole batch, so
 * the shard holds.
 */
export interface ChangeSink {
  readonly name: string;
  apply(events: PipelineEvent[]): Promise<ApplyResult>;
}
