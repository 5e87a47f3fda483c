import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { planPutRecordsBatches, type OutgoingRecord } from '../../domain/capture/producerBatches';

/**
 * Puts records on the stream in order. Only failed records are re-sent, with backoff, and the
 * next request starts only when the previous one was fully accepted (per-key order).
 * Resolves when Kinesis holds every record; rejects after `maxAttempts` tries of one request.
 */
export async function putAllRecords(
  kinesis: KinesisClient,
  stream: string,
  records: readonly OutgoingRecord[],
  opts: { maxAttempts?: number; onRetry?: (failed: number, code: string) => void } = {},
): Promise<void> {
  const maxAttempts = opts.maxAttempts ?? 8;
  for (const batch of planPutRecordsBatches(records)) {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: pending.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
        }),
      );
      const results = out.Records ?? [];
      const failed = pending.filter((_, i) => results[i]?.ErrorCode || !results[i]?.SequenceNumber);
      if (failed.length === 0) break;
      const code = results.find((r) => r.ErrorCode)?.ErrorCode ?? 'unknown';
      if (attempt >= maxAttempts)
        throw new Error(
          `PutRecords: ${failed.length} records still failing after ${attempt} attempts (${code})`,
        );
      opts.onRetry?.(failed.length, code);
      await sleep(Math.min(100 * 2 ** attempt, 5_000));
      pending = failed;
    }
  }
}
