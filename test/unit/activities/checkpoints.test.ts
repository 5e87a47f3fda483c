import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../../activities';
import { shardCheckpointKey } from '../../../domain/core/itemKeys';
import { loadConfig } from '../../../infra/config';
import { awsError, fakes, type Fakes } from './fakes';

const config = loadConfig({});

describe('checkpoint activities (fake DynamoDB)', () => {
  let f: Fakes;
  let activities: ReturnType<typeof createActivities>;
  beforeEach(() => {
    f = fakes();
    activities = createActivities(config, f.io);
  });

  it('has no checkpoint for a shard never saved', async () => {
    assert.equal(await activities.loadCheckpoint('shardId-000000000000'), undefined);
  });

  it('only moves forward, in sequence-number order (not string order)', async () => {
    const shardId = 'shardId-000000000000';
    const save = (sequenceNumber: string) => activities.saveCheckpoint({ shardId, sequenceNumber });

    assert.equal(await save('900'), true);
    assert.equal(await save('1000'), true, '1000 follows 900 although "1000" < "900" as strings');
    assert.equal(await save('999'), false);
    assert.equal(await save('1000'), false, 'the same position again is not a move');
    assert.equal(await activities.loadCheckpoint(shardId), '1000');
    assert.equal(
      f.doc.item(config.tables.state, shardCheckpointKey(config.consumer, config.stream, shardId))
        ?.sequenceNumber,
      '1000',
    );
  });

  it('keeps the checkpoints of different shards apart', async () => {
    await activities.saveCheckpoint({ shardId: 'shardId-000000000000', sequenceNumber: '500' });
    await activities.saveCheckpoint({ shardId: 'shardId-000000000001', sequenceNumber: '7' });
    assert.equal(await activities.loadCheckpoint('shardId-000000000000'), '500');
    assert.equal(await activities.loadCheckpoint('shardId-000000000001'), '7');
  });

  it('marks shards ended without touching the checkpoint, and lists the ended ones', async () => {
    await activities.saveCheckpoint({ shardId: 'shardId-000000000001', sequenceNumber: '42' });
    await activities.markShardEnded('shardId-000000000001');
    await activities.markShardEnded('shardId-000000000003');
    await activities.markShardEnded('shardId-000000000003'); // again: idempotent

    const ids = [0, 1, 2, 3].map((n) => `shardId-00000000000${n}`);
    assert.deepEqual((await activities.endedShards(ids)).sort(), [
      'shardId-000000000001',
      'shardId-000000000003',
    ]);
    assert.equal(await activities.loadCheckpoint('shardId-000000000001'), '42');
  });

  it('reads ended markers 100 keys at a time, re-requesting unprocessed keys', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    const ended = ids.filter((_, i) => i % 7 === 0);
    for (const id of ended) await activities.markShardEnded(id);
    f.doc.batchGetLimit = 30;

    assert.deepEqual((await activities.endedShards(ids)).sort(), ended);
    const requests = f.doc.sent.filter((c) => c.name === 'BatchGetCommand');
    assert.ok(requests.every((r) => r.input.RequestItems[config.tables.state].Keys.length <= 100));
    assert.ok(requests.length > 3, 'unprocessed keys were asked for again');
  });

  it('fails with a failure type, not the raw AWS error, when the state table is missing', async () => {
    f.doc.before = () => {
      throw awsError('ResourceNotFoundException', 'Requested resource not found');
    };
    await assert.rejects(
      activities.saveCheckpoint({ shardId: 'shardId-000000000000', sequenceNumber: '1' }),
      (err) => err instanceof ApplicationFailure && err.type === 'configuration',
    );
  });
});
