/**
 * Starting and finding backfills (`cdc backfill`, tests): validates the request, resolves 'all'
 * against the table file, refuses a second backfill of a table that one already runs on the
 * same pipeline (task queue), and starts `backfillWorkflow` as `cdc-backfill:<id>`.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { configuredTables, tableConfig } from '../domain/core/tables';
import { defaultBackfillId, parseBackfillRequest, type BackfillRequest } from '../domain/backfill/request';
import { backfillWorkflow } from '../workflows';
import { backfillWorkflowId, SA } from '../workflows/names';
import type { BackfillInput } from '../workflows/backfill';
import type { PipelineConfig } from './config';

export const BACKFILL_WORKFLOW_TYPE = 'backfillWorkflow';

/** A second backfill of a table that one already runs: the message names the running one. */
export class BackfillConflictError extends Error {
  override readonly name = 'BackfillConflictError';
  constructor(
    readonly table: string,
    readonly running: RunningBackfill,
  ) {
    super(
      `table ${table} is already being backfilled by ${running.workflowId} (${running.mode ?? '?'}, ${running.state ?? 'RUNNING'}); ` +
        `wait for it, or stop it first: cdc backfill cancel ${running.id}`,
    );
  }
}

export interface RunningBackfill {
  id: string;
  workflowId: string;
  /** Every table it covers (its memo), else the one its CdcTable names. */
  tables: string[];
  state?: string;
  mode?: string;
  startTime: Date;
}

/** The backfills running on the pipeline's task queue (Temporal's visibility; it may lag a second). */
export async function runningBackfills(
  client: Client,
  config: Pick<PipelineConfig, 'taskQueue'>,
): Promise<RunningBackfill[]> {
  const query =
    `WorkflowType = '${BACKFILL_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' ` +
    `AND TaskQueue = '${config.taskQueue.replace(/'/g, '')}'`;
  const out: RunningBackfill[] = [];
  for await (const wf of client.workflow.list({ query })) {
    const memoTables = wf.memo?.tables;
    const table = wf.typedSearchAttributes.get(SA.table);
    out.push({
      id: wf.workflowId.replace(/^cdc-backfill:/, ''),
      workflowId: wf.workflowId,
      tables: Array.isArray(memoTables) ? memoTables.map(String) : table ? [table] : [],
      ...(wf.typedSearchAttributes.get(SA.state) ? { state: wf.typedSearchAttributes.get(SA.state) } : {}),
      ...(typeof wf.memo?.mode === 'string' ? { mode: wf.memo.mode } : {}),
      startTime: wf.startTime,
    });
  }
  return out;
}

/**
 * Validates the request (a ZodError naming the field; a ConfigurationError for a table the
 * table file does not have), checks that no backfill of its tables runs (BackfillConflictError
 * naming it), and starts the workflow. Returns its handle: `handle.query(backfillProgressQuery)`,
 * `handle.result()` → the final report.
 */
export async function startBackfill(
  client: Client,
  config: Pick<PipelineConfig, 'taskQueue'>,
  request: BackfillRequest,
): Promise<WorkflowHandle<typeof backfillWorkflow>> {
  const r = parseBackfillRequest(request);
  const tables =
    r.tables === 'all' ? [...configuredTables().keys()] : r.tables.map((t) => tableConfig(t).table);
  for (const running of await runningBackfills(client, config)) {
    const table = tables.find((t) => running.tables.includes(t) || running.tables.includes('*'));
    if (table) throw new BackfillConflictError(table, running);
  }
  const id = r.id ?? defaultBackfillId(r.mode, r.tables, new Date());
  const input: BackfillInput = { ...r, id, tables };
  return client.workflow.start(backfillWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: backfillWorkflowId(id),
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: SA.state, value: 'RUNNING' },
      { key: SA.table, value: r.mode === 'replay' && tables.length !== 1 ? '*' : tables[0] },
    ],
    memo: { tables, mode: r.mode },
    staticSummary: `backfill ${r.mode} of ${tables.length === 1 ? tables[0] : `${tables.length} tables`}`,
    args: [input],
  });
}

/** `cdc-backfill:x` or `x` → the workflow id. */
export const backfillWorkflowIdOf = (idOrWorkflowId: string) =>
  idOrWorkflowId.startsWith('cdc-backfill:') ? idOrWorkflowId : backfillWorkflowId(idOrWorkflowId);
