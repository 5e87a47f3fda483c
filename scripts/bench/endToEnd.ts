/**
 * End-to-end benchmark on the local stack: PostgreSQL commit → DynamoDB item visible, and
 * PostgreSQL commit → event received from the rule's SQS target.
 *
 *   npm run bench -- [--rate 200] [--seconds 20] [--keys 500] [--local-steps 1|0] [--max-records 500] [--codec on|off]
 *
 * `--codec off` runs the worker and client without the payload codec (nothing else does), so two
 * runs side by side give what encryption costs: worker-process CPU per 1,000 changes (the worker
 * runs in this process; the load generator's share is the same in both runs) and latency.
 *
 * 1. One change on an idle pipeline: commit→DynamoDB and commit→SQS latency.
 * 2. A steady offered load of single-row UPDATE transactions at --rate per second for
 *    --seconds over --keys rows: delivered changes per second and latency percentiles
 *    (commit timestamp from PostgreSQL to SQS receipt; one clock, one machine).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { awsClients } from '../../infra/aws';
import { eventRouting, queueUrl } from '../../infra/provisioning';
import { startTestPipeline } from '../../test/support/testPipeline';
import { useEnvironment } from '../lib/environment';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const rate = arg('rate', 200);
  const seconds = arg('seconds', 20);
  const keys = arg('keys', 500);
  const localPureSteps = arg('local-steps', 1) === 1;
  const maxRecords = arg('max-records', 500);
  const codecIndex = process.argv.indexOf('--codec');
  const plainPayloads = codecIndex > 0 && process.argv[codecIndex + 1] === 'off';
  // The benchmark runs an isolated pipeline on the local stack (started if needed).
  await useEnvironment({ localStack: 'start' });
  const p = await startTestPipeline({ localPureSteps, maxRecords }, { plainPayloads });
  console.log(
    `settings: maxRecords ${maxRecords}, transform/redact as ${localPureSteps ? 'local activities' : 'activities'}, payload codec ${plainPayloads ? 'OFF' : 'on'}`,
  );
  const { sqs, doc } = awsClients();
  const url = await queueUrl(eventRouting(p.config.eventBus).queues.inventory);
  const latencies = new Map<string, number>();
  let receiving = true;
  let lastReceipt = 0;
  const receiver = async () => {
    while (receiving) {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      const now = Date.now();
      for (const m of out.Messages ?? []) {
        const detail = JSON.parse(m.Body ?? '{}').detail as { eventId: string; timestamp: string };
        if (!latencies.has(detail.eventId)) latencies.set(detail.eventId, now - Date.parse(detail.timestamp));
        lastReceipt = now;
      }
      if (out.Messages?.length) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: out.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    }
  };
  const receivers = Array.from({ length: 4 }, receiver);
  try {
    const sku = `BENCH-${Date.now().toString(36)}`.toUpperCase();
    // Seed rows, wait for them to arrive so the measured phases start idle.
    await p.pg.query(
      `INSERT INTO inventory (sku, warehouse_id, on_hand) SELECT $1, g, 1000 FROM generate_series(1, $2) g`,
      [sku, keys],
    );
    await waitUntil(() => latencies.size >= keys, 120_000, 'seed rows to arrive');
    await sleep(3_000);

    // 1. One change on an idle pipeline.
    latencies.clear();
    const t0 = Date.now();
    await p.pg.query('UPDATE inventory SET on_hand = on_hand - 1 WHERE sku = $1 AND warehouse_id = 1', [sku]);
    const tCommit = Date.now();
    let tDynamo = 0;
    while (!tDynamo) {
      const item = await doc.send(
        new GetCommand({ TableName: p.config.tables.entities, Key: { pk: `inventory#${sku}#1` } }),
      );
      if (item.Item?.row?.on_hand === 999) tDynamo = Date.now();
      else await sleep(5);
    }
    await waitUntil(() => latencies.size >= 1, 30_000, 'the single change on SQS');
    const single = [...latencies.values()][0];
    console.log(
      `single change: commit→DynamoDB ${tDynamo - tCommit} ms (statement ${tCommit - t0} ms), commit→SQS ${single} ms`,
    );

    // 2. Steady offered load.
    latencies.clear();
    const total = rate * seconds;
    const cpu0 = process.cpuUsage();
    const start = Date.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate));
      const batch: Promise<unknown>[] = [];
      for (; sent < due; sent++) {
        batch.push(
          p.pg.query('UPDATE inventory SET on_hand = on_hand - 1 WHERE sku = $1 AND warehouse_id = $2', [
            sku,
            (sent % keys) + 1,
          ]),
        );
      }
      await Promise.all(batch); // one pool connection per statement would be more realistic; pg queues them in order
      await sleep(5);
    }
    const offeredFor = (Date.now() - start) / 1000;
    await waitUntil(() => latencies.size >= total, 180_000, `${total} events on SQS`);
    const cpu = process.cpuUsage(cpu0);
    const sorted = [...latencies.values()].sort((a, b) => a - b);
    const deliveredFor = (lastReceipt - start) / 1000;
    console.log(
      `process CPU (worker + load generator) ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s = ${((cpu.user + cpu.system) / 1e3 / (total / 1000)).toFixed(0)} ms per 1,000 changes`,
    );
    console.log(
      `offered ${total} single-row transactions at ${rate}/s over ${offeredFor.toFixed(1)} s (${p.config.shardCount} shards, 1 worker)\n` +
        `delivered ${sorted.length} events to SQS in ${deliveredFor.toFixed(1)} s = ${(sorted.length / deliveredFor).toFixed(0)}/s\n` +
        `commit→SQS latency ms: p50 ${pct(sorted, 50)}, p90 ${pct(sorted, 90)}, p99 ${pct(sorted, 99)}, max ${sorted.at(-1)}`,
    );
    const arrivals = (await kinesisArrivals(p.config.stream, sku)).slice(-total).sort((a, b) => a - b);
    console.log(
      `commit→Kinesis latency ms (capture): p50 ${pct(arrivals, 50)}, p90 ${pct(arrivals, 90)}, p99 ${pct(arrivals, 99)}, max ${arrivals.at(-1)}`,
    );
  } finally {
    receiving = false;
    await Promise.all(receivers);
    await p.stop();
  }
}

/** ApproximateArrivalTimestamp − commit time of every record of the benchmark's SKU on the stream. */
async function kinesisArrivals(stream: string, sku: string): Promise<number[]> {
  const { kinesis } = awsClients();
  const out: number[] = [];
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  for (const shard of shards) {
    let it = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (it) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        const e = JSON.parse(Buffer.from(r.Data!).toString('utf8'));
        if (e.key?.sku === sku && e.op === 'u')
          out.push(r.ApproximateArrivalTimestamp!.getTime() - Date.parse(e.source.commitTs));
      }
      if (!page.Records?.length) break;
      it = page.NextShardIterator;
    }
  }
  return out;
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

main()
  // The in-process worker's native connection would keep the process alive.
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
