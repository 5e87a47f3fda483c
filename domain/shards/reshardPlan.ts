import type { ShardInfo } from './shardTypes';

export type ShardPhase = 'read' | 'waiting-for-parent' | 'finished';

export interface ShardPlanEntry {
  shardId: string;
  phase: ShardPhase;
  /** Parents this shard still waits for. */
  waitingFor?: string[];
}

/**
 * Kinesis resharding rule: a child shard is read only after each of its parents (split: one;
 * merge: two) was read to SHARD_END and checkpointed, so the records of one key stay in order
 * across a reshard. A parent that is no longer listed (past retention) does not block.
 */
export function planShards(shards: readonly ShardInfo[], ended: ReadonlySet<string>): ShardPlanEntry[] {
  const listed = new Set(shards.map((s) => s.shardId));
  return shards.map((s) => {
    if (ended.has(s.shardId)) return { shardId: s.shardId, phase: 'finished' };
    const parents = [s.parentShardId, s.adjacentParentShardId].filter((p): p is string => p !== undefined);
    const waitingFor = parents.filter((p) => listed.has(p) && !ended.has(p));
    return waitingFor.length
      ? { shardId: s.shardId, phase: 'waiting-for-parent', waitingFor }
      : { shardId: s.shardId, phase: 'read' };
  });
}
