import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { PutRecordsPlan, type OutgoingRecord } from '../../domain/capture/producerBatches';
import { RETRY_BACKOFF } from '../../domain/core/backoff';
import { backoff, type RetryWaits } from '../retryWaits';

/**
 * PutRecords requests in flight at once by default: one. Per-key order is kept by the plan, not by
 * waiting, so more are safe; but the local emulator serializes requests (more in flight gained
 * nothing) and queued ones count against the SDK's 15 s request timeout: with 4 in flight, a
 * 10,000-row transaction timed out there and capture re-sent it.
 */
export const DEFAULT_PUT_CONCURRENCY = 1;

/**
 * Puts records on the stream, keeping per-key order: up to `concurrency` requests in flight, each
 * key at most once among them (PutRecordsPlan). Only failed records are re-sent, after a backoff
 * with full jitter (`RETRY_BACKOFF.kinesisPut`) during which their keys stay held and other keys
 * go on. Resolves when Kinesis holds every record; rejects when a record still fails after
 * `maxAttempts` tries (8), or a request fails as a whole (after the requests in flight have come
 * back). `waits`: how to wait (tests inject).
 */
export async function putAllRecords(
  kinesis: KinesisClient,
  stream: string,
  records: readonly OutgoingRecord[],
  opts: {
    maxAttempts?: number;
    concurrency?: number;
    onRetry?: (failed: number, code: string) => void;
    waits?: RetryWaits;
  } = {},
): Promise<void> {
  const maxAttempts = opts.maxAttempts ?? RETRY_BACKOFF.kinesisPut.maxAttempts;
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_PUT_CONCURRENCY);
  const plan = new PutRecordsPlan(records);
  const attempts = new Map<OutgoingRecord, number>();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  // Wakes the loop below when keys come free before their request is over (during a backoff).
  let wake = () => {};

  const send = async (request: OutgoingRecord[]): Promise<void> => {
    const out = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: request.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })),
      }),
    );
    const results = out.Records ?? [];
    const failed = request.filter((_, i) => results[i]?.ErrorCode || !results[i]?.SequenceNumber);
    const retry = new Set(failed);
    plan.settle(
      request.filter((r) => !retry.has(r)),
      [],
    ); // the accepted records' keys go on at once
    wake();
    if (failed.length) {
      const code = results.find((r) => r.ErrorCode)?.ErrorCode ?? 'unknown';
      const attempt = Math.max(...failed.map((r) => (attempts.get(r) ?? 0) + 1));
      for (const r of failed) attempts.set(r, (attempts.get(r) ?? 0) + 1);
      if (attempt >= maxAttempts)
        throw new Error(
          `PutRecords: ${failed.length} records still failing after ${attempt} attempts (${code})`,
        );
      opts.onRetry?.(failed.length, code);
      await backoff('kinesisPut', attempt, opts.waits); // the failed records' keys stay held meanwhile
      plan.settle(failed, failed);
    }
  };

  while (!plan.done && failure === undefined) {
    for (let request; inFlight.size < concurrency && (request = plan.next());) {
      const p: Promise<void> = send(request)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (!inFlight.size) break; // cannot happen: with nothing in flight every waiting key is sendable
    await Promise.race([...inFlight, new Promise<void>((r) => (wake = r))]);
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  if (!plan.done) throw new Error('PutRecords: records left unsent'); // a broken plan, never a silent loss
}
