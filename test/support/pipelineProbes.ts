import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { ChangeEventSchema, type ChangeEvent } from '../../domain/core/changeEvent';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { deadLetterKey } from '../../domain/core/itemKeys';
import { awsClients } from '../../infra/aws';
import { queueUrl } from '../../infra/provisioning';
import { shardWorkflowId, supervisorWorkflowId } from '../../workflows/names';
import type { ShardStatus } from '../../workflows/shardReader';
import type { SupervisorOverview } from '../../workflows/supervisor';
import type { TestPipeline } from './testPipeline';
import { waitFor } from './waitFor';

/** Reads of the pipeline's state that tests assert on. */
export function probes(p: TestPipeline) {
  const { doc, sqs, kinesis } = awsClients();
  const shardHandle = (shardId: string) =>
    p.client.workflow.getHandle(shardWorkflowId(p.config.stream, p.config.consumer, shardId));
  const supervisor = () =>
    p.client.workflow.getHandle(supervisorWorkflowId(p.config.stream, p.config.consumer));

  /** Every record on the stream, shard by shard from TRIM_HORIZON to the tip, each shard in order. */
  async function* streamRecords(): AsyncGenerator<{ shardId: string; record: KinesisRecord }> {
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: p.config.stream }))).Shards ?? [];
    for (const shard of shards) {
      let iterator = (
        await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: p.config.stream,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (iterator) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) yield { shardId: shard.ShardId!, record };
        if (!page.Records?.length && !page.MillisBehindLatest) break;
        iterator = page.NextShardIterator;
      }
    }
  }
  return {
    shardHandle,
    supervisor,
    entity: async (table: string, id: string) =>
      (
        await doc.send(
          new GetCommand({
            TableName: p.config.tables.entities,
            Key: { pk: `${table}#${id}` },
            ConsistentRead: true,
          }),
        )
      ).Item,
    dlq: async (shardId: string, sequenceNumber: string) =>
      (
        await doc.send(
          new GetCommand({
            TableName: p.config.tables.dlq,
            Key: { pk: deadLetterKey(p.config.consumer, p.config.stream, shardId, sequenceNumber) },
            ConsistentRead: true,
          }),
        )
      ).Item,
    state: async (pk: string) =>
      (
        await doc.send(
          new GetCommand({ TableName: p.config.tables.state, Key: { pk }, ConsistentRead: true }),
        )
      ).Item,
    shardStatus: (shardId: string) => shardHandle(shardId).query<ShardStatus>('status'),
    overview: () => supervisor().query<SupervisorOverview>('overview'),
    /** Waits until the running shard readers are the given number, and returns their statuses. */
    allShardStatuses: async (): Promise<ShardStatus[]> => {
      const overview = await supervisor().query<SupervisorOverview>('overview');
      const reading = overview.shards.filter((s) => s.phase === 'read');
      return Promise.all(reading.map((s) => shardHandle(s.shardId).query<ShardStatus>('status')));
    },
    /** Puts raw records on the stream; returns shard and sequence number of each. */
    putRaw: async (records: { partitionKey: string; data: string }[]) => {
      const out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: p.config.stream,
          Records: records.map((r) => ({ PartitionKey: r.partitionKey, Data: Buffer.from(r.data) })),
        }),
      );
      if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records failed`);
      return out.Records!.map((r) => ({ shardId: r.ShardId!, sequenceNumber: r.SequenceNumber! }));
    },
    /** Whether any shard holds a record (one small read per shard). */
    streamHasRecords: async (): Promise<boolean> => {
      const shards =
        (await kinesis.send(new ListShardsCommand({ StreamName: p.config.stream }))).Shards ?? [];
      for (const shard of shards) {
        const it = await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: p.config.stream,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator, Limit: 1 }));
        if (page.Records?.length) return true;
      }
      return false;
    },
    /** Every item of a table in cdc_entities, by entityId (a consistent scan). */
    entities: async (table: string): Promise<Map<string, Record<string, unknown>>> => {
      const items = new Map<string, Record<string, unknown>>();
      let ExclusiveStartKey: Record<string, unknown> | undefined;
      do {
        const out = await doc.send(
          new ScanCommand({
            TableName: p.config.tables.entities,
            ConsistentRead: true,
            FilterExpression: 'begins_with(pk, :p)',
            ExpressionAttributeValues: { ':p': `${table}#` },
            ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}),
          }),
        );
        for (const i of out.Items ?? []) items.set(String(i.entityId), i);
        ExclusiveStartKey = out.LastEvaluatedKey;
      } while (ExclusiveStartKey);
      return items;
    },
    /** Whether a record on the stream (any shard; raw, parsed or not) contains `text`. */
    streamContains: async (text: string): Promise<boolean> => {
      for await (const { record } of streamRecords())
        if (Buffer.from(record.Data!).includes(text)) return true;
      return false;
    },
    /** Every canonical change event on the stream, shard by shard, each shard in sequence order, with its arrival time. */
    streamChanges: async (): Promise<
      { shardId: string; sequenceNumber: string; event: ChangeEvent; arrivalMs: number }[]
    > => {
      const out: { shardId: string; sequenceNumber: string; event: ChangeEvent; arrivalMs: number }[] = [];
      for await (const { shardId, record: r } of streamRecords()) {
        const event = ChangeEventSchema.parse(
          JSON.parse(Buffer.from(r.Data!).toString('utf8')),
        ) as ChangeEvent;
        out.push({
          shardId,
          sequenceNumber: r.SequenceNumber!,
          event,
          arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? 0,
        });
      }
      return out;
    },
    /** Receives (and deletes) messages from a queue until one matches. */
    receiveUntil: async (
      queue: string,
      match: (body: Record<string, unknown>) => boolean,
      timeoutMs = 30_000,
    ) => {
      const url = await queueUrl(queue);
      const seen: string[] = [];
      return waitFor(
        `a matching message on ${queue}`,
        async () => {
          const out = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          const messages = out.Messages ?? [];
          if (messages.length) {
            await sqs.send(
              new DeleteMessageBatchCommand({
                QueueUrl: url,
                Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
              }),
            );
          }
          for (const m of messages) {
            const body = JSON.parse(m.Body ?? '{}') as Record<string, unknown>;
            seen.push(String(body['detail-type']));
            if (match(body)) return body;
          }
          return undefined;
        },
        { timeoutMs, lastSeen: () => seen.slice(-10).join(', ') || 'nothing' },
      );
    },
  };
}
