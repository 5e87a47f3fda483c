import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { shardCheckpointKey, shardIdOfCheckpointKey } from '../domain/core/itemKeys';
import { sortableSequence } from '../domain/shards/shardTypes';
import type { ActivityDeps } from './deps';
import { classified } from './failures';

/** BatchGetItem reads at most 100 keys per request. */
const BATCH_GET_MAX_KEYS = 100;

/** A shard's checkpoint and SHARD_END marker in cdc_state, one item per (consumer, stream, shard). */
export function createCheckpointActivities(deps: ActivityDeps) {
  return classified({
    loadCheckpoint: (shardId: string) => loadCheckpoint(deps, shardId),
    saveCheckpoint: (input: { shardId: string; sequenceNumber: string }) => saveCheckpoint(deps, input),
    markShardEnded: (shardId: string) => markShardEnded(deps, shardId),
    endedShards: (shardIds: string[]) => endedShards(deps, shardIds),
  });
}

const checkpointKey = ({ config }: ActivityDeps, shardId: string) =>
  shardCheckpointKey(config.consumer, config.stream, shardId);

/** The last processed sequence number of the shard, if any. */
async function loadCheckpoint(deps: ActivityDeps, shardId: string): Promise<string | undefined> {
  const out = await deps.aws.doc.send(
    new GetCommand({
      TableName: deps.config.tables.state,
      Key: { pk: checkpointKey(deps, shardId) },
      ConsistentRead: true,
    }),
  );
  return out.Item?.sequenceNumber as string | undefined;
}

/** Checkpoints only move forward (conditional write on the sortable sequence number); false when not saved. */
export async function saveCheckpoint(
  deps: ActivityDeps,
  input: { shardId: string; sequenceNumber: string },
): Promise<boolean> {
  const sortable = sortableSequence(input.sequenceNumber);
  try {
    await deps.aws.doc.send(
      new UpdateCommand({
        TableName: deps.config.tables.state,
        Key: { pk: checkpointKey(deps, input.shardId) },
        UpdateExpression: 'SET sequenceNumber = :seq, sortable = :s, updatedAt = :now',
        ConditionExpression: 'attribute_not_exists(sortable) OR sortable < :s',
        ExpressionAttributeValues: {
          ':seq': input.sequenceNumber,
          ':s': sortable,
          ':now': new Date().toISOString(),
        },
      }),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

/** Records that a shard was read to SHARD_END and checkpointed: its children may start. */
async function markShardEnded(deps: ActivityDeps, shardId: string): Promise<void> {
  await deps.aws.doc.send(
    new UpdateCommand({
      TableName: deps.config.tables.state,
      Key: { pk: checkpointKey(deps, shardId) },
      UpdateExpression: 'SET shardEnded = :t, endedAt = if_not_exists(endedAt, :now)',
      ExpressionAttributeValues: { ':t': true, ':now': new Date().toISOString() },
    }),
  );
}

/** The shards among `shardIds` that were marked ended. */
async function endedShards(deps: ActivityDeps, shardIds: string[]): Promise<string[]> {
  const ended: string[] = [];
  for (let i = 0; i < shardIds.length; i += BATCH_GET_MAX_KEYS) {
    const keys = shardIds.slice(i, i + BATCH_GET_MAX_KEYS).map((id) => ({ pk: checkpointKey(deps, id) }));
    ended.push(...(await endedAmong(deps, keys)));
  }
  return ended;
}

/** One BatchGetItem of at most 100 keys, re-requesting unprocessed keys until all were read. */
async function endedAmong(deps: ActivityDeps, keys: { pk: string }[]): Promise<string[]> {
  const table = deps.config.tables.state;
  const ended: string[] = [];
  let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
    [table]: { Keys: keys, ConsistentRead: true },
  };
  while (request && Object.keys(request).length) {
    const out = await deps.aws.doc.send(new BatchGetCommand({ RequestItems: request }));
    for (const item of out.Responses?.[table] ?? []) {
      if (item.shardEnded) ended.push(shardIdOfCheckpointKey(String(item.pk)));
    }
    request = out.UnprocessedKeys as typeof request;
  }
  return ended;
}
