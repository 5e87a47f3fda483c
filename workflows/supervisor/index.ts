/**
 * The stream supervisor, one per stream and consumer:
 * - workflow.ts: the scan loop (list shards → plan → start readers → wait), continue-as-new;
 * - readers.ts: starting shard readers and restarting a closed one;
 * - signals.ts: pause/resume forwarded to every shard, rescan, overview;
 * - state.ts: the state object, search attributes; definitions.ts: for clients.
 */
export * from './definitions';
export { streamSupervisorWorkflow } from './workflow';
