/**
 * Latency from a PostgreSQL commit to where a consumer would see the change, measured outside
 * the pipeline:
 * - commit→SQS: receivers on the bus's rule targets (the queues the consumers of the design read);
 *   latency = receipt time − the event's `timestamp` (the source commit time, PostgreSQL's clock;
 *   one machine, one clock). Every message is deleted, so the queues do not grow.
 * - commit→DynamoDB: a watcher polls the entity items of a sample of keys (a dozen hot rows and up
 *   to 24 keys of recent changes; one consistent BatchGetItem every 250 ms, a few percent of
 *   DynamoDB Local's time) and records each new version it sees: latency = the midpoint between
 *   the poll that did not see it yet and the one that did (±half a poll cycle) − the item's
 *   `lastChangeAt` (the commit time of that version). Only versions committed after the key was
 *   put under watch count, so a version written before the watcher could see it is never sampled.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(values: readonly number[]): Percentiles | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
  };
}

/** ISO-8601 with up to microseconds (PostgreSQL's commit time) to epoch milliseconds. */
export function isoToMs(iso: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
  if (!m) return Date.parse(iso);
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return Date.parse(`${m[1]}${m[3] ?? 'Z'}`) + frac;
}

export interface SqsSample {
  eventId: string;
  table: string;
  commitMs: number;
  recvMs: number;
}

/** Long-polling receivers on a set of queues; keeps a sample for each message of this run. */
export class SqsReceivers {
  readonly samples: SqsSample[] = [];
  received = 0;
  errors = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly sqs: SQSClient,
    /** Whether an event belongs to this run (by its entity id). */
    private readonly ours: (entityId: string) => boolean,
  ) {}

  start(queues: { url: string; receivers: number }[]): void {
    this.running = true;
    for (const q of queues) for (let i = 0; i < q.receivers; i++) this.loops.push(this.loop(q.url));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async loop(url: string): Promise<void> {
    while (this.running) {
      try {
        const out = await this.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        const now = Date.now();
        const messages = out.Messages ?? [];
        for (const m of messages) {
          this.received++;
          const detail = parseDetail(m.Body);
          if (detail && this.ours(detail.entityId))
            this.samples.push({
              eventId: detail.eventId,
              table: detail.table,
              commitMs: isoToMs(detail.timestamp),
              recvMs: now,
            });
        }
        if (messages.length)
          await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
            }),
          );
      } catch {
        this.errors++;
        await sleep(200);
      }
    }
  }
}

function parseDetail(
  body: string | undefined,
): { eventId: string; entityId: string; timestamp: string; table: string } | undefined {
  try {
    const d = (JSON.parse(body ?? '{}') as { detail?: Record<string, unknown> }).detail;
    if (!d || typeof d.eventId !== 'string' || typeof d.timestamp !== 'string') return undefined;
    const meta = (d.metadata ?? {}) as { sourceTable?: unknown };
    return {
      eventId: d.eventId,
      entityId: String(d.entityId ?? ''),
      timestamp: d.timestamp,
      table: String(meta.sourceTable ?? ''),
    };
  } catch {
    return undefined;
  }
}

/** Messages still waiting on the queues (to let the emulator drain between measurements). */
export async function waitQueuesDrained(
  sqs: SQSClient,
  urls: readonly string[],
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let waiting = 0;
    for (const QueueUrl of urls) {
      const out = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
      );
      waiting += Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    }
    if (waiting < 10 || Date.now() > deadline) return waiting;
    await sleep(500);
  }
}

export interface DynamoSample {
  pk: string;
  version: string;
  commitMs: number;
  seenMs: number;
}

/** Polls the entity items of watched keys and records each version's first sighting. */
export class DynamoWatcher {
  readonly samples: DynamoSample[] = [];
  polls = 0;
  errors = 0;
  private table: string | undefined;
  /** Watched keys: since when (versions committed before are not sampled), until when, last polled. */
  private readonly watched = new Map<
    string,
    { sinceMs: number; untilMs: number; permanent: boolean; polledMs?: number }
  >();
  private readonly seen = new Set<string>();
  private running = false;
  private loopDone: Promise<void> | undefined;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly intervalMs = 250,
    private readonly maxTemporary = 24,
  ) {}

  /** Polls `table` from now on (undefined: pauses); the watch list starts empty. */
  setTable(table: string | undefined): void {
    this.table = table;
    this.watched.clear();
  }

  /** Watches a key until its next version is seen (or `forMs` passed); permanent keys stay. */
  watch(pk: string, sinceMs: number, opts: { permanent?: boolean; forMs?: number } = {}): void {
    if (!this.table || this.watched.has(pk)) return;
    if (!opts.permanent && this.temporaryCount() >= this.maxTemporary) return;
    this.watched.set(pk, {
      sinceMs,
      untilMs: sinceMs + (opts.forMs ?? 30_000),
      permanent: opts.permanent === true,
    });
  }

  start(): void {
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }

  private temporaryCount(): number {
    let n = 0;
    for (const w of this.watched.values()) if (!w.permanent) n++;
    return n;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const table = this.table;
      const now = Date.now();
      for (const [pk, w] of this.watched) if (!w.permanent && now > w.untilMs) this.watched.delete(pk);
      const keys = [...this.watched.keys()];
      if (table && keys.length) {
        try {
          for (let i = 0; i < keys.length; i += 100) await this.poll(table, keys.slice(i, i + 100));
        } catch {
          this.errors++;
        }
      }
      await sleep(this.intervalMs);
    }
  }

  private async poll(table: string, keys: string[]): Promise<void> {
    let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
      [table]: { Keys: keys.map((pk) => ({ pk })) },
    };
    while (request && Object.keys(request).length) {
      const out = await this.doc.send(
        new BatchGetCommand({
          RequestItems: Object.fromEntries(
            Object.entries(request).map(([t, r]) => [
              t,
              {
                Keys: r.Keys,
                ConsistentRead: true,
                ProjectionExpression: '#pk, #v, #c',
                ExpressionAttributeNames: { '#pk': 'pk', '#v': 'version', '#c': 'lastChangeAt' },
              },
            ]),
          ),
        }),
      );
      const seenMs = Date.now();
      this.polls++;
      for (const item of out.Responses?.[table] ?? []) this.record(String(item.pk), item, seenMs);
      for (const pk of keys) {
        const w = this.watched.get(pk);
        if (w) w.polledMs = seenMs;
      }
      request = out.UnprocessedKeys as typeof request;
    }
  }

  private record(pk: string, item: Record<string, unknown>, seenMs: number): void {
    const w = this.watched.get(pk);
    if (!w || typeof item.version !== 'string' || typeof item.lastChangeAt !== 'string') return;
    const id = `${pk}\u0000${item.version}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const commitMs = isoToMs(item.lastChangeAt);
    if (commitMs < w.sinceMs) return; // written before we watched: its first sighting means nothing
    // Written between the previous poll of this key (or its commit) and this one: the midpoint.
    const before = Math.max(w.polledMs ?? w.sinceMs, commitMs);
    this.samples.push({ pk, version: item.version, commitMs, seenMs: (before + seenMs) / 2 });
    if (!w.permanent) this.watched.delete(pk);
  }
}

/** What a window of commits looks like from the receivers and the watcher. */
export interface WindowStats {
  /** Distinct events of the window received (at or after `recvFromMs`). */
  sqsDistinct: number;
  firstRecvMs: number | null;
  lastRecvMs: number | null;
  /** Receipt times of the 5th and 95th percentile event (a span without the stragglers). */
  recvP05Ms: number | null;
  recvP95Ms: number | null;
  sqs: Percentiles | null;
  dynamo: Percentiles | null;
}

export interface WindowQuery {
  commitFromMs: number;
  commitToMs: number;
  /** Only receipts from this time on (a backlog read a second time by another consumer). */
  recvFromMs?: number;
}

export function windowStats(
  sqs: readonly SqsSample[],
  dynamo: readonly DynamoSample[],
  q: WindowQuery,
): WindowStats {
  const first = new Map<string, SqsSample>();
  for (const s of sqs) {
    if (s.commitMs < q.commitFromMs || s.commitMs > q.commitToMs) continue;
    if (q.recvFromMs !== undefined && s.recvMs < q.recvFromMs) continue;
    if (!first.has(s.eventId)) first.set(s.eventId, s);
  }
  const recv = [...first.values()].map((s) => s.recvMs).sort((a, b) => a - b);
  const lat = [...first.values()].map((s) => s.recvMs - s.commitMs);
  const dyn = dynamo
    .filter((d) => d.commitMs >= q.commitFromMs && d.commitMs <= q.commitToMs)
    .map((d) => d.seenMs - d.commitMs);
  return {
    sqsDistinct: first.size,
    firstRecvMs: recv.length ? recv[0] : null,
    lastRecvMs: recv.length ? recv[recv.length - 1] : null,
    recvP05Ms: recv.length ? percentile(recv, 5) : null,
    recvP95Ms: recv.length ? percentile(recv, 95) : null,
    sqs: summarize(lat),
    dynamo: summarize(dyn),
  };
}
