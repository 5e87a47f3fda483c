import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import {
  ActorSchema,
  DeadLetterFilterSchema,
  letterConsumer,
  listDeadLetters,
  readItem,
} from '../activities/deadLetterAdmin';
import { redriveWorkflow } from '../workflows';
import { redriveWorkflowId } from '../workflows/names';
import { MAX_CHUNK_SIZE, MAX_IDS, type RedriveInput } from '../workflows/redrive';
import { awsClients } from './aws';
import type { PipelineConfig } from './config';
import { deploymentConsumers, type Consumer } from './consumers';

/**
 * A redrive request as an operator gives it (`cdc dlq redrive`): exactly one of `ids` (DLQ keys)
 * and `filter` (every PARKED item matching it), who asks and why. `consumer` names the consumer
 * whose letters these are (default: the one consumer the selection's letters belong to).
 * `requestId` names the request (default: `redrive-<time>-<random>`); the workflow id is
 * `cdc-redrive:<requestId>`.
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
    consumer: z.string().trim().min(1).max(200).optional(),
    chunkSize: z.number().int().min(1).max(MAX_CHUNK_SIZE).optional(),
  })
  .extend(ActorSchema.shape)
  .refine((r) => (r.ids === undefined) !== (r.filter === undefined), 'give exactly one of ids and filter')
  .refine(
    (r) => r.consumer === undefined || r.filter?.consumer === undefined || r.consumer === r.filter.consumer,
    'consumer and filter.consumer differ',
  );
export type RedriveRequest = z.input<typeof RedriveRequestSchema>;

/** A redrive the selection does not allow (letters of several consumers, an unknown consumer): nothing was started. */
export class RedriveRefused extends Error {
  override readonly name = 'RedriveRefused';
}

/**
 * Validates the request (throws a ZodError naming the field), finds the consumer its letters
 * belong to (throws RedriveRefused when they belong to more than one and none is named, when a
 * named one is not theirs, or when it is not a consumer of this deployment), and starts the
 * redrive workflow on that consumer's task queue, so that consumer's worker redrives them
 * through its own sink; returns its handle (`handle.query(redriveProgressQuery)`,
 * `handle.result()` → the final progress). Starting the same `requestId` again while it runs
 * returns the running redrive; once it has finished, a requestId cannot be used again.
 */
export async function startRedrive(
  client: Client,
  config: PipelineConfig,
  request: RedriveRequest,
): Promise<WorkflowHandle<typeof redriveWorkflow>> {
  const r = RedriveRequestSchema.parse(request);
  const consumer = await redriveConsumer(config, r);
  const requestId =
    r.requestId ?? `redrive-${new Date().toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const input: RedriveInput = {
    requestId,
    ...(r.ids ? { ids: [...new Set(r.ids)] } : { filter: { ...r.filter!, consumer: consumer.name } }),
    consumer: consumer.name,
    actor: r.actor,
    reason: r.reason,
    ...(r.chunkSize !== undefined ? { chunkSize: r.chunkSize } : {}),
  };
  return client.workflow.start(redriveWorkflow, {
    taskQueue: consumer.taskQueue,
    workflowId: redriveWorkflowId(requestId),
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    staticSummary: `DLQ redrive (${consumer.name}) by ${r.actor}: ${r.ids ? `${input.ids!.length} ids` : 'filter'}`,
    args: [input],
  });
}

/** Letters read at once while finding whose the given ids are. */
const READ_CONCURRENCY = 16;

/**
 * The consumer whose letters the request selects: the named one (every given id must be its),
 * or the one the selected letters belong to. A selection of no letter (unknown ids, a filter
 * matching none) goes to the operational consumer, which then reports what it found.
 */
export async function redriveConsumer(
  config: PipelineConfig,
  r: Pick<z.output<typeof RedriveRequestSchema>, 'ids' | 'filter' | 'consumer'>,
): Promise<Consumer> {
  const consumers = deploymentConsumers(config);
  const named = r.consumer ?? r.filter?.consumer;
  const find = (name: string) => {
    const c = consumers.find((x) => x.name === name);
    if (!c)
      throw new RedriveRefused(
        `${name} is not a consumer of this deployment (${consumers.map((x) => x.name).join(', ')})`,
      );
    return c;
  };
  if (named !== undefined && r.filter) return find(named);
  const deps = { aws: awsClients(), config };
  /** Consumer → letters of it found (up to the first few keys, for the message). */
  const owners = new Map<string, string[]>();
  const note = (item: Record<string, unknown>) => {
    const owner = letterConsumer(item, config) ?? '(unknown)';
    const keys = owners.get(owner) ?? [];
    keys.push(String(item.pk));
    owners.set(owner, keys);
  };
  if (r.ids) {
    const ids = [...new Set(r.ids)];
    for (let i = 0; i < ids.length; i += READ_CONCURRENCY) {
      const items = await Promise.all(ids.slice(i, i + READ_CONCURRENCY).map((pk) => readItem(deps, pk)));
      for (const item of items) if (item) note(item);
    }
  } else {
    let cursor: string | undefined;
    do {
      const page = await listDeadLetters(
        deps,
        { ...r.filter!, status: 'PARKED' },
        {
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        },
      );
      for (const item of page.items) note(item as unknown as Record<string, unknown>);
      cursor = page.cursor;
    } while (cursor && owners.size < 2);
  }
  const summary = () =>
    [...owners]
      .map(([name, keys]) => `${name}: ${keys.length}${keys.length > 1 ? ' letters' : ' letter'}`)
      .join(', ');
  if (named !== undefined) {
    const others = [...owners.keys()].filter((o) => o !== named);
    if (others.length)
      throw new RedriveRefused(
        `some of these letters do not belong to consumer ${named} (${summary()}): a letter is redriven only by its own consumer`,
      );
    return find(named);
  }
  if (owners.size > 1)
    throw new RedriveRefused(
      `the selection holds letters of more than one consumer (${summary()}): a letter is redriven only ` +
        `through its own consumer's sink; redrive them one consumer at a time (--consumer <name>)`,
    );
  const [only] = owners.keys();
  return find(only ?? config.consumer);
}
