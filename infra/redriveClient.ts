import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { ActorSchema, DeadLetterFilterSchema } from '../activities/deadLetterAdmin';
import { redriveWorkflow } from '../workflows';
import { redriveWorkflowId } from '../workflows/names';
import { MAX_CHUNK_SIZE, MAX_IDS, type RedriveInput } from '../workflows/redrive';
import type { PipelineConfig } from './config';

/**
 * A redrive request as an operator gives it (`cdc dlq redrive`): exactly one of `ids` (DLQ keys)
 * and `filter` (every PARKED item matching it), who asks and why. `requestId` names the request
 * (default: `redrive-<time>-<random>`); the workflow id is `cdc-redrive:<requestId>`.
 */
export const RedriveRequestSchema = z
  .strictObject({
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - (at most 100)')
      .optional(),
    ids: z
      .array(z.string().trim().min(1).max(2048))
      .min(1, 'at least one id')
      .max(MAX_IDS, `at most ${MAX_IDS} ids (use a filter for more)`)
      .optional(),
    filter: DeadLetterFilterSchema.refine(
      (f) => f.status === undefined || f.status === 'PARKED',
      'only PARKED items can be redriven (leave status out)',
    ).optional(),
    chunkSize: z.number().int().min(1).max(MAX_CHUNK_SIZE).optional(),
  })
  .extend(ActorSchema.shape)
  .refine((r) => (r.ids === undefined) !== (r.filter === undefined), 'give exactly one of ids and filter');
export type RedriveRequest = z.input<typeof RedriveRequestSchema>;

/**
 * Validates the request (throws a ZodError naming the field) and starts the redrive workflow on
 * the pipeline's task queue; returns its handle (`handle.query(redriveProgressQuery)`,
 * `handle.result()` → the final progress). Starting the same `requestId` again while it runs
 * returns the running redrive; once it has finished, a requestId cannot be used again.
 */
export async function startRedrive(
  client: Client,
  config: Pick<PipelineConfig, 'taskQueue'>,
  request: RedriveRequest,
): Promise<WorkflowHandle<typeof redriveWorkflow>> {
  const r = RedriveRequestSchema.parse(request);
  const requestId =
    r.requestId ?? `redrive-${new Date().toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const input: RedriveInput = {
    requestId,
    ...(r.ids ? { ids: [...new Set(r.ids)] } : { filter: r.filter! }),
    actor: r.actor,
    reason: r.reason,
    ...(r.chunkSize !== undefined ? { chunkSize: r.chunkSize } : {}),
  };
  return client.workflow.start(redriveWorkflow, {
    taskQueue: config.taskQueue,
    workflowId: redriveWorkflowId(requestId),
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    staticSummary: `DLQ redrive by ${r.actor}: ${r.ids ? `${input.ids!.length} ids` : 'filter'}`,
    args: [input],
  });
}
