/**
 * What the shard readers cost in Temporal, read from their histories (every run, continued-as-new
 * runs included), per measured window (an event belongs to the window its time falls in):
 * history events, workflow tasks (WorkflowTaskStarted), and Temporal Cloud actions.
 *
 * Actions are counted as Temporal Cloud bills them (docs.temporal.io/cloud/actions):
 * - workflow started: 1 per run's WorkflowExecutionStarted (client start, child start, continue-as-new);
 * - activity: 1 per ActivityTaskScheduled, plus 1 per retry (ActivityTaskStarted.attempt − 1);
 * - local activities: 1 per workflow task whose completion recorded local-activity markers
 *   (every RecordMarker of one workflow task is one action, not N);
 * - timer started: 1 per TimerStarted;
 * - signal: 1 per WorkflowExecutionSignaled and per SignalExternalWorkflowExecutionInitiated (a
 *   signal between two counted workflows would count twice; shard readers send none);
 * - search attributes: 1 per UpsertWorkflowSearchAttributes, unless it only sets TemporalChangeVersion;
 * - child workflow: 2 per StartChildWorkflowExecutionInitiated (start and execution);
 * - update accepted or rejected, workflow options updated: 1 each;
 * - activity heartbeats that reach the server: not in history, so estimated for pulls (pullRecords,
 *   pullBatch): one that heartbeated (its result says `waited`; without `decode`, one that ran
 *   ≥ 100 ms) with a heartbeat timeout of 20 s (before issue 20) sent one at once, then one per
 *   16 s (the SDK throttles to 80% of the timeout); with a longer one it heartbeats only when due
 *   (activities/stream/streamReader.ts `heartbeatWhenDue`): one per max(timeout / 2, timeout − 10 s).
 *   Queries (the benchmark's status queries) are not counted.
 * With `decode`, the pulls' results and the checkpoints' inputs (saveCheckpoint, and pulls that
 * write the previous checkpoint) are decoded (through the client's data converter, so the
 * payload codec too) to count records per worker and to check that no record is read twice and
 * checkpoints only move forward.
 */
import { Connection, type Client } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { temporal } from '@temporalio/proto';
import { sortableSequence, type PullResult } from '../../domain/shards/shardTypes';
import { statusQuery } from '../../workflows/shardReader/definitions';

const ET = temporal.api.enums.v1.EventType;

export interface Window {
  name: string;
  startMs: number;
  endMs: number;
}

export interface IdentityCost {
  workflowTasks: number;
  activities: number;
  byType: Record<string, number>;
  /** Records in the pulls this worker ran (with `decode`). */
  recordsPulled: number;
}

export interface CostBucket {
  events: number;
  /** Encoded size of those events (protobuf, as the server stores and bills them). */
  bytes: number;
  workflowTasks: number;
  actions: number;
  actionsByKind: Record<string, number>;
  activitiesByType: Record<string, number>;
  /** Local activities run in the window, per type (a chain's pulls and steps among them). */
  localActivitiesByType: Record<string, number>;
  /** Milliseconds from ActivityTaskStarted to its close within the window, per activity type (summed). */
  activityExecMs: Record<string, number>;
  /** Milliseconds from ActivityTaskScheduled to ActivityTaskStarted, per activity type (summed). */
  scheduleToStartMs: Record<string, number>;
  byIdentity: Record<string, IdentityCost>;
}

export interface ShardCheck {
  shardId: string;
  runs: number;
  recordsPulled: number;
  /** Records whose sequence number was pulled more than once. */
  duplicates: number;
  checkpoints: number;
  /** Checkpoints that did not move forward. */
  backwards: number;
}

export interface ShardReaderCost {
  runs: number;
  windows: Record<string, CostBucket>;
  shards: ShardCheck[];
  /** Histories that could not be read (their events are missing from the figures). */
  errors: string[];
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * A history's events, page by page, over a connection of its own: a page of shard-reader events
 * (pull results, batches of events as activity inputs) can pass gRPC's default 4 MB limit.
 */
async function* historyEvents(
  connection: Connection,
  namespace: string,
  workflowId: string,
  runId: string,
): AsyncGenerator<HistoryEvent> {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await connection.workflowService.getWorkflowExecutionHistory({
      namespace,
      execution: { workflowId, runId },
      maximumPageSize: 200,
      ...(nextPageToken ? { nextPageToken } : {}),
    });
    for (const e of page.history?.events ?? []) yield e;
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}

const emptyBucket = (): CostBucket => ({
  events: 0,
  bytes: 0,
  workflowTasks: 0,
  actions: 0,
  actionsByKind: {},
  activitiesByType: {},
  localActivitiesByType: {},
  activityExecMs: {},
  scheduleToStartMs: {},
  byIdentity: {},
});

const add = (r: Record<string, number>, k: string, n = 1) => (r[k] = (r[k] ?? 0) + n);

type Ts = HistoryEvent['eventTime'];
function tsMs(ts: Ts): number {
  if (!ts) return 0;
  const s = ts.seconds;
  const seconds = typeof s === 'number' ? s : s ? s.toNumber() : 0;
  return seconds * 1000 + (ts.nanos ?? 0) / 1e6;
}
const num = (v: number | { toNumber(): number } | null | undefined) =>
  typeof v === 'number' ? v : v ? v.toNumber() : 0;

/** Heartbeat throttle of the pull before issue 20: 80% of its 20 s heartbeat timeout. */
const HEARTBEAT_EVERY_MS = 16_000;

export async function shardReaderCost(
  client: Client,
  opts: { taskQueue: string; windows: readonly Window[]; decode?: boolean },
): Promise<ShardReaderCost> {
  const windowOf = (ms: number) => opts.windows.find((w) => ms >= w.startMs && ms <= w.endMs)?.name;
  const buckets: Record<string, CostBucket> = Object.fromEntries(
    opts.windows.map((w) => [w.name, emptyBucket()]),
  );
  const action = (w: string | undefined, kind: string, n = 1) => {
    if (!w) return;
    buckets[w].actions += n;
    add(buckets[w].actionsByKind, kind, n);
  };
  const identity = (w: string, id: string) =>
    (buckets[w].byIdentity[id] ??= { workflowTasks: 0, activities: 0, byType: {}, recordsPulled: 0 });
  const converter = client.options.loadedDataConverter;

  const runs: { workflowId: string; runId: string }[] = [];
  const query = `TaskQueue = '${opts.taskQueue}' AND WorkflowType = 'shardReaderWorkflow'`;
  const running: string[] = [];
  for await (const wf of client.workflow.list({ query })) {
    runs.push({ workflowId: wf.workflowId, runId: wf.runId });
    if (wf.status.name === 'RUNNING') running.push(wf.workflowId);
  }
  // A chain's local activities are history only once its workflow task completes (a few seconds
  // at most, workflows/shardReader/pull.ts); the server answers a query only between tasks, so
  // one query per running reader waits for that.
  await Promise.all(
    running.map((id) =>
      withTimeout(client.workflow.getHandle(id).query(statusQuery), 30_000).catch(() => undefined),
    ),
  );

  const { connectionOptions } = loadClientConnectConfig();
  const connection = await Connection.connect({
    ...connectionOptions,
    channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
  });
  const errors: string[] = [];
  const shards = new Map<string, ShardCheck & { seen: Set<string>; saved: { ms: number; seq: string }[] }>();
  /** Batch ranges pulled per shard (by reference): a range that overlaps another was read twice. */
  const rangesOf = new Map<object, [bigint, bigint][]>();
  const readOne = async (run: { workflowId: string; runId: string }) => {
    const shardId = run.workflowId.split(':').at(-1) ?? run.workflowId;
    let shard = shards.get(shardId);
    if (!shard)
      shards.set(
        shardId,
        (shard = {
          shardId,
          runs: 0,
          recordsPulled: 0,
          duplicates: 0,
          checkpoints: 0,
          backwards: 0,
          seen: new Set(),
          saved: [],
        }),
      );
    shard.runs++;
    try {
      await readRun(run, shard);
    } catch (err) {
      errors.push(`${run.workflowId} ${run.runId}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  // A few histories at a time: the server answers one page while the next run's is read.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(4, runs.length) }, async () => {
      while (next < runs.length) await readOne(runs[next++]);
    }),
  );
  await connection.close();

  /** Counts a pulled batch by its range: a range that overlaps one pulled before was read twice. */
  function countBatch(shard: ShardCheck, byRef: BatchRange, who: IdentityCost | undefined): void {
    const first = BigInt(byRef.first);
    const last = BigInt(byRef.last);
    const ranges = rangesOf.get(shard) ?? [];
    rangesOf.set(shard, ranges);
    if (ranges.some(([a, b]) => first <= b && a <= last)) shard.duplicates++;
    ranges.push([first, last]);
    shard.recordsPulled += byRef.count;
    if (who) who.recordsPulled += byRef.count;
  }

  async function readRun(
    run: { workflowId: string; runId: string },
    shard: ShardCheck & { seen: Set<string>; saved: { ms: number; seq: string }[] },
  ): Promise<void> {
    const scheduled = new Map<number, { type: string; ms: number; heartbeatMs: number }>();
    const started = new Map<number, { ms: number; identity: string; attempt: number }>();
    const markerTasks = new Map<string, Set<number>>();
    for await (const e of historyEvents(connection, client.options.namespace, run.workflowId, run.runId)) {
      const ms = tsMs(e.eventTime);
      const w = windowOf(ms);
      // A local activity's marker counts where the activity ran (see below), not where it was recorded.
      const la = e.markerRecordedEventAttributes?.markerName === 'core_local_activity';
      const ew = la
        ? windowOf(localActivityOf(e.markerRecordedEventAttributes?.details).completeMs ?? ms)
        : w;
      if (ew) {
        buckets[ew].events++;
        buckets[ew].bytes += temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
      }
      switch (e.eventType) {
        case ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
          action(w, 'workflowStarted');
          break;
        case ET.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          if (w) {
            buckets[w].workflowTasks++;
            identity(w, e.workflowTaskStartedEventAttributes?.identity ?? '?').workflowTasks++;
          }
          break;
        case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
          const a = e.activityTaskScheduledEventAttributes;
          const type = a?.activityType?.name ?? '?';
          const hb = a?.heartbeatTimeout;
          const heartbeatMs = hb ? num(hb.seconds) * 1000 + (hb.nanos ?? 0) / 1e6 : 0;
          scheduled.set(num(e.eventId), { type, ms, heartbeatMs });
          action(w, 'activity');
          if (w) add(buckets[w].activitiesByType, type);
          if (opts.decode && type === 'saveCheckpoint') {
            const [input] = (await decodeArrayFromPayloads(converter, a?.input?.payloads)) as {
              sequenceNumber: string;
            }[];
            shard.saved.push({ ms, seq: input.sequenceNumber });
          }
          if (opts.decode && type === 'pullRecords') {
            // A pull writes the previous batch's checkpoint before it reads (`saveCheckpoint`).
            const [input] = (await decodeArrayFromPayloads(converter, a?.input?.payloads)) as {
              afterSequenceNumber?: string;
              saveCheckpoint?: true;
            }[];
            if (input.saveCheckpoint && input.afterSequenceNumber)
              shard.saved.push({ ms, seq: input.afterSequenceNumber });
          }
          break;
        }
        case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
          const a = e.activityTaskStartedEventAttributes;
          const attempt = a?.attempt ?? 1;
          started.set(num(a?.scheduledEventId), { ms, identity: a?.identity ?? '?', attempt });
          if (attempt > 1) action(w, 'activityRetry', attempt - 1);
          break;
        }
        case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
        case ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
          const scheduledId = num(
            e.activityTaskCompletedEventAttributes?.scheduledEventId ??
              e.activityTaskFailedEventAttributes?.scheduledEventId ??
              e.activityTaskTimedOutEventAttributes?.scheduledEventId ??
              e.activityTaskCanceledEventAttributes?.scheduledEventId,
          );
          const s = scheduled.get(scheduledId);
          const st = started.get(scheduledId);
          if (!s) break;
          const sw = windowOf(s.ms);
          if (sw && st) {
            // The part of the run inside the window (a pull may wait past the window's end).
            const win = opts.windows.find((x) => x.name === sw)!;
            add(
              buckets[sw].activityExecMs,
              s.type,
              Math.max(0, Math.min(ms, win.endMs) - Math.max(st.ms, win.startMs)),
            );
            add(buckets[sw].scheduleToStartMs, s.type, st.ms - s.ms);
            const who = identity(sw, st.identity);
            who.activities++;
            add(who.byType, s.type);
          }
          const result = e.activityTaskCompletedEventAttributes?.result?.payloads;
          const pulled =
            opts.decode && s.type === 'pullRecords' && result
              ? ((await decodeArrayFromPayloads(converter, result)) as PullResult[])[0]
              : undefined;
          // A pull heartbeats only while it waits on empty pages (its result says so when decoded);
          // the SDK sends the first heartbeat at once, then at most one per 16 s.
          const isPull = s.type === 'pullRecords' || s.type === 'pullBatch';
          const pullResult =
            pulled ??
            (opts.decode && s.type === 'pullBatch' && result
              ? ((await decodeArrayFromPayloads(converter, result)) as { waited?: true }[])[0]
              : undefined);
          const heartbeated = pullResult ? pullResult.waited === true : ms - (st?.ms ?? ms) >= 100;
          if (isPull && st && heartbeated)
            action(
              sw,
              'heartbeatEstimated',
              s.heartbeatMs > 20_000
                ? Math.max(1, Math.floor((ms - st.ms) / Math.max(s.heartbeatMs / 2, s.heartbeatMs - 10_000)))
                : 1 + Math.floor((ms - st.ms) / HEARTBEAT_EVERY_MS),
            );
          // A pull by reference (patch batch-references) names its batch's range and count.
          const byRef =
            opts.decode && s.type === 'pullBatch' && result
              ? ((await decodeArrayFromPayloads(converter, result)) as { batch?: BatchRange }[])[0]?.batch
              : undefined;
          if (byRef) countBatch(shard, byRef, sw && st ? identity(sw, st.identity) : undefined);
          if (pulled) {
            for (const r of pulled.records) {
              if (shard.seen.has(r.sequenceNumber)) shard.duplicates++;
              shard.seen.add(r.sequenceNumber);
            }
            shard.recordsPulled += pulled.records.length;
            if (sw && st) identity(sw, st.identity).recordsPulled += pulled.records.length;
          }
          break;
        }
        case ET.EVENT_TYPE_MARKER_RECORDED: {
          const a = e.markerRecordedEventAttributes;
          if (a?.markerName !== 'core_local_activity') break;
          // A local activity belongs to the window it ran in: a chain's markers are recorded when
          // its workflow task completes, up to a few seconds later (workflows/shardReader/pull.ts).
          const meta = localActivityOf(a.details);
          const lw = windowOf(meta.completeMs ?? ms);
          if (lw) {
            const tasks = markerTasks.get(lw) ?? new Set<number>();
            markerTasks.set(lw, tasks);
            tasks.add(num(a.workflowTaskCompletedEventId));
            add(buckets[lw].localActivitiesByType, meta.type ?? '?');
          }
          // A pull in a chain (patch local-chains) is a local activity: its batch is in the marker.
          if (opts.decode && meta.type === 'pullBatch' && a.details?.result?.payloads?.length) {
            const [pulled] = (await decodeArrayFromPayloads(converter, a.details.result.payloads)) as {
              batch?: BatchRange;
            }[];
            if (pulled?.batch)
              countBatch(shard, pulled.batch, lw ? identity(lw, 'local activities') : undefined);
          }
          break;
        }
        case ET.EVENT_TYPE_TIMER_STARTED:
          action(w, 'timer');
          break;
        case ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        case ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
          action(w, 'signal');
          break;
        case ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
          const fields = Object.keys(
            e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
          );
          if (fields.some((f) => f !== 'TemporalChangeVersion')) action(w, 'searchAttributes');
          break;
        }
        case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
          action(w, 'childWorkflow', 2);
          break;
        case ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        case ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED:
          action(w, 'update');
          break;
        case ET.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
          action(w, 'optionsUpdated');
          break;
        default:
          break;
      }
    }
    for (const [w, tasks] of markerTasks) action(w, 'localActivities', tasks.size);
  }
  const checks: ShardCheck[] = [];
  for (const s of shards.values()) {
    const saved = s.saved.sort((a, b) => a.ms - b.ms);
    let backwards = 0;
    for (let i = 1; i < saved.length; i++)
      if (sortableSequence(saved[i].seq) <= sortableSequence(saved[i - 1].seq)) backwards++;
    checks.push({
      shardId: s.shardId,
      runs: s.runs,
      recordsPulled: s.recordsPulled,
      duplicates: s.duplicates,
      checkpoints: saved.length,
      backwards,
    });
  }
  checks.sort((a, b) => a.shardId.localeCompare(b.shardId));
  return { runs: runs.length, windows: buckets, shards: checks, errors };
}

/** A local activity marker's type and completion time (the SDK's `data` detail, plain JSON). */
function localActivityOf(details: Record<string, temporal.api.common.v1.IPayloads> | null | undefined): {
  type?: string;
  completeMs?: number;
} {
  const data = details?.data?.payloads?.[0]?.data;
  if (!data) return {};
  try {
    const meta = JSON.parse(Buffer.from(data).toString('utf8')) as {
      activity_type?: string;
      complete_time?: { seconds?: number; nanos?: number };
    };
    const t = meta.complete_time;
    return {
      ...(meta.activity_type ? { type: meta.activity_type } : {}),
      ...(t?.seconds !== undefined ? { completeMs: t.seconds * 1000 + (t.nanos ?? 0) / 1e6 } : {}),
    };
  } catch {
    return {};
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** What the benchmark needs of a pulled batch's reference. */
interface BatchRange {
  first: string;
  last: string;
  count: number;
}
