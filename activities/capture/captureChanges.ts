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
import { readSourceEpoch, resolveSourceEpoch, type EpochStore } from './sourceEpoch';

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
 * resolved at the start of the run from the source's identity (activities/capture/sourceEpoch.ts);
 * at every status interval the run reads the record again and ends (at once, acknowledging
 * nothing more) when its epoch is no longer the one the run stamps (an operator's bump): the next
 * run starts at once, re-sends what was not acknowledged, and stamps the new epoch.
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
    const store: EpochStore = { doc: deps.aws.doc, table: deps.config.tables.state, slot: input.slot };
    const { record } = await resolveSourceEpoch(store, session.source, {
      log: (line) => ctx.log.warn(line, { slot: input.slot }),
    });
    const changes = changeBuffer(deps, alerts, ctx, session, input, startLsn, record.epoch);
    const ended = await replicate(
      ctx,
      session,
      changes,
      Date.now() + input.maxRunMs,
      input.statusIntervalMs,
      epochMoved(store, record.epoch),
    );
    if (ended) ctx.log.warn(ended, { slot: input.slot });
    return changes.progress;
  } finally {
    await session.close();
  }
}

/**
 * Whether the recorded epoch is still the one this run stamps: undefined when it is (or when the
 * record cannot be read now: the next interval tries again), else the line to log.
 */
function epochMoved(store: EpochStore, epoch: number): () => Promise<string | undefined> {
  return async () => {
    const now = await readSourceEpoch(store).catch(() => undefined);
    if (!now || now.epoch === epoch) return undefined;
    return `source epoch of slot ${store.slot} is now ${now.epoch} (${now.reason}), this capture run stamps ${epoch}: ending the run, the next one stamps ${now.epoch} from the slot's acknowledged position`;
  };
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
 * The capture loop: until the deadline, a cancellation, a connection failure (thrown) or a new
 * source epoch recorded (`epochCheck`, at every status interval; returns its line). Leaving at the
 * deadline or on a cancellation, it first puts what is buffered on the stream and acknowledges
 * the commits that completed, so the next run does not re-send them; leaving for a new epoch, it
 * puts and acknowledges nothing more (those changes come again in the next run, at the new epoch).
 */
async function replicate(
  ctx: Context,
  session: ReplicationSession,
  changes: ChangeBuffer,
  deadline: number,
  statusIntervalMs = STATUS_INTERVAL_MS,
  epochCheck: () => Promise<string | undefined> = async () => undefined,
): Promise<string | undefined> {
  // The standby status and the heartbeat go out on timers of their own, not from the loop: a
  // PutRecords that takes longer than wal_sender_timeout or the heartbeat timeout (Kinesis
  // throttling, an overloaded host) must not make PostgreSQL end the replication connection, nor
  // Temporal start a second attempt that finds the slot still in use. The status only repeats
  // the last acknowledged LSN; a put that hangs is bounded by the SDK's request timeout.
  let ended: string | undefined;
  let wakeOnEnd: () => void = () => undefined;
  const endedSignal = new Promise<void>((r) => (wakeOnEnd = r));
  let checking = false;
  const status = setInterval(() => {
    if (!session.failure) session.sendStatus(changes.ackedLsn);
    if (checking || ended) return;
    checking = true;
    void epochCheck()
      .then((line) => {
        if (line && !ended) {
          ended = line;
          wakeOnEnd();
        }
      })
      .catch(() => undefined)
      .finally(() => (checking = false));
  }, statusIntervalMs);
  const heartbeat = setInterval(() => ctx.heartbeat(changes.progress), HEARTBEAT_INTERVAL_MS);
  // Wakes an idle wait for data: a cancellation, or the end of the run for a new epoch.
  const woken = Promise.race([ctx.cancelled, endedSignal]);
  woken.catch(() => undefined); // a cancellation while busy is seen by the loop's condition
  try {
    while (!session.failure && !ended && Date.now() < deadline && !ctx.cancellationSignal.aborted) {
      await step(session, changes, woken);
    }
  } finally {
    clearInterval(status);
    clearInterval(heartbeat);
  }
  if (session.failure) throw session.failure;
  if (ended) return ended;
  await changes.flushAndAck();
  return undefined;
}

/**
 * One turn: decode the next chunk of copy data; with none waiting, acknowledge what was
 * committed (group commit), or else wait for data.
 */
async function step(
  session: ReplicationSession,
  changes: ChangeBuffer,
  woken: Promise<unknown>,
): Promise<void> {
  const chunk = session.nextChunk();
  if (!chunk && changes.hasUnacknowledgedCommit) return changes.flushAndAck();
  if (!chunk) return session.waitForData(woken);
  const frame = parseReplicationFrame(chunk);
  if (frame.kind === 'keepalive') {
    if (frame.replyRequested) session.sendStatus(changes.ackedLsn);
  } else {
    await changes.handle(decodePgoutput(frame.data));
  }
}
