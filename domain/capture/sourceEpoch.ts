/**
 * The source epoch: which timeline of the source database a change comes from, ordered before
 * the LSN in every version (domain/processing/version.ts).
 *
 * LSNs only order changes within one history of one cluster. A promoted replica (failover), a
 * point-in-time restore, a major-version upgrade (pg_upgrade makes a new system identifier) or a
 * blue/green switch can start writing at LSNs below the ones already stored in DynamoDB, and the
 * version guard would then drop every new change as stale. So the pipeline records the identity
 * of the source it reads, PostgreSQL's (system identifier, timeline), in one item of the state
 * table (`SOURCE#<slot>`: one capture, one source) with the epoch in use.
 *
 * Only two writers move the epoch: **capture** (at the start of every run it compares the
 * identity of the server it streams from with the recorded one; another identity makes the epoch
 * recorded + 1, a conditional write) and **the operator** (`cdc provision --bump-epoch`, e.g.
 * after a switch capture cannot see: a logical copy behind the same identity). Every other reader
 * of the source (a backfill chunk, a redrive's one-key read) only reads the record: when the
 * server it reached is not the recorded one, it fails, retryably, and waits for capture to
 * establish the new epoch. Else, at a failover, a reader whose connection still reached the old
 * primary would record an epoch for the old cluster above the one capture streams the new
 * primary at, and the epoch would ping-pong between the two clusters.
 *
 * Capture refuses, retryably, a source whose identity is the record's `previous` (the cluster of
 * the epoch before: an old primary still reachable after a failover) unless an operator bumps
 * the epoch for it: going back to an old cluster is almost always a stale endpoint, rarely a
 * deliberate failback, and only the operator can tell which.
 *
 * A source seen for the first time is recorded (by capture) with epoch 0: the versions stored
 * before epochs existed are epoch 0 too; a reader that finds nothing recorded reads at epoch 0.
 * Epochs only go up.
 */
import { z } from 'zod';
import type { ChangeEvent } from '../core/changeEvent';
import { PipelineError } from '../core/errors';
import { MAX_EPOCH } from '../processing/version';

/** What PostgreSQL says it is: `pg_control_system().system_identifier` and the current timeline. */
export interface SourceIdentity {
  /** 64-bit system identifier, as decimal text (set by initdb; pg_upgrade makes a new one). */
  systemId: string;
  /** Timeline ID: 1 after initdb, + 1 at every promotion or point-in-time restore. */
  timeline: number;
}

export const SourceIdentitySchema = z.object({
  systemId: z.string().regex(/^[0-9]{1,20}$/),
  timeline: z.number().int().min(1),
});

export type EpochReason = 'first-seen' | 'identity-changed' | 'operator';

/** The state table's item: the identity last seen and the epoch its changes carry. */
export interface SourceEpochRecord extends SourceIdentity {
  epoch: number;
  /** When this epoch began (ISO-8601). */
  since: string;
  reason: EpochReason;
  /** The identity of the epoch before (absent for the first). */
  previous?: SourceIdentity & { epoch: number };
}

/** Validates the item read back from DynamoDB (external input). */
export const SourceEpochRecordSchema = SourceIdentitySchema.extend({
  epoch: z.number().int().min(0).max(MAX_EPOCH),
  since: z.string().min(1),
  reason: z.enum(['first-seen', 'identity-changed', 'operator']),
  previous: SourceIdentitySchema.extend({ epoch: z.number().int().min(0) }).optional(),
});

/** `cdc_state`: the source identity and epoch of one capture slot, e.g. `SOURCE#cdc_inventory_slot`. */
export const sourceEpochKey = (slot: string) => `SOURCE#${slot}`;

/** What to do with the recorded item, given the identity the source shows now. */
export type EpochDecision =
  | { kind: 'same'; record: SourceEpochRecord }
  /** Write `record`: conditional on no item (`first-seen`) or on the recorded epoch (`expectEpoch`). */
  | { kind: 'write'; record: SourceEpochRecord; expectEpoch?: number }
  /** The source is the cluster of the epoch before: refused until an operator bumps (`message`). */
  | { kind: 'refuse'; message: string };

export const sameIdentity = (a: SourceIdentity, b: SourceIdentity) =>
  a.systemId === b.systemId && a.timeline === b.timeline;

const shown = (i: SourceIdentity) => `system ${i.systemId} timeline ${i.timeline}`;

/**
 * Capture's (and the operator's) decision for `current`: the recorded epoch when the identity is
 * the same (and no bump is asked), else a new record; refused when `current` is the record's
 * `previous` (going back to the old cluster) unless `force`. `force` (the operator's bump)
 * always makes recorded + 1.
 */
export function decideEpoch(
  recorded: SourceEpochRecord | undefined,
  current: SourceIdentity,
  now: string,
  force = false,
  slot = '?',
): EpochDecision {
  const identity = { systemId: current.systemId, timeline: current.timeline };
  if (!recorded) {
    return {
      kind: 'write',
      record: force
        ? { ...identity, epoch: 1, since: now, reason: 'operator' }
        : { ...identity, epoch: 0, since: now, reason: 'first-seen' },
    };
  }
  if (!force && sameIdentity(recorded, current)) return { kind: 'same', record: recorded };
  if (!force && recorded.previous && sameIdentity(recorded.previous, current))
    return {
      kind: 'refuse',
      message:
        `source of slot ${slot} is ${shown(current)}, the source of epoch ${recorded.previous.epoch} ` +
        `before the recorded ${shown(recorded)} (epoch ${recorded.epoch}): an old primary still ` +
        `reachable? Capture does not go back to it by itself (retried); if the switch back is ` +
        `deliberate, run \`cdc provision --bump-epoch\` against it (docs/failover.md)`,
    };
  const epoch = recorded.epoch + 1;
  if (epoch > MAX_EPOCH) throw new RangeError(`source epoch would pass ${MAX_EPOCH}`);
  return {
    kind: 'write',
    expectEpoch: recorded.epoch,
    record: {
      ...identity,
      epoch,
      since: now,
      reason: force ? 'operator' : 'identity-changed',
      previous: { systemId: recorded.systemId, timeline: recorded.timeline, epoch: recorded.epoch },
    },
  };
}

/**
 * The source is not the one the epoch was recorded for (a reader reached another server than
 * capture's, or capture has not yet recorded the new one; or capture reached the cluster of the
 * epoch before). Transient: retried until capture (or an operator) records the source's epoch.
 * The message names the slot and both identities, never a row value.
 */
export class SourceEpochMismatchError extends PipelineError {
  override readonly name = 'SourceEpochMismatchError';
  readonly failureType = 'transient';
}

/**
 * The epoch a reader other than capture (backfill, redrive) stamps on rows read from `current`:
 * the recorded one when the identity is the recorded one; 0 with nothing recorded (capture
 * records the source at its first run; everything stored is epoch 0 until then). Throws
 * `SourceEpochMismatchError` when the identity differs: readers never move the epoch.
 */
export function readerEpoch(
  recorded: SourceEpochRecord | undefined,
  current: SourceIdentity,
  slot: string,
  reader: string,
): number {
  if (!recorded) return 0;
  if (sameIdentity(recorded, current)) return recorded.epoch;
  const old =
    recorded.previous && sameIdentity(recorded.previous, current)
      ? `, the source of epoch ${recorded.previous.epoch} before it (an old primary still reachable?)`
      : '';
  throw new SourceEpochMismatchError(
    `${reader} reached source ${shown(current)}${old}, not the recorded source of slot ${slot}, ` +
      `${shown(recorded)} (epoch ${recorded.epoch}): it waits for capture to record the source's ` +
      `epoch (retried; only capture or \`cdc provision --bump-epoch\` moves it)`,
  );
}

/**
 * A kept watermark (a chunk's own from its first attempt, or the one the chunk before handed on)
 * is used only when it was taken at the source's current epoch: one of an earlier epoch holds
 * another cluster's LSN, and rows read now under it would carry the old epoch. Returns the
 * watermark to use (undefined: take a fresh one) and, when one was dropped, a line to log.
 */
export function keptWatermark<W extends { epoch?: number; lsn: string }>(
  watermark: W | undefined,
  epoch: number,
  slot: string,
): { watermark?: W; dropped?: string } {
  if (!watermark) return {};
  const kept = watermark.epoch ?? 0;
  if (kept === epoch) return { watermark };
  return {
    dropped:
      `kept watermark ${watermark.lsn} of source epoch ${kept} ignored: the source of slot ${slot} ` +
      `is at epoch ${epoch} now; a fresh watermark is taken`,
  };
}

/** One log line (no row data) for a new epoch. */
export function describeEpoch(slot: string, r: SourceEpochRecord): string {
  const source = `system ${r.systemId} timeline ${r.timeline}`;
  if (r.reason === 'first-seen') return `source of slot ${slot}: ${source}, epoch ${r.epoch} (first seen)`;
  const before = r.previous
    ? `system ${r.previous.systemId} timeline ${r.previous.timeline} (epoch ${r.previous.epoch})`
    : 'nothing recorded';
  const why = r.reason === 'operator' ? 'bumped by an operator' : 'the source changed';
  return `source epoch of slot ${slot} is now ${r.epoch} (${why}): ${source}, was ${before}; versions of epoch ${r.epoch} order after every earlier one`;
}

/** The change with the source epoch it was read at (`source.epoch`, left out for epoch 0). */
export function withEpoch(change: ChangeEvent, epoch: number | undefined): ChangeEvent {
  if (!epoch) return change;
  return { ...change, source: { ...change.source, epoch } };
}
