/**
 * What the Web UI shows of a shard: search attributes (CdcState, CdcCheckpoint, CdcLagMs) and
 * current details (why it is PAUSED or STUCK, the record in trouble, what to do). No row values:
 * these bypass the payload codec.
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { SA, type ShardState } from '../names';
import type { ShardReaderState } from './state';

export class ShardVisibility {
  private shown = '';

  constructor(private readonly s: ShardReaderState) {}

  /** Moves to `next` and updates search attributes when something an operator filters on changed. */
  publish(next: ShardState): void {
    const s = this.s;
    s.state = next;
    const key = `${s.state}|${s.checkpoint ?? ''}|${Math.round(s.lagMs / 1000)}`;
    if (key === this.shown) return;
    this.shown = key;
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
