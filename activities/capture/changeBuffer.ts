import type { CaptureProgress } from '../../domain/capture/captureTypes';
import type { PgoutputMessage } from '../../domain/capture/pgoutput';
import {
  oversizeChange,
  undecodableChange,
  type CaptureDeadLetter,
} from '../../domain/capture/captureDeadLetter';
import { RECORD_MAX_BYTES, recordSize, type OutgoingRecord } from '../../domain/capture/producerBatches';
import { encodeChangeEvent, partitionKey } from '../../domain/capture/streamRecord';
import { buildChangeEvent, HEARTBEAT_TABLE, type TxContext } from '../../domain/capture/walChange';
import { bigIntToLsn, lsnToBigInt } from '../../domain/core/lsn';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;
type RowChange = Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>;

export interface ChangeBufferOptions {
  /** The database the changes come from. */
  db: string;
  /** The source epoch every change of this run carries (domain/capture/sourceEpoch.ts); default 0. */
  epoch?: number;
  /** The slot's confirmed position: acknowledged already. */
  startLsn: string;
  /** Records buffered before a flush, also in the middle of a transaction (bounded memory). */
  flushEvery: number;
  /** Bytes of record data buffered before a flush (bounded memory with large rows); default 4 MiB. */
  flushBytes?: number;
  /** Puts records on the stream; resolves only when the stream holds every one of them. */
  put(records: OutgoingRecord[]): Promise<void>;
  /** Called when committed transactions up to `ackedLsn` are on the stream (after `progress` was updated). */
  acknowledge(ackedLsn: bigint): void;
  /**
   * Parks a change that cannot go on the stream (a value the decoder refuses, a record too large
   * for Kinesis); resolves when it is stored. The transaction is then acknowledged past it.
   */
  deadLetter(letter: CaptureDeadLetter): Promise<void>;
  warn(message: string, attrs: Record<string, unknown>): void;
}

const DEFAULT_FLUSH_BYTES = 4 * 1024 * 1024;

/**
 * Turns decoded pgoutput messages into stream records and acknowledges transactions: records
 * are buffered and flushed to the stream in order; a commit is acknowledged only after a flush
 * has put everything up to it on the stream. Every successful flush acknowledges the last commit
 * whose records it completed (also in the middle of a later transaction, so a backlog that never
 * drains still moves the slot); the capture loop flushes when nothing more is waiting to be
 * decoded and before it leaves. A change that cannot go on the stream is dead-lettered in place.
 */
export class ChangeBuffer {
  readonly progress: CaptureProgress;
  private acked: bigint;
  private committedLsn: bigint;
  private readonly relations = new Map<number, Relation>();
  private tx: TxContext | undefined;
  private buffer: OutgoingRecord[] = [];
  private bufferedBytes = 0;

  constructor(private readonly opts: ChangeBufferOptions) {
    this.progress = {
      ackedLsn: opts.startLsn,
      changes: 0,
      transactions: 0,
      ...(opts.epoch ? { epoch: opts.epoch } : {}),
    };
    this.acked = lsnToBigInt(opts.startLsn);
    this.committedLsn = this.acked;
  }

  /** The last acknowledged LSN: what status updates and keepalive replies report, never more. */
  get ackedLsn(): bigint {
    return this.acked;
  }

  /** A transaction committed since the last acknowledgement. */
  get hasUnacknowledgedCommit(): boolean {
    return this.committedLsn > this.acked;
  }

  async handle(msg: PgoutputMessage): Promise<void> {
    switch (msg.tag) {
      case 'begin':
        this.tx = {
          db: this.opts.db,
          finalLsn: msg.finalLsn,
          commitTimeMicros: msg.commitTimeMicros,
          xid: msg.xid,
          index: 0,
          ...(this.opts.epoch ? { epoch: this.opts.epoch } : {}),
        };
        return;
      case 'relation':
        this.relations.set(msg.relationId, msg);
        return;
      case 'insert':
      case 'update':
      case 'delete':
        return this.change(msg);
      case 'truncate':
        // Documented: TRUNCATE is not a row change; it is logged and left to a backfill (docs/architecture.md).
        this.opts.warn('TRUNCATE seen in the change stream; not propagated', {
          relations: msg.relationIds.length,
        });
        return;
      case 'commit':
        return this.commit(msg.endLsn);
      default:
        return;
    }
  }

  /**
   * Puts the buffered records on the stream, then acknowledges the last commit: every record up
   * to it was in the buffer, so the stream holds them all now.
   */
  async flush(): Promise<void> {
    if (this.buffer.length > 0) {
      const records = this.buffer;
      this.buffer = [];
      this.bufferedBytes = 0;
      await this.opts.put(records);
    }
    this.acknowledgeCommitted();
  }

  /** Flushes, then acknowledges every transaction committed so far (also one with nothing to put). */
  async flushAndAck(): Promise<void> {
    await this.flush();
  }

  private acknowledgeCommitted(): void {
    if (this.committedLsn > this.acked) {
      this.acked = this.committedLsn;
      this.progress.ackedLsn = bigIntToLsn(this.acked);
      this.opts.acknowledge(this.acked);
    }
  }

  private async change(msg: RowChange): Promise<void> {
    const rel = this.relations.get(msg.relationId);
    const tx = this.tx;
    if (!rel || !tx)
      throw new Error(`change for unknown relation ${msg.relationId} or outside a transaction`);
    if (rel.name === HEARTBEAT_TABLE) return; // acknowledged with its commit, never streamed
    try {
      let event;
      try {
        event = buildChangeEvent(msg, rel, tx);
      } catch (err) {
        return await this.park(undecodableChange(msg, rel, tx, err));
      }
      const record = {
        partitionKey: partitionKey(rel.name, event.key),
        data: Buffer.from(encodeChangeEvent(event)),
      };
      const size = recordSize(record);
      if (size > RECORD_MAX_BYTES)
        return await this.park(oversizeChange(msg, rel, tx, record, size, RECORD_MAX_BYTES));
      this.buffer.push(record);
      this.bufferedBytes += record.data.length;
    } finally {
      tx.index++; // the position within the transaction, parked changes included
    }
    if (
      this.buffer.length >= this.opts.flushEvery ||
      this.bufferedBytes >= (this.opts.flushBytes ?? DEFAULT_FLUSH_BYTES)
    )
      await this.flush();
  }

  private async park(letter: CaptureDeadLetter): Promise<void> {
    await this.opts.deadLetter(letter);
    this.progress.deadLettered = (this.progress.deadLettered ?? 0) + 1;
    this.opts.warn('change dead-lettered at capture', {
      table: `${letter.schema}.${letter.table}`,
      lsn: letter.lsn,
      index: letter.index,
      category: letter.category,
      reason: letter.reason,
    });
  }

  private async commit(endLsn: bigint): Promise<void> {
    this.committedLsn = endLsn;
    this.progress.transactions++;
    this.progress.changes += this.tx?.index ?? 0;
    this.tx = undefined;
    if (this.buffer.length >= this.opts.flushEvery) await this.flushAndAck();
  }
}
