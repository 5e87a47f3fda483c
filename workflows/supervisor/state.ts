/** The supervisor's state in one object: signals change it, the scan loop reacts to it. */
import { patched, upsertSearchAttributes } from '@temporalio/workflow';
import type { ShardPlanEntry } from '../../domain/shards/reshardPlan';
import { SA, shardWorkflowId } from '../names';
import type { SupervisorInput, SupervisorOverview } from './definitions';

export interface SupervisorState {
  readonly input: SupervisorInput;
  pausedReason?: string;
  plan: ShardPlanEntry[];
  lastScan?: string;
  /** Set by the `rescan` signal or a shard reader that closed: scan now. */
  rescanNow: boolean;
  notes: string[];
  /** Shards this run started (or found started). */
  started: Set<string>;
  /** Shard readers this run started and watches: a closed one is restarted at once. */
  watched: Set<string>;
  /** Behaviours behind patch markers: histories recorded before them replay without them. */
  readonly watchShards: boolean;
  readonly showState: boolean;
  /** Scans every 5 minutes, not 30 s, and at once when a watched shard reader ends (the reshard path). */
  readonly sparseScans: boolean;
}

/** The run's state; the patch markers are taken here, in the order recorded histories expect. */
export function initialState(input: SupervisorInput): SupervisorState {
  const watchShards = patched('restart-closed-shard-readers');
  const showState = patched('supervisor-search-attributes');
  const sparseScans = patched(SPARSE_SCANS_PATCH);
  return {
    input,
    ...(input.pausedReason !== undefined ? { pausedReason: input.pausedReason } : {}),
    plan: [],
    rescanNow: false,
    notes: [],
    started: new Set(),
    watched: new Set(),
    watchShards,
    showState,
    sparseScans,
  };
}

/** Marks the runs that scan sparsely (idle cost) and rescan when a shard reader ends. */
export const SPARSE_SCANS_PATCH = 'supervisor-sparse-scans';

/**
 * Seconds between two scans when nothing asks for one: `rescanSeconds` if given, else 300 (30
 * before the patch). A reshard is noticed sooner: the parent shards' readers end, and each end
 * triggers a scan that starts the children (readers.ts).
 */
export const rescanSecondsOf = (st: SupervisorState): number =>
  st.input.rescanSeconds ?? (st.sparseScans ? 300 : 30);

export const readerId = (st: SupervisorState, shardId: string) =>
  shardWorkflowId(st.input.stream, st.input.consumer, shardId);

export function note(st: SupervisorState, text: string): void {
  st.notes.push(text);
  if (st.notes.length > 5) st.notes.shift();
}

/** Search attributes: stream and consumer once, the state (RUNNING or PAUSED) when it changes. */
export function showIdentity(st: SupervisorState): void {
  if (!st.showState) return;
  upsertSearchAttributes([
    { key: SA.stream, value: st.input.stream },
    { key: SA.consumer, value: st.input.consumer },
  ]);
}

export function showState(st: SupervisorState): void {
  if (st.showState)
    upsertSearchAttributes([{ key: SA.state, value: st.pausedReason !== undefined ? 'PAUSED' : 'RUNNING' }]);
}

export function overviewOf(st: SupervisorState): SupervisorOverview {
  return {
    stream: st.input.stream,
    consumer: st.input.consumer,
    ...(st.pausedReason !== undefined ? { pausedReason: st.pausedReason } : {}),
    shards: st.plan.map((p) => ({ ...p, workflowId: readerId(st, p.shardId) })),
    ...(st.lastScan ? { lastScan: st.lastScan } : {}),
    notes: [...st.notes],
  };
}
