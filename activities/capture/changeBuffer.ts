import type { CaptureProgress } from '../../domain/capture/captureTypes';
import type { PgoutputMessage } from '../../domain/capture/pgoutput';
import type { OutgoingRecord } from '../../domain/capture/producerBatches';
import { encodeChangeEvent, partitionKey } from '../../domain/capture/streamRecord';
import { buildChangeEvent, HEARTBEAT_TABLE, type TxContext } from '../../domain/capture/walChange';
import { bigIntToLsn, lsnToBigInt } from '../../domain/core/lsn';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;
type RowChange = Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>;

export interface ChangeBufferOptions {
  /** The database the changes come from. */
  db: string;
  /** The slot's confirmed position: acknowledged already. */
  startLsn: string;
  /** Records buffered before a flush, also in the middle of a transaction (bounded memory). */
  flushEvery: number;
  /** Puts records on the stream; resolves only when the stream holds every one of them. */
  put(records: OutgoingRecord[]): Promise<void>;
  /** Called when committed transactions up to `ackedLsn` are on the stream (after `progress` was updated). */
  acknowledge(ackedLsn: bigint): void;
  warn(message: string, attrs: Record<string, unknown>): void;
}

/**
 * Turns decoded pgoutput messages into stream records and acknowledges transactions: records
 * are buffered and flushed to the stream in order; a commit is acknowledged only after a flush
 * has put everything up to it on the stream (group commit: when nothing more is waiting to be
 * decoded, or the buffer is full).
 */
export class ChangeBuffer {
  readonly progress: CaptureProgress;
  private acked: bigint;
  private committedLsn: bigint;
  private readonly relations = new Map<number, Relation>();
  private tx: TxContext | undefined;
  private buffer: OutgoingRecord[] = [];

  constructor(private readonly opts: ChangeBufferOptions) {
    this.progress = { ackedLsn: opts.startLsn, changes: 0, transactions: 0 };
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

  /** Puts the buffered records on the stream. */
  async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const records = this.buffer;
    this.buffer = [];
    await this.opts.put(records);
  }

  /** Flushes, then acknowledges every transaction committed so far. */
  async flushAndAck(): Promise<void> {
    await this.flush();
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
    const event = buildChangeEvent(msg, rel, tx);
    tx.index++;
    this.buffer.push({
      partitionKey: partitionKey(rel.name, event.key),
      data: Buffer.from(encodeChangeEvent(event)),
    });
    if (this.buffer.length >= this.opts.flushEvery) await this.flush();
  }

  private async commit(endLsn: bigint): Promise<void> {
    this.committedLsn = endLsn;
    this.progress.transactions++;
    this.progress.changes += this.tx?.index ?? 0;
    this.tx = undefined;
    if (this.buffer.length >= this.opts.flushEvery) await this.flushAndAck();
  }
}
