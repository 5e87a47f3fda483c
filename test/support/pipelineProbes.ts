import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
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
            Key: { pk: `${p.config.stream}#${shardId}#${sequenceNumber}` },
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
