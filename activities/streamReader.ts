import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type GetRecordsCommandOutput,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { awsClients } from '../infra/aws';
import type { PullInput, PullResult, ShardInfo, StreamRecord } from '../domain/shards/shardTypes';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function toStreamRecord(r: NonNullable<GetRecordsCommandOutput['Records']>[number]): StreamRecord {
  const bytes = r.Data ?? new Uint8Array();
  let data: string;
  let encoding: StreamRecord['encoding'] = 'utf8';
  try {
    data = utf8.decode(bytes);
  } catch {
    data = Buffer.from(bytes).toString('base64');
    encoding = 'base64';
  }
  return {
    sequenceNumber: r.SequenceNumber!,
    partitionKey: r.PartitionKey ?? '',
    data,
    encoding,
    arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
  };
}

async function iteratorFor(input: PullInput): Promise<string | undefined> {
  const out = await awsClients().kinesis.send(
    new GetShardIteratorCommand({
      StreamName: input.stream,
      ShardId: input.shardId,
      ...(input.afterSequenceNumber
        ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: input.afterSequenceNumber }
        : { ShardIteratorType: 'TRIM_HORIZON' }),
    }),
  );
  return out.ShardIterator;
}

export const streamReaderActivities = {
  async listShards(stream: string): Promise<ShardInfo[]> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const out = await awsClients().kinesis.send(
        new ListShardsCommand(token ? { NextToken: token } : { StreamName: stream }),
      );
      shards.push(...(out.Shards ?? []));
      token = out.NextToken;
    } while (token);
    return shards.map((s) => ({
      shardId: s.ShardId!,
      ...(s.ParentShardId ? { parentShardId: s.ParentShardId } : {}),
      ...(s.AdjacentParentShardId ? { adjacentParentShardId: s.AdjacentParentShardId } : {}),
      open: s.SequenceNumberRange?.EndingSequenceNumber === undefined,
    }));
  },

  /**
   * Reads the next records after the checkpoint, bounded by count and bytes. A fresh iterator is
   * taken from the sequence number each call (iterators expire after five minutes). When caught
   * up it polls with a bounded backoff for up to `waitMs`, heartbeating, instead of returning
   * at once, so an idle shard costs little workflow history.
   */
  async pullRecords(input: PullInput): Promise<PullResult> {
    const ctx = Context.current();
    const { kinesis } = awsClients();
    const deadline = Date.now() + input.waitMs;
    let iterator = await iteratorFor(input);
    let idleDelay = 50;
    for (;;) {
      if (!iterator) return { records: [], millisBehindLatest: 0, shardEnded: true };
      let out: GetRecordsCommandOutput;
      try {
        out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: input.maxRecords }));
      } catch (err) {
        if (err instanceof ExpiredIteratorException) {
          iterator = await iteratorFor(input);
          continue;
        }
        throw err;
      }
      const records: StreamRecord[] = [];
      let bytes = 0;
      for (const r of out.Records ?? []) {
        const rec = toStreamRecord(r);
        const size = Buffer.byteLength(rec.data) + rec.partitionKey.length + rec.sequenceNumber.length;
        if (records.length > 0 && bytes + size > input.maxBytes) break; // the rest is read next time
        records.push(rec);
        bytes += size;
      }
      const behind = out.MillisBehindLatest ?? 0;
      if (records.length > 0) return { records, millisBehindLatest: behind, shardEnded: false };
      if (!out.NextShardIterator) return { records: [], millisBehindLatest: 0, shardEnded: true };
      iterator = out.NextShardIterator;
      if (behind > 0) continue; // empty page but data ahead: keep reading
      if (Date.now() >= deadline || ctx.cancellationSignal.aborted) {
        return { records: [], millisBehindLatest: 0, shardEnded: false };
      }
      ctx.heartbeat();
      await sleep(idleDelay);
      idleDelay = Math.min(idleDelay * 2, 250);
    }
  },
};
