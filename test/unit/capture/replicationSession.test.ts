import assert from 'node:assert/strict';
import type { Client } from 'pg';
import { ReplicationSession } from '../../../activities/capture/replicationSession';
import { SOURCE_IDENTITY_SQL } from '../../../activities/capture/sourceEpoch';
import type { PgClientFactory } from '../../../activities/deps';

/**
 * The back-pressure that keeps capture's memory bounded however large a transaction is: the
 * socket is paused once more than 10,000 chunks of copy data wait to be decoded, and resumed
 * once fewer than 1,000 do. (What the worker's memory does under a 100,000-row transaction is
 * measured by `npm run bench:capture-memory`.)
 */
describe('replication session back-pressure', () => {
  function fakeConnection() {
    let onCopyData: (m: { chunk: Buffer }) => void = () => undefined;
    const calls: ('pause' | 'resume')[] = [];
    const pg: PgClientFactory = () =>
      ({
        database: 'inventory',
        connect: async () => undefined,
        on: () => undefined,
        end: async () => undefined,
        query: (sql: string) =>
          sql === SOURCE_IDENTITY_SQL
            ? Promise.resolve({ rows: [{ system_id: '7316660269188125790', timeline: 1 }] })
            : undefined,
        connection: {
          on: (_event: string, listener: typeof onCopyData) => (onCopyData = listener),
          sendCopyFromChunk: () => undefined,
          stream: { pause: () => calls.push('pause'), resume: () => calls.push('resume') },
        },
      }) as unknown as Client;
    // One read buffer, overwritten for every chunk, as pg does.
    const readBuffer = Buffer.alloc(1);
    const deliver = (n: number) => {
      for (let i = 0; i < n; i++) {
        readBuffer[0] = i % 256;
        onCopyData({ chunk: readBuffer });
      }
    };
    return { pg, calls, deliver };
  }

  it('pauses the socket above 10,000 waiting chunks and resumes it below 1,000', async () => {
    const c = fakeConnection();
    const session = await ReplicationSession.start(c.pg, 'slot', 'pub');
    c.deliver(10_000);
    assert.deepEqual(c.calls, [], 'not paused at the bound');
    c.deliver(1);
    assert.ok(c.calls.length > 0 && c.calls.every((x) => x === 'pause'), 'paused past the bound');
    c.calls.length = 0;
    // Decoding drains the queue: no resume while 1,000 or more still wait.
    for (let i = 0; i < 9_001; i++) assert.ok(session.nextChunk());
    assert.deepEqual(c.calls, []);
    assert.ok(session.nextChunk());
    assert.deepEqual(c.calls, ['resume']);
    await session.close();
  });

  it('hands out copies of the chunks in arrival order (pg reuses its read buffer)', async () => {
    const c = fakeConnection();
    const session = await ReplicationSession.start(c.pg, 'slot', 'pub');
    c.deliver(3);
    assert.deepEqual(
      [session.nextChunk(), session.nextChunk(), session.nextChunk()].map((b) => b?.[0]),
      [0, 1, 2],
    );
    assert.equal(session.nextChunk(), undefined);
    await session.close();
  });
});
