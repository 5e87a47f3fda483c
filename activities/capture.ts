import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { SlotInvalidatedError, SlotMissingError } from '../domain/core/errors';
import { Client } from 'pg';
import type { PipelineConfig } from '../infra/config';
import { awsClients } from '../infra/aws';
import { buildChangeEvent, HEARTBEAT_TABLE, type TxContext } from '../domain/capture/walChange';
import type { PgoutputMessage } from '../domain/capture/pgoutput';
import { decodePgoutput, encodeStandbyStatus, parseReplicationFrame } from '../domain/capture/pgoutput';
import type { OutgoingRecord } from '../domain/capture/producerBatches';
import { encodeChangeEvent, partitionKey } from '../domain/capture/streamRecord';
import { classified } from './failures';
import { putAllRecords } from './kinesisProducer';
import type { CaptureInput, CaptureProgress, SlotHealth } from '../domain/capture/captureTypes';
import { bigIntToLsn, lsnToBigInt } from '../domain/core/lsn';

type Relation = Extract<PgoutputMessage, { tag: 'relation' }>;

const STATUS_INTERVAL_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 2_000;

/** Thrown for a slot that does not exist: no retry helps; recover by re-provisioning and a backfill. */
async function assertSlot(slot: string): Promise<string> {
  const c = new Client();
  await c.connect();
  try {
    const r = await c.query<{ confirmed_flush_lsn: string | null; wal_status: string | null }>(
      'SELECT confirmed_flush_lsn::text, wal_status FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    if (r.rowCount === 0) {
      throw new SlotMissingError(
        `replication slot '${slot}' does not exist; run provisioning to create it, then a backfill to catch up`,
      );
    }
    if (r.rows[0].wal_status === 'lost') {
      throw new SlotInvalidatedError(
        `replication slot '${slot}' was invalidated (WAL removed); drop and re-create it, then run a backfill`,
      );
    }
    return r.rows[0].confirmed_flush_lsn ?? '0/0';
  } finally {
    await c.end();
  }
}

/**
 * Holds the logical replication stream for up to `maxRunMs`, turning each committed change into
 * a canonical event on Kinesis. The LSN is acknowledged to PostgreSQL only after Kinesis accepted
 * every record up to and including that transaction's commit; keepalive replies repeat the last
 * acknowledged LSN, never more. Heartbeats carry the acknowledged LSN.
 */

export function createCaptureActivities(config: PipelineConfig) {
  return classified({
    /** Lag and retained WAL of the slot, read from pg_replication_slots. */
    async slotHealth(slot: string): Promise<SlotHealth> {
      const c = new Client();
      await c.connect();
      try {
        const r = await c.query<{
          active: boolean;
          wal_status: string | null;
          confirmed: string | null;
          current: string;
          lag: string | null;
          retained: string | null;
        }>(
          `SELECT active, wal_status, confirmed_flush_lsn::text AS confirmed, pg_current_wal_lsn()::text AS current,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
             FROM pg_replication_slots WHERE slot_name = $1`,
          [slot],
        );
        if (r.rowCount === 0) {
          throw new SlotMissingError(`replication slot '${slot}' does not exist`);
        }
        const row = r.rows[0];
        return {
          slot,
          active: row.active,
          walStatus: row.wal_status,
          confirmedFlushLsn: row.confirmed,
          currentLsn: row.current,
          lagBytes: Number(row.lag ?? 0),
          walRetainedBytes: Number(row.retained ?? 0),
          checkedAt: new Date().toISOString(),
        };
      } finally {
        await c.end();
      }
    },

    /** A change in the heartbeat table, so the slot advances even when the monitored tables are quiet. */
    async writeCaptureHeartbeat(slot: string): Promise<void> {
      const c = new Client();
      await c.connect();
      try {
        await c.query(
          `INSERT INTO ${config.pgSchema}.${HEARTBEAT_TABLE} (slot, beat_at) VALUES ($1, now())
             ON CONFLICT (slot) DO UPDATE SET beat_at = excluded.beat_at`,
          [slot],
        );
      } finally {
        await c.end();
      }
    },

    async captureChanges(input: CaptureInput): Promise<CaptureProgress> {
      const ctx = Context.current();
      const startLsn = await assertSlot(input.slot);
      const flushEvery = input.flushEvery ?? 500;
      const { kinesis } = awsClients();
      const progress: CaptureProgress = { ackedLsn: startLsn, changes: 0, transactions: 0 };
      let acked = lsnToBigInt(startLsn);

      const client = new Client({ replication: 'database' } as ConstructorParameters<typeof Client>[0]);
      await client.connect();
      const conn = (client as unknown as { connection: ReplicationConnection }).connection;
      const db = client.database ?? 'postgres';
      const relations = new Map<number, Relation>();
      let tx: TxContext | undefined;
      let buffer: OutgoingRecord[] = [];
      const queue: Buffer[] = [];
      let wake: (() => void) | undefined;
      let failure: Error | undefined;
      let stopping = false;

      const sendStatus = (reply = false) =>
        conn.sendCopyFromChunk(encodeStandbyStatus(acked, Date.now(), reply));
      const flush = async () => {
        if (buffer.length === 0) return;
        const records = buffer;
        buffer = [];
        await putAllRecords(kinesis, config.stream, records, {
          onRetry: (n, code) => {
            ctx.heartbeat(progress);
            ctx.log.warn('PutRecords partial failure; re-sending failed records', { failed: n, code });
          },
        });
      };

      let committedLsn = acked;
      const flushAndAck = async () => {
        await flush();
        if (committedLsn > acked) {
          acked = committedLsn;
          progress.ackedLsn = bigIntToLsn(acked);
          sendStatus();
          ctx.heartbeat(progress);
        }
      };

      const handle = async (msg: PgoutputMessage) => {
        switch (msg.tag) {
          case 'begin':
            tx = {
              db,
              finalLsn: msg.finalLsn,
              commitTimeMicros: msg.commitTimeMicros,
              xid: msg.xid,
              index: 0,
            };
            return;
          case 'relation':
            relations.set(msg.relationId, msg);
            return;
          case 'insert':
          case 'update':
          case 'delete': {
            const rel = relations.get(msg.relationId);
            if (!rel || !tx)
              throw new Error(`change for unknown relation ${msg.relationId} or outside a transaction`);
            if (rel.name === HEARTBEAT_TABLE) return; // acknowledged with its commit, never streamed
            const event = buildChangeEvent(msg, rel, tx);
            tx.index++;
            buffer.push({
              partitionKey: partitionKey(rel.name, event.key),
              data: Buffer.from(encodeChangeEvent(event)),
            });
            if (buffer.length >= flushEvery) await flush();
            return;
          }
          case 'truncate':
            // Documented: TRUNCATE is not a row change; it is logged and left to a backfill (docs/architecture.md).
            ctx.log.warn('TRUNCATE seen in the change stream; not propagated', {
              relations: msg.relationIds.length,
            });
            return;
          case 'commit':
            // Group commit: the transaction is acknowledged once a flush has put it on the stream
            // (when nothing more is waiting to be decoded, or the buffer is full).
            committedLsn = msg.endLsn;
            progress.transactions++;
            progress.changes += tx?.index ?? 0;
            tx = undefined;
            if (buffer.length >= flushEvery) await flushAndAck();
            return;
          default:
            return;
        }
      };

      conn.on('copyData', (m: { chunk: Buffer }) => {
        // A copy: pg reuses its read buffer, so the chunk it hands out is overwritten by later data.
        queue.push(Buffer.from(m.chunk));
        if (queue.length > 10_000) conn.stream.pause(); // back-pressure while Kinesis catches up
        wake?.();
      });
      client.on('error', (err: Error) => {
        failure = err;
        wake?.();
      });
      client.query(
        `START_REPLICATION SLOT ${quoteIdent(input.slot)} LOGICAL 0/0 (proto_version '1', publication_names '${input.publication.replace(/'/g, "''")}')`,
        (err: Error | null) => {
          if (err && !stopping) failure = err;
          wake?.();
        },
      );

      const deadline = Date.now() + input.maxRunMs;
      let lastStatus = Date.now();
      let lastHeartbeat = Date.now();
      try {
        while (!failure && Date.now() < deadline && !ctx.cancellationSignal.aborted) {
          const chunk = queue.shift();
          if (!chunk && committedLsn > acked) {
            await flushAndAck();
          } else if (!chunk) {
            await Promise.race([
              new Promise<void>((r) => (wake = r)),
              sleep(1_000),
              ctx.cancelled.catch(() => undefined),
            ]);
            wake = undefined;
          } else {
            if (queue.length < 1_000) conn.stream.resume();
            const frame = parseReplicationFrame(chunk);
            if (frame.kind === 'keepalive') {
              if (frame.replyRequested) sendStatus();
            } else {
              await handle(decodePgoutput(frame.data));
            }
          }
          if (Date.now() - lastStatus > STATUS_INTERVAL_MS) {
            sendStatus();
            lastStatus = Date.now();
          }
          if (Date.now() - lastHeartbeat > HEARTBEAT_INTERVAL_MS) {
            ctx.heartbeat(progress); // also how a cancellation reaches this activity
            lastHeartbeat = Date.now();
          }
        }
        if (failure) throw failure;
        return progress;
      } finally {
        stopping = true;
        await client.end().catch(() => undefined);
      }
    },
  });
}

interface ReplicationConnection {
  on(event: 'copyData', listener: (m: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
