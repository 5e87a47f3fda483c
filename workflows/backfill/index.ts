/**
 * The backfill workflow, one per request (`cdc-backfill:<id>`, docs/backfill.md):
 * - workflow.ts: plan, chunks (snapshot, reconcile, replay), pacing, hold, continue-as-new;
 * - state.ts: one state object, what continue-as-new carries, the progress;
 * - visibility.ts: search attributes and current details;
 * - definitions.ts: input, progress, signals and query, for clients (infra/backfillClient.ts).
 * What happens to each row is activities/backfill/.
 */
export * from './definitions';
export { backfillWorkflow } from './workflow';
