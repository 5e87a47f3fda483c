/**
 * Backoff with full jitter, and the settings of every retry loop of the activities in one place.
 *
 * Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the wait before the next
 * attempt is a uniform random number in [0, min(cap, base × 2^attempt)], `attempt` counting the
 * failed attempts so far. Clients that failed together (throttled by the same shard, the same bus,
 * racing for the same item) then come back spread over the whole window instead of together, and
 * the total work under contention is the lowest of the schemes the article compares.
 *
 * A `floorMs` raises the bottom of the window: floor + random(0, ceiling − floor). Only the idle
 * poll of the stream reader has one (a floor of 200 ms keeps it within Kinesis' 5 GetRecords a
 * second per shard); with no floor the wait is plain full jitter.
 *
 * Pure: the random source is a parameter (`Math.random` in the activities, a seeded one in tests).
 * Workflows never use this module: their step-retry backoff is deterministic (workflows/common).
 */

/** The backoff of one kind of retry loop. */
export interface BackoffSettings {
  /** The window after the first failed attempt is [floor, 2 × base] (then doubling). */
  baseMs: number;
  /** The window never grows beyond [floor, cap]. */
  capMs: number;
  /** The shortest wait (default 0: full jitter). */
  floorMs?: number;
  /** Attempts in all (the first one included) before the loop gives up; none: bounded otherwise. */
  maxAttempts?: number;
}

/**
 * The retry loops of the activities (each loop's own attempts and which errors it retries are
 * described where it runs). The Temporal activity retry policies and the workflows' step-retry
 * backoff are separate (workflows/, domain/core/errors.ts `holdBackoffMs`).
 */
export const RETRY_BACKOFF = {
  /**
   * Capture's PutRecords (activities/stream/kinesisProducer.ts): re-sends the records a request
   * failed (throttled shard, internal failure) while their keys stay held; 0–200 ms after the
   * first failure, doubling to 0–5 s; fails the flush after 8 attempts of one record.
   */
  kinesisPut: { baseMs: 100, capMs: 5_000, maxAttempts: 8 },
  /**
   * PutEvents (activities/publishing/eventBridgePublisher.ts, events and alerts): re-sends the
   * entries that failed with a code other than a permanent one; 0–200 ms doubling (0–1.6 s before
   * the last), fails after 5 attempts.
   */
  eventBridgePut: { baseMs: 100, capMs: 5_000, maxAttempts: 5 },
  /**
   * The DynamoDB sink's merge of a partial image (activities/sinks/dynamoDbSink.ts): a conditional
   * put that lost an optimistic race for its item reads the item again and re-merges, after
   * 0–20 ms doubling to 0–200 ms; after 5 attempts the race fails the batch.
   */
  dynamoMerge: { baseMs: 10, capMs: 200, maxAttempts: 5 },
  /**
   * The stream reader caught up (activities/stream/streamReader.ts): the wait after each empty
   * GetRecords page, 200 ms after the first, then 200–300 ms (about 4 calls a second on an idle
   * shard, as the 50 → 250 ms backoff before it, but never more than 5: the floor); bounded by the
   * pull's `waitMs`, not by attempts.
   */
  streamPoll: { baseMs: 100, capMs: 300, floorMs: 200 },
} as const satisfies Record<string, BackoffSettings>;

/** A kind of retry loop with settings in RETRY_BACKOFF. */
export type BackoffKind = keyof typeof RETRY_BACKOFF;

/** The top of the window after `attempt` failed attempts: min(cap, base × 2^attempt), at least the floor. */
export function backoffCeilingMs(attempt: number, s: BackoffSettings): number {
  const doublings = Math.min(Math.max(0, Math.floor(attempt)), 40); // 2^40 × base is past any cap
  return Math.max(s.floorMs ?? 0, Math.min(s.capMs, s.baseMs * 2 ** doublings));
}

/**
 * The wait after `attempt` failed attempts, in whole milliseconds: uniform in
 * [floor, backoffCeilingMs(attempt)] (floor 0: full jitter). `random` returns numbers in [0, 1).
 */
export function backoffMs(attempt: number, s: BackoffSettings, random: () => number): number {
  const floor = s.floorMs ?? 0;
  const span = backoffCeilingMs(attempt, s) - floor;
  const r = Math.min(Math.max(random(), 0), 1);
  return floor + Math.min(span, Math.floor(r * (span + 1)));
}
