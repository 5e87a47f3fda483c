/**
 * What each workflow of a task queue costs in Temporal over a time window, from its histories
 * (every run, continued-as-new runs included): history events and Temporal Cloud actions, by
 * workflow type. The action rules are temporalCost.ts's (docs.temporal.io/cloud/actions), with
 * the heartbeats of every heartbeating activity estimated from its heartbeat timeout, over the
 * part of its run inside the window (an activity still running counts up to the window's end):
 * - the capture activity calls heartbeat every 2 s: the SDK sends the first at once, then one per
 *   80 % of the heartbeat timeout;
 * - the pull: heartbeat timeout ≤ 20 s (before issue 20): as capture, from its first empty page
 *   (a pull that ran < 100 ms sent none); longer: only when due (streamReader.ts
 *   `heartbeatWhenDue`), one per max(timeout / 2, timeout − 10 s).
 */
import { Connection, type Client } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { temporal } from '@temporalio/proto';

const ET = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface WorkflowTypeCost {
  workflows: number;
  runs: number;
  events: number;
  actions: number;
  actionsByKind: Record<string, number>;
  activitiesByType: Record<string, number>;
}

const ms = (ts: HistoryEvent['eventTime']): number => {
  if (!ts) return 0;
  const s = ts.seconds;
  return (typeof s === 'number' ? s : s ? s.toNumber() : 0) * 1000 + (ts.nanos ?? 0) / 1e6;
};
const durMs = (
  d: { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined,
) =>
  d
    ? (typeof d.seconds === 'number' ? d.seconds : (d.seconds?.toNumber() ?? 0)) * 1000 + (d.nanos ?? 0) / 1e6
    : 0;
const num = (v: number | { toNumber(): number } | null | undefined) =>
  typeof v === 'number' ? v : v ? v.toNumber() : 0;
const add = (r: Record<string, number>, k: string, n = 1) => (r[k] = (r[k] ?? 0) + n);

/** Heartbeats sent between `from` and `to` by an activity started at `startMs` (see the header). */
export function heartbeatsSent(
  type: string,
  heartbeatTimeoutMs: number,
  startMs: number,
  endMs: number,
  window: { startMs: number; endMs: number },
): number {
  if (!heartbeatTimeoutMs) return 0;
  const pull = type === 'pullRecords' || type === 'pullBatch';
  let first: number;
  let every: number;
  if (pull && heartbeatTimeoutMs > 20_000) {
    every = Math.max(heartbeatTimeoutMs / 2, heartbeatTimeoutMs - 10_000);
    first = startMs + every;
  } else {
    if (pull && endMs - startMs < 100) return 0;
    every = heartbeatTimeoutMs * 0.8;
    first = startMs + (pull ? 50 : 2_000);
  }
  let n = 0;
  for (let t = first; t < endMs; t += every) if (t >= window.startMs && t <= window.endMs) n++;
  return n;
}

export async function costByWorkflowType(
  client: Client,
  opts: { taskQueue: string; window: { startMs: number; endMs: number } },
): Promise<Record<string, WorkflowTypeCost>> {
  const { window } = opts;
  const inWindow = (t: number) => t >= window.startMs && t <= window.endMs;
  const byType: Record<string, WorkflowTypeCost> = {};
  const ids: Record<string, Set<string>> = {};
  const runs: { workflowId: string; runId: string; type: string }[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${opts.taskQueue}'` }))
    runs.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type });
  const { connectionOptions } = loadClientConnectConfig();
  const connection = await Connection.connect({
    ...connectionOptions,
    channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
  });
  try {
    for (const run of runs) {
      const c = (byType[run.type] ??= {
        workflows: 0,
        runs: 0,
        events: 0,
        actions: 0,
        actionsByKind: {},
        activitiesByType: {},
      });
      (ids[run.type] ??= new Set()).add(run.workflowId);
      c.workflows = ids[run.type].size;
      c.runs++;
      const action = (t: number, kind: string, n = 1) => {
        if (!inWindow(t) || n === 0) return;
        c.actions += n;
        add(c.actionsByKind, kind, n);
      };
      const scheduled = new Map<number, { type: string; heartbeatMs: number; ms: number }>();
      const started = new Map<number, number>();
      const markerTasks = new Set<number>();
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await connection.workflowService.getWorkflowExecutionHistory({
          namespace: client.options.namespace,
          execution: { workflowId: run.workflowId, runId: run.runId },
          maximumPageSize: 500,
          ...(nextPageToken ? { nextPageToken } : {}),
        });
        for (const e of page.history?.events ?? []) {
          const t = ms(e.eventTime);
          if (inWindow(t)) c.events++;
          switch (e.eventType) {
            case ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
              action(t, 'workflowStarted');
              break;
            case ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
              const a = e.activityTaskScheduledEventAttributes;
              const type = a?.activityType?.name ?? '?';
              scheduled.set(num(e.eventId), { type, heartbeatMs: durMs(a?.heartbeatTimeout), ms: t });
              action(t, 'activity');
              if (inWindow(t)) add(c.activitiesByType, type);
              break;
            }
            case ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
              const a = e.activityTaskStartedEventAttributes;
              started.set(num(a?.scheduledEventId), t);
              if ((a?.attempt ?? 1) > 1) action(t, 'activityRetry', (a?.attempt ?? 1) - 1);
              break;
            }
            case ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            case ET.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            case ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            case ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
              const id = num(
                e.activityTaskCompletedEventAttributes?.scheduledEventId ??
                  e.activityTaskFailedEventAttributes?.scheduledEventId ??
                  e.activityTaskTimedOutEventAttributes?.scheduledEventId ??
                  e.activityTaskCanceledEventAttributes?.scheduledEventId,
              );
              const s = scheduled.get(id);
              const st = started.get(id);
              if (s && st !== undefined) {
                const n = heartbeatsSent(s.type, s.heartbeatMs, st, t, window);
                c.actions += n;
                if (n) add(c.actionsByKind, 'heartbeatEstimated', n);
              }
              scheduled.delete(id);
              started.delete(id);
              break;
            }
            case ET.EVENT_TYPE_MARKER_RECORDED: {
              const a = e.markerRecordedEventAttributes;
              if (inWindow(t) && a?.markerName === 'core_local_activity')
                markerTasks.add(num(a.workflowTaskCompletedEventId));
              break;
            }
            case ET.EVENT_TYPE_TIMER_STARTED:
              action(t, 'timer');
              break;
            case ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            case ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
              action(t, 'signal');
              break;
            case ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: {
              const fields = Object.keys(
                e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {},
              );
              if (fields.some((f) => f !== 'TemporalChangeVersion')) action(t, 'searchAttributes');
              break;
            }
            case ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
              action(t, 'childWorkflow', 2);
              break;
            default:
              break;
          }
        }
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
      // Activities still running at the end (the capture activity, a waiting pull): a retried
      // activity's ActivityTaskStarted is written when it closes, so it counts from its scheduling.
      for (const [id, s] of scheduled) {
        const n = heartbeatsSent(s.type, s.heartbeatMs, started.get(id) ?? s.ms, window.endMs, window);
        c.actions += n;
        if (n) add(c.actionsByKind, 'heartbeatEstimated', n);
      }
      if (markerTasks.size) {
        c.actions += markerTasks.size;
        add(c.actionsByKind, 'localActivities', markerTasks.size);
      }
    }
  } finally {
    await connection.close();
  }
  return byType;
}
