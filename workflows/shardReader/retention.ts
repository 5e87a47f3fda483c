/**
 * The stream's retention: records older than it are trimmed, read or not. A shard paused or
 * STUCK too long would lose them silently; here it raises `alert.shard_lag` when its lag passes
 * the configured fraction of the retention (once per crossing), and `alert.retention_gap` with a
 * status entry when the pull found records after the checkpoint already trimmed.
 */
import type { PullResult } from '../../domain/shards/shardTypes';
import { io } from './activities';
import { runStep } from './runStep';
import { note, type ShardReaderState } from './state';
import type { ShardVisibility } from './visibility';

export async function watchRetention(
  s: ShardReaderState,
  show: ShardVisibility,
  pulled: Pick<PullResult, 'retention' | 'trimmed'>,
): Promise<void> {
  const r = pulled.retention;
  if (!r) return;
  s.retentionMs = r.retentionMs;
  const raise = (kind: 'SHARD_LAG' | 'RETENTION_GAP') =>
    runStep(s, show, {
      name: 'alert',
      run: () =>
        io.raiseShardAlert({
          kind,
          stream: s.input.stream,
          consumer: s.input.consumer,
          shardId: s.input.shardId,
          checkpoint: s.checkpoint ?? null,
          lagMs: s.lagMs,
          retentionMs: r.retentionMs,
          at: new Date().toISOString(),
        }),
      inTrouble: () => undefined,
      skippable: false,
    });
  const after = s.checkpoint ?? 'TRIM_HORIZON';
  if (pulled.trimmed && s.retention.gap?.afterSequenceNumber !== after) {
    s.retention.gap = { afterSequenceNumber: after, detectedAt: new Date().toISOString() };
    note(
      s,
      `records after ${after} were trimmed by the stream's retention before they were read: backfill them`,
    );
    await raise('RETENTION_GAP');
  }
  if (!s.retention.lagAlerted && s.lagMs > r.lagAlertMs) {
    await raise('SHARD_LAG');
    s.retention.lagAlerted = true;
    note(s, `lag ${Math.round(s.lagMs / 1000)} s passed the retention alert threshold: alert raised`);
  } else if (s.retention.lagAlerted && s.lagMs < r.lagAlertMs / 2) {
    s.retention.lagAlerted = false;
  }
}
