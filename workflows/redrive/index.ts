/**
 * The DLQ redrive workflow, one per request (`cdc-redrive:<requestId>`):
 * - workflow.ts: list (filter) or take (ids) the keys, redrive them in chunks, continue-as-new;
 * - definitions.ts: input, progress and query, for clients (infra/redriveClient.ts starts it).
 * What happens to each item is activities/redrive.ts.
 */
export * from './definitions';
export { redriveWorkflow } from './workflow';
