import assert from 'node:assert/strict';
import { planShards } from '../../../domain/shards/reshardPlan';
import type { ShardInfo } from '../../../domain/shards/shardTypes';

const shard = (
  shardId: string,
  open: boolean,
  parentShardId?: string,
  adjacentParentShardId?: string,
): ShardInfo => ({
  shardId,
  open,
  ...(parentShardId ? { parentShardId } : {}),
  ...(adjacentParentShardId ? { adjacentParentShardId } : {}),
});

describe('resharding plan', () => {
  it('reads every shard without parents', () => {
    const plan = planShards([shard('s0', true), shard('s1', true)], new Set());
    assert.deepEqual(
      plan.map((p) => p.phase),
      ['read', 'read'],
    );
  });

  it('split: children wait until the parent ended, then are read', () => {
    const shards = [shard('p', false), shard('c1', true, 'p'), shard('c2', true, 'p')];
    assert.deepEqual(
      planShards(shards, new Set()).map((p) => [p.shardId, p.phase, p.waitingFor]),
      [
        ['p', 'read', undefined],
        ['c1', 'waiting-for-parent', ['p']],
        ['c2', 'waiting-for-parent', ['p']],
      ],
    );
    assert.deepEqual(
      planShards(shards, new Set(['p'])).map((p) => p.phase),
      ['finished', 'read', 'read'],
    );
  });

  it('merge: the child waits for both parents', () => {
    const shards = [shard('a', false), shard('b', false), shard('m', true, 'a', 'b')];
    assert.deepEqual(planShards(shards, new Set(['a'])).find((p) => p.shardId === 'm')?.waitingFor, ['b']);
    assert.equal(planShards(shards, new Set(['a', 'b'])).find((p) => p.shardId === 'm')?.phase, 'read');
  });

  it('a parent no longer listed (past retention) does not block its child', () => {
    assert.equal(planShards([shard('c', true, 'gone')], new Set())[0].phase, 'read');
  });

  it('a closed shard not yet read to its end is still read', () => {
    assert.equal(planShards([shard('closed', false)], new Set())[0].phase, 'read');
  });
});
