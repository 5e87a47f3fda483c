/** The supervisor's public face: input, overview, signals and query, for clients. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ShardPlanEntry } from '../../domain/shards/reshardPlan';
import type { BatchSettings } from '../shardReader';

export interface SupervisorInput {
  stream: string;
  consumer: string;
  settings?: Partial<BatchSettings>;
  /** How often the shard list is read again (default 300 s; 30 s in runs before the patch supervisor-sparse-scans). */
  rescanSeconds?: number;
  /** Scans before continue-as-new (default 500), unless the server suggests it earlier. */
  scansPerRun?: number;
  pausedReason?: string;
}

export interface SupervisorOverview {
  stream: string;
  consumer: string;
  pausedReason?: string;
  shards: (ShardPlanEntry & { workflowId: string })[];
  lastScan?: string;
  /** The last few things worth telling an operator (e.g. an invalid signal). */
  notes: string[];
}

/** Arguments are validated in the handler (domain/shards/operatorRequests.ts). */
export const pauseAllSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeAllSignal = defineSignal('resume');
/** Reads the shard list now (e.g. right after a reshard) instead of at the next scan. */
export const rescanSignal = defineSignal('rescan');
export const overviewQuery = defineQuery<SupervisorOverview>('overview');
