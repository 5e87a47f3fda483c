import { createHash } from 'node:crypto';
import type { JsonValue } from '../core/json';
import type { PipelineEvent } from '../core/pipelineEvent';
import { lowStockThreshold, quantity, stockLevels } from '../inventory/inventoryRow';

/**
 * Alerts derived from one transformed inventory change. Pure: the same change always yields the
 * same alerts with the same IDs, so redelivery of a change never produces a second, different alert.
 * Alert details hold only inventory numbers and key values (sku, warehouse), never row contents.
 */
export type AlertKind =
  'LOW_STOCK' | 'STOCK_ANOMALY' | 'DEAD_LETTER' | 'REPLICATION_LAG' | 'SHARD_LAG' | 'RETENTION_GAP';

export interface Alert {
  /** Deterministic: `alt_<millis>_<hash>`; same source change and kind → same alert ID (dedup). */
  alertId: string;
  kind: AlertKind;
  /** `alert.low_stock` | `alert.stock_anomaly` | `alert.dead_letter` */
  detailType: string;
  /** e.g. `SKU-1#101` for inventory; `<stream>#<shardId>#<sequenceNumber>` for a dead letter. */
  entityId: string;
  sourceEventId?: string;
  version?: string;
  /** Commit timestamp of the change (ISO), or the dead-letter time. */
  occurredAt: string;
  details: Record<string, JsonValue>;
}

export const ALERT_DETAIL_TYPES = {
  LOW_STOCK: 'alert.low_stock',
  STOCK_ANOMALY: 'alert.stock_anomaly',
  DEAD_LETTER: 'alert.dead_letter',
  REPLICATION_LAG: 'alert.replication_lag',
  SHARD_LAG: 'alert.shard_lag',
  RETENTION_GAP: 'alert.retention_gap',
} as const satisfies Record<AlertKind, string>;

export const ALERT_SOURCE = 'cdc-pipeline.alerts';
export const ALERT_ID_PATTERN = /^alt_[0-9]+_[a-z0-9]+$/;

/** A drop of on_hand in one update by at least `minDropUnits` AND at least `minDropRatio` of the previous value. */
export interface AnomalyRule {
  minDropUnits: number;
  minDropRatio: number;
}
export const DEFAULT_ANOMALY_RULE: AnomalyRule = Object.freeze({ minDropUnits: 20, minDropRatio: 0.5 });

/** Dead-letter reasons are error messages: bounded, with anything looking like an e-mail address masked. */
const MAX_REASON_LENGTH = 500;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

function alertId(millis: number, identity: string, kind: AlertKind): string {
  const digest = createHash('sha256').update(`${identity}\u0000${kind}`).digest();
  const hash = BigInt(`0x${digest.subarray(0, 16).toString('hex')}`).toString(36);
  return `alt_${millis}_${hash}`;
}

/** Key values as they may appear in an alert: strings and numbers only. */
function keyPart(v: JsonValue | undefined): string | number {
  return typeof v === 'number' || typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function validRule(rule: AnomalyRule): AnomalyRule {
  const ok = (n: number) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (!ok(rule.minDropUnits) || !ok(rule.minDropRatio)) {
    throw new RangeError(
      `invalid anomaly rule: minDropUnits and minDropRatio must be finite and >= 0 (got ${rule.minDropUnits}, ${rule.minDropRatio})`,
    );
  }
  return rule;
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

/**
 * Alerts for one inventory change (any other table: none). Never throws for row contents:
 * a missing or non-numeric quantity or threshold simply yields no alert.
 *
 * LOW_STOCK is edge triggered: it fires when the row goes from "not low" (before image:
 * available >= threshold) to "low" (after image: available < threshold), or when an insert
 * starts low. A change that stays low, rises, or deletes the row never fires. Each image is
 * judged against its own threshold (falling back to the other image's), so raising the
 * threshold above the current availability is a crossing too. Snapshot rows ('r', backfill)
 * and updates without a usable before image do not fire: they tell nothing about a transition.
 *
 * STOCK_ANOMALY fires for an update whose on_hand drops by at least `minDropUnits` AND by at
 * least `minDropRatio` of the previous (positive) on_hand.
 */
export function inventoryAlerts(e: PipelineEvent, rule: AnomalyRule = DEFAULT_ANOMALY_RULE): Alert[] {
  validRule(rule);
  if (e.table !== 'inventory') return [];
  const millis = Date.parse(e.commitTs);
  if (Number.isNaN(millis)) return [];
  const occurredAt = new Date(millis).toISOString();
  const sku = keyPart(e.key.sku);
  const warehouseId = keyPart(e.key.warehouse_id);
  const make = (kind: AlertKind, details: Record<string, JsonValue>): Alert => ({
    alertId: alertId(millis, e.eventId, kind),
    kind,
    detailType: ALERT_DETAIL_TYPES[kind],
    entityId: e.entityId,
    sourceEventId: e.eventId,
    version: e.version,
    occurredAt,
    details,
  });
  const alerts: Alert[] = [];

  const now = stockLevels(e.after);
  const nowThreshold = lowStockThreshold(e.after, e.before);
  const isLow = now !== undefined && nowThreshold !== undefined && now.available < nowThreshold;
  if (isLow && (e.op === 'c' || e.op === 'u')) {
    let previousAvailable: number | null = null;
    let crossed = false;
    if (e.op === 'c') {
      crossed = true;
    } else {
      const prev = stockLevels(e.before);
      const prevThreshold = lowStockThreshold(e.before, e.after);
      if (prev !== undefined && prevThreshold !== undefined) {
        previousAvailable = prev.available;
        crossed = prev.available >= prevThreshold;
      }
    }
    if (crossed) {
      alerts.push(
        make('LOW_STOCK', {
          sku,
          warehouseId,
          available: now.available,
          threshold: nowThreshold,
          previousAvailable,
          onHand: now.onHand,
          reserved: now.reserved,
          reason: `available ${now.available} fell below threshold ${nowThreshold}`,
        }),
      );
    }
  }

  if (e.op === 'u') {
    const previousOnHand = quantity(e.before?.on_hand);
    const onHand = quantity(e.after?.on_hand);
    if (previousOnHand !== undefined && onHand !== undefined && previousOnHand > 0) {
      const drop = previousOnHand - onHand;
      // drop / previous is correctly rounded, so e.g. 3/10 equals the literal 0.3 at the boundary.
      const dropRatio = drop / previousOnHand;
      if (drop > 0 && drop >= rule.minDropUnits && dropRatio >= rule.minDropRatio) {
        alerts.push(
          make('STOCK_ANOMALY', {
            sku,
            warehouseId,
            previousOnHand,
            onHand,
            drop,
            dropRatio: round4(dropRatio),
            reason: `on_hand dropped by ${drop} (from ${previousOnHand} to ${onHand})`,
          }),
        );
      }
    }
  }
  return alerts;
}

/**
 * Alert for a record parked in the DLQ. The ID derives from (stream, shard, sequence number) and
 * `at`, so pass a stable time (e.g. when the record was first parked) for deduplication.
 */
export function deadLetterAlert(d: {
  stream: string;
  shardId: string;
  sequenceNumber: string;
  category: string;
  reason: string;
  at: string;
}): Alert {
  const millis = Date.parse(d.at);
  if (Number.isNaN(millis)) throw new RangeError(`invalid dead-letter time: ${d.at}`);
  const reason = d.reason.replace(EMAIL, '<redacted>');
  return {
    alertId: alertId(
      millis,
      `dlq\u0000${d.stream}\u0000${d.shardId}\u0000${d.sequenceNumber}`,
      'DEAD_LETTER',
    ),
    kind: 'DEAD_LETTER',
    detailType: ALERT_DETAIL_TYPES.DEAD_LETTER,
    entityId: `${d.stream}#${d.shardId}#${d.sequenceNumber}`,
    occurredAt: new Date(millis).toISOString(),
    details: {
      stream: d.stream,
      shardId: d.shardId,
      sequenceNumber: d.sequenceNumber,
      category: d.category,
      reason: reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason,
    },
  };
}

/**
 * Alert for a replication slot whose unconfirmed WAL passed the threshold. Raised when the lag
 * crosses the threshold (edge-triggered by the capture workflow); the ID derives from the slot
 * and the time of the crossing.
 */
export function replicationLagAlert(d: {
  slot: string;
  lagBytes: number;
  walRetainedBytes: number;
  thresholdBytes: number;
  at: string;
}): Alert {
  const millis = Date.parse(d.at);
  if (Number.isNaN(millis)) throw new RangeError(`invalid time: ${d.at}`);
  return {
    alertId: alertId(millis, `slot\u0000${d.slot}`, 'REPLICATION_LAG'),
    kind: 'REPLICATION_LAG',
    detailType: ALERT_DETAIL_TYPES.REPLICATION_LAG,
    entityId: d.slot,
    occurredAt: new Date(millis).toISOString(),
    details: {
      slot: d.slot,
      lagBytes: d.lagBytes,
      walRetainedBytes: d.walRetainedBytes,
      thresholdBytes: d.thresholdBytes,
      reason: `slot ${d.slot} is ${d.lagBytes} bytes behind (threshold ${d.thresholdBytes})`,
    },
  };
}

/**
 * A shard reader at risk of losing records to the stream's retention: `SHARD_LAG` when its lag
 * passed the configured fraction of the retention (once per crossing), `RETENTION_GAP` when the
 * records after its checkpoint were already trimmed (once per checkpoint).
 */
export function shardRetentionAlert(d: {
  kind: 'SHARD_LAG' | 'RETENTION_GAP';
  stream: string;
  consumer: string;
  shardId: string;
  checkpoint: string | null;
  lagMs: number;
  retentionMs: number;
  at: string;
}): Alert {
  const millis = Date.parse(d.at);
  if (Number.isNaN(millis)) throw new RangeError(`invalid time: ${d.at}`);
  const shard = `${d.stream}#${d.consumer}#${d.shardId}`;
  const identity =
    d.kind === 'RETENTION_GAP'
      ? `${shard}\u0000${d.checkpoint ?? ''}`
      : `${shard}\u0000${Math.floor(millis / 60_000)}`;
  return {
    alertId: alertId(d.kind === 'RETENTION_GAP' ? 0 : millis, identity, d.kind),
    kind: d.kind,
    detailType: ALERT_DETAIL_TYPES[d.kind],
    entityId: shard,
    occurredAt: new Date(millis).toISOString(),
    details: {
      stream: d.stream,
      consumer: d.consumer,
      shardId: d.shardId,
      checkpoint: d.checkpoint,
      lagMs: d.lagMs,
      retentionMs: d.retentionMs,
      reason:
        d.kind === 'RETENTION_GAP'
          ? `records after checkpoint ${d.checkpoint ?? 'TRIM_HORIZON'} of ${d.shardId} were trimmed by the stream's retention before they were read: backfill what was missed`
          : `${d.shardId} is ${Math.round(d.lagMs / 1000)} s behind, past the alert fraction of the ${Math.round(d.retentionMs / 3_600_000)} h retention`,
    },
  };
}

/** The EventBridge PutEvents entry for an alert (matched by the `alert.` detail-type prefix rule). */
export function alertEntry(
  a: Alert,
  bus: string,
): { Source: typeof ALERT_SOURCE; DetailType: string; Detail: string; EventBusName: string; Time: Date } {
  const detail = {
    alertId: a.alertId,
    kind: a.kind,
    entityId: a.entityId,
    occurredAt: a.occurredAt,
    ...(a.sourceEventId !== undefined ? { sourceEventId: a.sourceEventId } : {}),
    ...(a.version !== undefined ? { version: a.version } : {}),
    details: a.details,
  };
  return {
    Source: ALERT_SOURCE,
    DetailType: a.detailType,
    Detail: JSON.stringify(detail),
    EventBusName: bus,
    Time: new Date(a.occurredAt),
  };
}
