/**
 * Where a worker keeps its place in each shard between pulls (issue 23, "readers that read once"):
 * the shard iterator a pull ended with, and the records it read beyond its batch's budget, keyed by
 * (stream, shard, consumer, the position the batch ended at). The next pull after that position
 * starts from them instead of taking a new iterator and reading those records again. Per process
 * and bounded: a pull that finds nothing here (another worker, a restart, another position, an
 * aged entry) takes a fresh iterator, as before, so correctness never depends on it.
 */
import type { StreamRecord } from '../../domain/shards/shardTypes';

/** Kinesis iterators expire five minutes after they were returned: a carried one is used for four. */
export const CARRIED_ITERATOR_MAX_AGE_MS = 4 * 60_000;
/** A cursor's kept records are served for this long after they were read; then read again. */
export const CURSOR_MAX_AGE_MS = 10 * 60_000;
/** Entries kept per process (one per shard and consumer is the usual need). */
export const MAX_CURSORS = 500;
/** Bytes of kept records per process, all entries together. */
export const MAX_KEPT_BYTES = 64 * 1024 * 1024;
/** GetRecords' Limit is bounded to this (Kinesis' own maximum). */
export const MAX_GET_RECORDS_LIMIT = 10_000;

export interface ShardCursor {
  /** Records read after the position but not yet returned, in stream order. */
  kept: StreamRecord[];
  keptBytes: number;
  /** The iterator after the kept records; undefined: take a fresh one after them (unless ended). */
  iterator?: string;
  /** When Kinesis returned the iterator (ms): also when the kept records were read. */
  iteratorAt: number;
  /** The shard is closed and read to its end after the kept records. */
  ended: boolean;
  /** MillisBehindLatest of the page the iterator came with. */
  behindMs: number;
}

export interface CursorKey {
  stream: string;
  shardId: string;
  consumer: string;
  /** The position the cursor continues after ('' for the shard's start). */
  after: string;
}

/** One process's cursors and per-shard record sizes (per Kinesis client: an iterator belongs to its endpoint). */
export class ShardCursors {
  private readonly cursors = new Map<string, ShardCursor>();
  private keptBytes = 0;
  private readonly sizes = new Map<string, { records: number; bytes: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = MAX_CURSORS,
    private readonly maxKeptBytes = MAX_KEPT_BYTES,
  ) {}

  /** Takes (removes) the cursor for a position; an aged iterator is dropped, its kept records stay. */
  take(key: CursorKey): ShardCursor | undefined {
    const k = keyOf(key);
    const c = this.cursors.get(k);
    if (!c) return undefined;
    this.cursors.delete(k);
    this.keptBytes -= c.keptBytes;
    const age = this.now() - c.iteratorAt;
    if (age >= CURSOR_MAX_AGE_MS) return undefined;
    if (c.iterator && age >= CARRIED_ITERATOR_MAX_AGE_MS) {
      const { iterator: _aged, ...rest } = c;
      return rest;
    }
    return c;
  }

  /** Keeps a cursor (least recently kept out first, within the entry and byte bounds). */
  keep(key: CursorKey, cursor: ShardCursor): void {
    const k = keyOf(key);
    const before = this.cursors.get(k);
    if (before) {
      this.cursors.delete(k);
      this.keptBytes -= before.keptBytes;
    }
    // Nothing to carry (a closed shard's end is not carried alone: the next pull asks Kinesis).
    if (cursor.kept.length === 0 && !cursor.iterator) return;
    this.cursors.set(k, cursor);
    this.keptBytes += cursor.keptBytes;
    for (const [old, c] of this.cursors) {
      if (this.cursors.size <= this.maxEntries && this.keptBytes <= this.maxKeptBytes) break;
      this.cursors.delete(old);
      this.keptBytes -= c.keptBytes;
    }
  }

  /** Records a page's record sizes for the shard (a running average over the recent pages). */
  sawRecords(stream: string, shardId: string, records: number, bytes: number): void {
    if (records <= 0) return;
    const k = `${stream}\0${shardId}`;
    const s = this.sizes.get(k) ?? { records: 0, bytes: 0 };
    this.sizes.delete(k);
    // Decays so that the average follows the shard's recent records (at most ~10,000 counted).
    const keep = s.records > MAX_GET_RECORDS_LIMIT ? MAX_GET_RECORDS_LIMIT / s.records : 1;
    this.sizes.set(k, { records: s.records * keep + records, bytes: s.bytes * keep + bytes });
    if (this.sizes.size > this.maxEntries) this.sizes.delete(this.sizes.keys().next().value!);
  }

  /**
   * GetRecords' Limit for a budget: records that fill `bytes` at the shard's average record size
   * (rounded up), never more than `records`, within 1..10,000. No size seen yet: `records`.
   */
  limitFor(stream: string, shardId: string, records: number, bytes: number): number {
    const s = this.sizes.get(`${stream}\0${shardId}`);
    const bySize = s && s.bytes > 0 ? Math.ceil(Math.max(0, bytes) / (s.bytes / s.records)) : Infinity;
    return Math.max(1, Math.min(MAX_GET_RECORDS_LIMIT, records, bySize));
  }

  /** Whether `bytes` hold a record of the shard's average size (no size seen yet: any room). */
  roomFor(stream: string, shardId: string, bytes: number): boolean {
    const s = this.sizes.get(`${stream}\0${shardId}`);
    return bytes > 0 && (!s || s.records === 0 || bytes >= s.bytes / s.records);
  }

  /** Entries held (tests). */
  get size(): number {
    return this.cursors.size;
  }
}

const keyOf = (k: CursorKey) => `${k.stream}\0${k.shardId}\0${k.consumer}\0${k.after}`;

const byClient = new WeakMap<object, ShardCursors>();

/** The cursors of a Kinesis client (a new client, e.g. after the clients were recreated, starts empty). */
export function cursorsOf(kinesis: object): ShardCursors {
  let c = byClient.get(kinesis);
  if (!c) byClient.set(kinesis, (c = new ShardCursors()));
  return c;
}
