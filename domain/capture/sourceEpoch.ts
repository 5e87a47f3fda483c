/**
 * The source epoch: which timeline of the source database a change comes from, ordered before
 * the LSN in every version (domain/processing/version.ts).
 *
 * LSNs only order changes within one history of one cluster. A promoted replica (failover), a
 * point-in-time restore, a major-version upgrade (pg_upgrade makes a new system identifier) or a
 * blue/green switch can start writing at LSNs below the ones already stored in DynamoDB, and the
 * version guard would then drop every new change as stale. So the pipeline records the identity
 * of the source it reads, PostgreSQL's (system identifier, timeline), in one item of the state
 * table (`SOURCE#<slot>`: one capture, one source) with the epoch in use; whoever reads the
 * source (capture at the start of every run, a backfill chunk) compares the source's identity with
 * the recorded one, and when it differs the epoch becomes recorded + 1 (a conditional write, so
 * two readers that see the change at once agree on one new epoch). An operator can force a new
 * epoch (`cdc provision --bump-epoch`), e.g. after a switch this cannot see (a logical copy
 * behind the same identity). A source seen for the first time is recorded with epoch 0: the
 * versions stored before epochs existed are epoch 0 too.
 *
 * Epochs only go up: pointing the pipeline back at an old cluster is a new epoch as well, which
 * is right (its new changes are later than everything stored).
 */
import { z } from 'zod';
import type { ChangeEvent } from '../core/changeEvent';
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
  | { kind: 'write'; record: SourceEpochRecord; expectEpoch?: number };

export const sameIdentity = (a: SourceIdentity, b: SourceIdentity) =>
  a.systemId === b.systemId && a.timeline === b.timeline;

/**
 * The epoch for `current`: the recorded one when the identity is the same (and no bump is
 * asked), else a new record. `force` (the operator's bump) always makes recorded + 1.
 */
export function decideEpoch(
  recorded: SourceEpochRecord | undefined,
  current: SourceIdentity,
  now: string,
  force = false,
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
