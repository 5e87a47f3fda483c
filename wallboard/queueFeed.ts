/**
 * Feeds the wallboard from SQS: several long-polling receivers per queue (ReceiveMessage with a
 * short wait, up to 10 messages), each message applied to the board, then the batch deleted. A
 * message is deleted only after it was applied; one that is redelivered (a crash in between, a
 * visibility timeout) is a duplicate the board recognises by its event ID. Malformed messages are
 * counted by the board and deleted too, so they cannot come back forever.
 *
 * Errors (the queue missing, the endpoint down) back off exponentially with jitter, per receiver,
 * and are reported once per outage, not per attempt. `stop()` aborts the waiting receives, lets a
 * batch being applied finish its delete, and resolves when every receiver has ended.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApplyResult, Board } from '../domain/wallboard/board';

export interface FeedOptions {
  /** Concurrent receivers per queue. */
  pollersPerQueue: number;
  /** ReceiveMessage WaitTimeSeconds (long polling): short, so a stop is quick even without an abort. */
  waitTimeSeconds: number;
  /** ReceiveMessage MaxNumberOfMessages (SQS allows 1–10). */
  maxMessages: number;
  /** Backoff after a failed call: doubles from `firstMs` up to `maxMs`, with ±25 % jitter. */
  backoff: { firstMs: number; maxMs: number };
}

export const DEFAULT_FEED: FeedOptions = Object.freeze({
  pollersPerQueue: 2,
  waitTimeSeconds: 2,
  maxMessages: 10,
  backoff: Object.freeze({ firstMs: 250, maxMs: 10_000 }),
});

export interface QueueStatus {
  queue: string;
  pollers: number;
  received: number;
  deleted: number;
  deleteFailures: number;
  errors: number;
  lastReceiveAt: string | null;
  lastError: { at: string; message: string } | null;
  /** The last call failed (the receivers are backing off). */
  failing: boolean;
}

export interface QueueFeed {
  status(): QueueStatus[];
  stop(): Promise<void>;
}

export interface QueueFeedDeps {
  sqs: SQSClient;
  board: Board;
  /** Queue names (resolved to URLs with GetQueueUrl; a queue is never created here). */
  queues: readonly string[];
  /** Called after each received batch was applied (before it is deleted). */
  onApplied: (results: ApplyResult[]) => void;
  log?: (line: string) => void;
  options?: Partial<FeedOptions>;
  now?: () => Date;
}

/** Re-reports a failure that lasts at most this often. */
const REPORT_EVERY_MS = 60_000;

interface QueueState {
  status: QueueStatus;
  url?: Promise<string>;
  reportedAt: number;
}

const errorText = (err: unknown) =>
  err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : String(err).slice(0, 300);

const isMissingQueue = (err: unknown) =>
  err instanceof Error && /QueueDoesNotExist|NonExistentQueue/.test(`${err.name} ${err.message}`);

export function startQueueFeed(deps: QueueFeedDeps): QueueFeed {
  const options: FeedOptions = { ...DEFAULT_FEED, ...deps.options };
  if (options.maxMessages < 1 || options.maxMessages > 10) throw new RangeError('maxMessages must be 1–10');
  if (options.waitTimeSeconds < 0 || options.waitTimeSeconds > 20)
    throw new RangeError('waitTimeSeconds must be 0–20');
  if (!Number.isInteger(options.pollersPerQueue) || options.pollersPerQueue < 1)
    throw new RangeError('pollersPerQueue must be a positive integer');
  const log = deps.log ?? ((line: string) => console.error(`wallboard: ${line}`));
  const now = deps.now ?? (() => new Date());
  const abort = new AbortController();
  const { signal } = abort;
  // Every receiver's request and backoff listens to the one signal (each removes its listener when done).
  setMaxListeners(10 + 2 * deps.queues.length * options.pollersPerQueue, signal);

  const states: QueueState[] = deps.queues.map((queue) => ({
    status: {
      queue,
      pollers: options.pollersPerQueue,
      received: 0,
      deleted: 0,
      deleteFailures: 0,
      errors: 0,
      lastReceiveAt: null,
      lastError: null,
      failing: false,
    },
    reportedAt: 0,
  }));

  const urlOf = (q: QueueState): Promise<string> => {
    q.url ??= deps.sqs
      .send(new GetQueueUrlCommand({ QueueName: q.status.queue }), { abortSignal: signal })
      .then((out) => {
        if (!out.QueueUrl) throw new Error(`no URL for queue ${q.status.queue}`);
        return out.QueueUrl;
      });
    // A failed lookup is asked again on the next attempt.
    q.url.catch(() => (q.url = undefined));
    return q.url;
  };

  const failed = (q: QueueState, err: unknown) => {
    const s = q.status;
    s.errors++;
    s.lastError = { at: now().toISOString(), message: errorText(err) };
    if (isMissingQueue(err)) q.url = undefined;
    const t = Date.now();
    if (!s.failing || t - q.reportedAt >= REPORT_EVERY_MS) {
      log(`queue ${s.queue}: ${s.lastError.message} (backing off)`);
      q.reportedAt = t;
    }
    s.failing = true;
  };

  const recovered = (q: QueueState) => {
    if (q.status.failing) log(`queue ${q.status.queue}: receiving again`);
    q.status.failing = false;
    q.status.lastReceiveAt = now().toISOString();
  };

  /** Deletes what was applied; not aborted by a stop, so a stop never leaves applied messages behind. */
  const deleteBatch = async (q: QueueState, url: string, messages: Message[]) => {
    const entries = messages
      .filter((m) => m.ReceiptHandle)
      .map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
    if (!entries.length) return;
    try {
      const out = await deps.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      const failures = out.Failed?.length ?? 0;
      q.status.deleted += entries.length - failures;
      if (failures) {
        q.status.deleteFailures += failures;
        log(
          `queue ${q.status.queue}: ${failures} message(s) not deleted (${out.Failed?.[0]?.Code ?? '?'}); they come back as duplicates`,
        );
      }
    } catch (err) {
      q.status.deleteFailures += entries.length;
      failed(q, err);
    }
  };

  const poller = async (q: QueueState) => {
    let delay = 0;
    while (!signal.aborted) {
      try {
        const url = await urlOf(q);
        const out = await deps.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: options.maxMessages,
            WaitTimeSeconds: options.waitTimeSeconds,
          }),
          { abortSignal: signal },
        );
        recovered(q);
        delay = 0;
        const messages = out.Messages ?? [];
        if (!messages.length) continue;
        q.status.received += messages.length;
        const results = messages.map((m) => deps.board.apply(m.Body ?? '', now()));
        try {
          deps.onApplied(results);
        } catch (err) {
          log(`after applying a batch: ${errorText(err)}`);
        }
        await deleteBatch(q, url, messages);
      } catch (err) {
        if (signal.aborted) break;
        failed(q, err);
        delay = delay ? Math.min(delay * 2, options.backoff.maxMs) : options.backoff.firstMs;
        const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
        await sleep(jittered, undefined, { signal }).catch(() => undefined);
      }
    }
  };

  const running = states.flatMap((q) => Array.from({ length: options.pollersPerQueue }, () => poller(q)));

  return {
    status: () =>
      states.map((q) => ({ ...q.status, lastError: q.status.lastError && { ...q.status.lastError } })),
    async stop() {
      abort.abort();
      await Promise.allSettled(running);
    },
  };
}
