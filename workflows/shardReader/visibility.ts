/**
 * What the Web UI shows of a shard: search attributes (CdcState, CdcCheckpoint, CdcLagMs) and
 * current details (why it is PAUSED or STUCK, the record in trouble, what to do). No row values:
 * these bypass the payload codec.
 */
import { patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { SA, type ShardState } from '../names';
import type { ShardReaderState } from './state';

/** CdcCheckpoint and CdcLagMs alone are upserted at most this often (each upsert is a Temporal action). */
const PROGRESS_UPSERT_INTERVAL_MS = 5_000;

/** Marks the histories whose progress-only upserts are spaced by PROGRESS_UPSERT_INTERVAL_MS. */
const SPACED_PROGRESS_PATCH = 'spaced-progress-upserts';

export class ShardVisibility {
  private shown = '';
  private shownState: ShardState | undefined;
  private shownAt = 0;

  constructor(private readonly s: ShardReaderState) {}

  /**
   * Moves to `next` and updates search attributes when something an operator filters on changed:
   * a new state at once; a new checkpoint or lag alone at most every 5 s of workflow time (it was
   * one upsert, one action, per batch), so CdcCheckpoint may trail the status query by that much.
   */
  publish(next: ShardState): void {
    const s = this.s;
    s.state = next;
    const key = `${s.state}|${s.checkpoint ?? ''}|${Math.round(s.lagMs / 1000)}`;
    if (key === this.shown) return;
    const now = Date.now(); // workflow time: deterministic on replay
    if (
      s.state === this.shownState &&
      now - this.shownAt < PROGRESS_UPSERT_INTERVAL_MS &&
      patched(SPACED_PROGRESS_PATCH)
    )
      return;
    this.shown = key;
    this.shownState = s.state;
    this.shownAt = now;
    upsertSearchAttributes([
      { key: SA.state, value: s.state },
      { key: SA.checkpoint, value: s.checkpoint ?? 'TRIM_HORIZON' },
      { key: SA.lagMs, value: s.lagMs },
    ]);
    if (s.state !== 'STUCK')
      setCurrentDetails(s.state === 'PAUSED' ? `**PAUSED**: ${s.pausedReason ?? ''}` : '');
  }

  /** STUCK in `step`: the error, the batch, the record in trouble and the signals that act on it. */
  stuck(step: string): void {
    this.publish('STUCK');
    const { lastError, batch, trouble: t } = this.s;
    setCurrentDetails(
      [
        // Headline first (the Web UI's frame is small); a blank line so the rest renders as a list.
        `**STUCK** in \`${step}\`${t ? ` at seq ${t.sequenceNumber}` : ''} after ${lastError?.attempts ?? 0} attempts`,
        '',
        `- error (${lastError?.category}): ${lastError?.message ?? ''}`,
        batch ? `- batch: ${batch.size} records, ${batch.first} … ${batch.last}` : '',
        t
          ? `- record: seq ${t.sequenceNumber}${t.table ? `, ${t.table}` : ''}${t.entityId ? ` #${t.entityId}` : ''}${t.op ? `, op ${t.op}` : ''}${t.version ? `, version ${t.version}` : ''}`
          : '',
        `- act: signal \`pause\`, or \`skipRecord\` {"sequenceNumber": "${t?.sequenceNumber ?? '…'}", "reason": "…"} to park it in the DLQ`,
      ]
        .filter((line, i) => i === 1 || line !== '')
        .join('\n'),
    );
  }
}
