import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'pg';
import { encodeStandbyStatus } from '../../domain/capture/pgoutput';
import { decoderSessionOptions } from '../../domain/capture/pgTypes';
import type { SourceIdentity } from '../../domain/capture/sourceEpoch';
import type { PgClientFactory } from '../deps';
import { readSourceIdentity } from './sourceEpoch';

/** Copy data waiting to be decoded above which the socket is paused, and below which it is resumed. */
const PAUSE_ABOVE_CHUNKS = 10_000;
const RESUME_BELOW_CHUNKS = 1_000;
/** Longest wait for data before the capture loop looks at its deadline and timers again. */
const MAX_IDLE_WAIT_MS = 1_000;

/** The parts of pg's (undocumented) connection a replication session uses. */
interface ReplicationConnection {
  on(event: 'copyData', listener: (m: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

/**
 * One logical replication connection: START_REPLICATION on the slot, the server's copy data
 * queued as it arrives (the socket paused while too much waits: back-pressure while Kinesis
 * catches up), standby status updates sent back, and a connection failure kept for the capture loop.
 */
export class ReplicationSession {
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | undefined;
  private stopping = false;
  private failed: Error | undefined;

  private constructor(
    private readonly client: Client,
    private readonly conn: ReplicationConnection,
    /** The source's system identifier and timeline, read on this connection before START_REPLICATION. */
    readonly source: SourceIdentity,
  ) {}

  /**
   * Connects, reads the source's identity (system identifier, timeline), and starts streaming the
   * slot's changes for the publication (pgoutput protocol 1).
   * The session settings the type decoder depends on (DateStyle, IntervalStyle,
   * extra_float_digits, bytea_output, TimeZone) are pinned as startup parameters, after any
   * PGOPTIONS, so server, database or role defaults cannot change the text of values.
   */
  static async start(pg: PgClientFactory, slot: string, publication: string): Promise<ReplicationSession> {
    const options = [process.env.PGOPTIONS, decoderSessionOptions()].filter(Boolean).join(' ');
    const client = pg({ replication: 'database', options });
    await client.connect();
    let source: SourceIdentity;
    try {
      // Before streaming, on this connection: the identity of the very server the changes come from.
      source = await readSourceIdentity(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    const session = new ReplicationSession(
      client,
      (client as unknown as { connection: ReplicationConnection }).connection,
      source,
    );
    session.listen();
    client.query(
      `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL 0/0 (proto_version '1', publication_names '${publication.replace(/'/g, "''")}')`,
      (err: Error | null) => {
        if (err && !session.stopping) session.failed = err;
        session.wake?.();
      },
    );
    return session;
  }

  /** Set when the connection failed; the session is unusable then. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** The database the connection is on (the `db` of every change event). */
  get database(): string {
    return this.client.database ?? 'postgres';
  }

  /** The next chunk of copy data, if one is waiting; resumes the socket once the queue is short. */
  nextChunk(): Buffer | undefined {
    const chunk = this.queue.shift();
    if (chunk && this.queue.length < RESUME_BELOW_CHUNKS) this.conn.stream.resume();
    return chunk;
  }

  /** Waits until data or a failure arrives, a second passes, or the activity is cancelled. */
  async waitForData(cancelled: Promise<unknown>): Promise<void> {
    await Promise.race([
      new Promise<void>((r) => (this.wake = r)),
      sleep(MAX_IDLE_WAIT_MS),
      cancelled.catch(() => undefined),
    ]);
    this.wake = undefined;
  }

  /** Standby status update: everything up to `ackedLsn` is flushed (PostgreSQL may free that WAL). */
  sendStatus(ackedLsn: bigint): void {
    this.conn.sendCopyFromChunk(encodeStandbyStatus(ackedLsn, Date.now(), false));
  }

  /** Ends the connection; START_REPLICATION failing because of it is not a failure. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.client.end().catch(() => undefined);
  }

  private listen(): void {
    this.conn.on('copyData', (m: { chunk: Buffer }) => {
      // A copy: pg reuses its read buffer, so the chunk it hands out is overwritten by later data.
      this.queue.push(Buffer.from(m.chunk));
      if (this.queue.length > PAUSE_ABOVE_CHUNKS) this.conn.stream.pause();
      this.wake?.();
    });
    this.client.on('error', (err: Error) => {
      this.failed = err;
      this.wake?.();
    });
  }
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
