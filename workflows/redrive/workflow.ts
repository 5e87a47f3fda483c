import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { RedriveSummary } from '../../activities/redrive';
import { NON_RETRYABLE_FAILURE_TYPES } from '../../domain/core/errors';
import {
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MAX_FAILURES_KEPT,
  MAX_IDS,
  redriveProgressQuery,
  type RedriveInput,
  type RedriveProgress,
} from './definitions';

/**
 * An infrastructure outage (DynamoDB, S3, EventBridge down) is retried until it heals; what
 * cannot heal by retrying (a missing table, no access) fails the redrive. Record-level failures
 * never throw: the activity reports them per item.
 */
const OPTIONS: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: NON_RETRYABLE_FAILURE_TYPES,
  },
};
const act = proxyActivities<Activities>(OPTIONS);

const DEFAULT_MAX_HISTORY_EVENTS = 2_000;

/** The whole state, carried across continue-as-new (keys still to do, or the listing's cursor). */
interface RedriveState {
  readonly input: RedriveInput;
  readonly chunkSize: number;
  /** Ids still to redrive (ids mode). */
  remaining: string[];
  /** Filter mode: where the listing resumes; `listed` once it has come to the end. */
  cursor?: string;
  listed: boolean;
  progress: RedriveProgress;
}

/**
 * Redrives dead letters: the given keys, or every PARKED one matching the filter (listed page
 * by page), in chunks of `chunkSize` through the `redriveDeadLetters` activity. Progress is the
 * `progress` query and the Web UI's current details. Only keys, counts and reasons pass through
 * history, never a raw record.
 */
export async function redriveWorkflow(input: RedriveInput): Promise<RedriveProgress> {
  const problem = shapeProblem(input);
  if (problem)
    throw ApplicationFailure.nonRetryable(`invalid redrive input: ${problem}`, 'InvalidRedriveInput');
  const s = initialState(input);
  setHandler(redriveProgressQuery, () => ({ ...s.progress, failures: [...s.progress.failures] }));
  show(s);
  for (;;) {
    let pks: string[] | undefined;
    try {
      pks = await nextChunk(s);
      if (pks === undefined) break;
      if (pks.length) record(s, await redriveChunk(s, pks));
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      s.progress.state = 'FAILED';
      s.progress.error = (err.cause?.message ?? err.message).slice(0, 500);
      show(s);
      throw ApplicationFailure.nonRetryable(
        `redrive ${s.progress.requestId} stopped after ${s.progress.done} items: ${s.progress.error}`,
        'RedriveFailed',
      );
    }
    show(s);
    const info = workflowInfo();
    if (
      info.continueAsNewSuggested ||
      info.historyLength >= (input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS)
    ) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof redriveWorkflow>(carriedInput(s));
    }
  }
  s.progress.state = 'DONE';
  show(s);
  return s.progress;
}

function initialState(input: RedriveInput): RedriveState {
  return {
    input,
    chunkSize: input.chunkSize ?? DEFAULT_CHUNK_SIZE,
    remaining: [...(input.ids ?? [])],
    ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
    listed: false,
    progress: input.progress
      ? { ...input.progress, failures: [...input.progress.failures] }
      : {
          requestId: input.requestId,
          total: input.ids?.length ?? 0,
          done: 0,
          redriven: 0,
          stale: 0,
          failed: 0,
          skipped: 0,
          state: 'RUNNING',
          failures: [],
        },
  };
}

/** The next keys to redrive (possibly none yet, while listing goes on); undefined when all are done. */
async function nextChunk(s: RedriveState): Promise<string[] | undefined> {
  if (!s.input.filter) {
    if (!s.remaining.length) return undefined;
    return s.remaining.slice(0, s.chunkSize);
  }
  if (s.listed) return undefined;
  // Only PARKED items can be redriven: the others are not even listed.
  const { consumer } = s.input;
  const page = await act.listDeadLetterPks(
    { ...s.input.filter, ...(consumer !== undefined ? { consumer } : {}), status: 'PARKED' },
    s.cursor,
    s.chunkSize,
  );
  if (page.cursor !== undefined) s.cursor = page.cursor;
  else {
    delete s.cursor;
    s.listed = true;
  }
  s.progress.total += page.pks.length;
  return page.pks;
}

function redriveChunk(s: RedriveState, pks: string[]): Promise<RedriveSummary> {
  const { actor, reason, requestId, consumer } = s.input;
  const p = s.progress;
  return act.redriveDeadLetters.executeWithOptions(
    { ...OPTIONS, summary: `redrive ${pks.length} dead letters (${p.done} of ${p.total} done)` },
    [{ pks, actor, reason, requestId, ...(consumer !== undefined ? { consumer } : {}) }],
  );
}

function record(s: RedriveState, r: RedriveSummary): void {
  const p = s.progress;
  p.redriven += r.redriven;
  p.stale += r.stale;
  p.failed += r.failed;
  p.skipped += r.skipped;
  p.done += r.outcomes.length;
  for (const o of r.outcomes)
    if (o.result !== 'redriven' && o.result !== 'stale')
      p.failures.push({ pk: o.pk, reason: `${o.result}: ${o.reason ?? ''}`.slice(0, 300) });
  p.failures.splice(0, Math.max(0, p.failures.length - MAX_FAILURES_KEPT));
  if (!s.input.filter) {
    const done = new Set(r.outcomes.map((o) => o.pk));
    s.remaining = s.remaining.filter((pk) => !done.has(pk));
  }
}

/** The next run's input: the same request, where this run left it. */
function carriedInput(s: RedriveState): RedriveInput {
  const { requestId, filter, consumer, actor, reason, chunkSize, maxHistoryEvents } = s.input;
  return {
    requestId,
    ...(filter ? { filter } : { ids: s.remaining }),
    ...(consumer !== undefined ? { consumer } : {}),
    actor,
    reason,
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(maxHistoryEvents !== undefined ? { maxHistoryEvents } : {}),
    ...(s.cursor !== undefined ? { cursor: s.cursor } : {}),
    progress: s.progress,
  };
}

/** The Web UI's current details: state, counts, the latest failures (keys and reasons, no row data). */
function show(s: RedriveState): void {
  const p = s.progress;
  const { actor, reason, filter, consumer } = s.input;
  const recent = p.failures.slice(-5);
  setCurrentDetails(
    [
      `**Redrive ${p.state}**: ${p.done} of ${p.total}${s.input.filter && !s.listed && p.state === 'RUNNING' ? '+' : ''} items done`,
      `- redriven ${p.redriven}, stale ${p.stale} (the sink holds it or newer: not published), failed ${p.failed} (still PARKED), skipped ${p.skipped}`,
      `- by ${actor}: ${reason}`,
      consumer !== undefined ? `- consumer: ${consumer}` : '',
      filter ? `- filter: \`${JSON.stringify(filter)}\`` : '',
      p.error ? `- error: ${p.error}` : '',
      recent.length
        ? `- last failures:\n${recent.map((f) => `  - \`${f.pk}\`: ${f.reason}`).join('\n')}`
        : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
}

/**
 * The input's shape (the client validated it with zod, infra/redriveClient.ts; a hand-started
 * workflow is checked here): a reason, or undefined when it is fine.
 */
function shapeProblem(i: RedriveInput): string | undefined {
  if (typeof i !== 'object' || i === null) return 'expected an object';
  const text = (v: unknown) => typeof v === 'string' && v.trim().length > 0;
  if (!text(i.requestId) || !/^[A-Za-z0-9._-]{1,100}$/.test(i.requestId))
    return 'requestId: letters, digits, . _ -';
  if (!text(i.actor)) return 'actor: say who asks';
  if (!text(i.reason)) return 'reason: say why';
  if ((i.ids === undefined) === (i.filter === undefined)) return 'give exactly one of ids and filter';
  if (i.consumer !== undefined && !text(i.consumer)) return 'consumer: a consumer name';
  if (i.ids !== undefined) {
    if (!Array.isArray(i.ids) || !i.ids.every(text)) return 'ids: a list of DLQ keys';
    if (i.ids.length > MAX_IDS) return `ids: at most ${MAX_IDS} (use a filter for more)`;
    if (!i.ids.length && !i.progress) return 'ids: at least one';
  }
  if (
    i.filter !== undefined &&
    (typeof i.filter !== 'object' || i.filter === null || Array.isArray(i.filter))
  )
    return 'filter: an object';
  if (
    i.chunkSize !== undefined &&
    (!Number.isInteger(i.chunkSize) || i.chunkSize < 1 || i.chunkSize > MAX_CHUNK_SIZE)
  )
    return `chunkSize: 1 to ${MAX_CHUNK_SIZE}`;
  return undefined;
}
