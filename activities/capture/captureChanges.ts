import { Context } from '@temporalio/activity';
import type { CaptureInput, CaptureProgress } from '../../domain/capture/captureTypes';
import { decodePgoutput, parseReplicationFrame } from '../../domain/capture/pgoutput';
import type { ActivityDeps } from '../deps';
import { parkCaptureDeadLetter } from '../deadLetters';
import type { AlertPublisher } from '../publishing/alertPublisher';
import { putAllRecords } from '../stream/kinesisProducer';
import { ChangeBuffer } from './changeBuffer';
import { ReplicationSession } from './replicationSession';
import { slotStartLsn } from './slots';
import { resolveSourceEpoch } from './sourceEpoch';

const STATUS_INTERVAL_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 2_000;
/** Records per flush under a backlog: enough distinct keys to fill several PutRecords requests at once. */
const DEFAULT_FLUSH_EVERY = 2_000;

/**
 * Holds the logical replication stream for up to `maxRunMs`, turning each committed change into
 * a canonical event on Kinesis. The LSN is acknowledged to PostgreSQL only after Kinesis accepted
 * every record up to and including that transaction's commit: after every successful flush, and
 * before the activity returns (deadline or cancellation). Keepalive replies repeat the last
 * acknowledged LSN, never more. A change that cannot go on the stream goes to the DLQ with an
 * alert, and capture moves on. Heartbeats carry the progress, with the acknowledged LSN; they
 * are also how a cancellation reaches this activity. Every change carries the source epoch,
 * resolved at the start of the run from the source's identity (activities/capture/sourceEpoch.ts).
 */
export async function captureChanges(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  input: CaptureInput,
): Promise<CaptureProgress> {
  const ctx = Context.current();
  const startLsn = await slotStartLsn(deps.pg, input.slot);
  const session = await ReplicationSession.start(deps.pg, input.slot, input.publication);
  try {
    // The epoch of the source this run reads: a new one when the source is not the one recorded
    // (failover, restore, major upgrade, blue/green), so its changes order after everything stored.
    const { record } = await resolveSourceEpoch(
      { doc: deps.aws.doc, table: deps.config.tables.state, slot: input.slot },
      session.source,
      { log: (line) => ctx.log.warn(line, { slot: input.slot }) },
    );
    const changes = changeBuffer(deps, alerts, ctx, session, input, startLsn, record.epoch);
    await replicate(ctx, session, changes, Date.now() + input.maxRunMs, input.statusIntervalMs);
    return changes.progress;
  } finally {
    await session.close();
  }
}

/** The buffer between the session and Kinesis: puts with heartbeats while re-sending, acknowledges on the session. */
function changeBuffer(
  deps: ActivityDeps,
  alerts: AlertPublisher,
  ctx: Context,
  session: ReplicationSession,
  input: CaptureInput,
  startLsn: string,
  epoch: number,
): ChangeBuffer {
  const changes: ChangeBuffer = new ChangeBuffer({
    db: session.database,
    epoch,
    startLsn,
    flushEvery: input.flushEvery ?? DEFAULT_FLUSH_EVERY,
    put: (records) =>
      putAllRecords(deps.aws.kinesis, deps.config.stream, records, {
        onRetry: (n, code) => {
          ctx.heartbeat(changes.progress);
          ctx.log.warn('PutRecords partial failure; re-sending failed records', { failed: n, code });
        },
      }),
    acknowledge: (ackedLsn) => {
      session.sendStatus(ackedLsn);
      ctx.heartbeat(changes.progress);
    },
    deadLetter: async (letter) => {
      await parkCaptureDeadLetter(deps, alerts, input.slot, letter);
      ctx.heartbeat(changes.progress);
    },
    warn: (message, attrs) => ctx.log.warn(message, attrs),
  });
  return changes;
}

/**
 * The capture loop: until the deadline, a cancellation or a connection failure (thrown). Leaving
 * at the deadline or on a cancellation, it first puts what is buffered on the stream and
 * acknowledges the commits that completed, so the next run does not re-send them.
 */
async function replicate(
  ctx: Context,
  session: ReplicationSession,
  changes: ChangeBuffer,
  deadline: number,
  statusIntervalMs = STATUS_INTERVAL_MS,
): Promise<void> {
  // The standby status and the heartbeat go out on timers of their own, not from the loop: a
  // PutRecords that takes longer than wal_sender_timeout or the heartbeat timeout (Kinesis
  // throttling, an overloaded host) must not make PostgreSQL end the replication connection, nor
  // Temporal start a second attempt that finds the slot still in use. The status only repeats
  // the last acknowledged LSN; a put that hangs is bounded by the SDK's request timeout.
  const status = setInterval(() => {
    if (!session.failure) session.sendStatus(changes.ackedLsn);
  }, statusIntervalMs);
  const heartbeat = setInterval(() => ctx.heartbeat(changes.progress), HEARTBEAT_INTERVAL_MS);
  try {
    while (!session.failure && Date.now() < deadline && !ctx.cancellationSignal.aborted) {
      await step(ctx, session, changes);
    }
  } finally {
    clearInterval(status);
    clearInterval(heartbeat);
  }
  if (session.failure) throw session.failure;
  await changes.flushAndAck();
}

/**
 * One turn: decode the next chunk of copy data; with none waiting, acknowledge what was
 * committed (group commit), or else wait for data.
 */
async function step(ctx: Context, session: ReplicationSession, changes: ChangeBuffer): Promise<void> {
  const chunk = session.nextChunk();
  if (!chunk && changes.hasUnacknowledgedCommit) return changes.flushAndAck();
  if (!chunk) return session.waitForData(ctx.cancelled);
  const frame = parseReplicationFrame(chunk);
  if (frame.kind === 'keepalive') {
    if (frame.replyRequested) session.sendStatus(changes.ackedLsn);
  } else {
    await changes.handle(decodePgoutput(frame.data));
  }
}
