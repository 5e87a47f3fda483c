/**
 * The shard-reader workflow, one per shard and consumer:
 * - workflow.ts: the loop (pull → process → checkpoint, continue-as-new);
 * - batch.ts: transform → redact → apply → publish, dead letters and skips;
 * - runStep.ts: a step retried with backoff (workflows/common/stepRetry.ts), STUCK, interrupted by pause or skip;
 * - pause.ts: pause and resume; pull.ts: reading the next batch;
 * - state.ts: the state carried across continue-as-new; visibility.ts: what the Web UI shows;
 * - definitions.ts: input, status, signals and query, for clients.
 */
export * from './definitions';
export { shardReaderWorkflow } from './workflow';
