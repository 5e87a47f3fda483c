/**
 * The analytics sink's one statement per batch (pure): the batch's change records go in as one
 * jsonb parameter; the change table takes the ones it does not hold yet (idempotent by event id),
 * and the aggregates add up only those rows, in the same statement, so in the same transaction.
 * A replayed batch, a duplicate, two shard readers racing with the same event: each change is
 * counted once. Tables in infra/analyticsSchema.sql; queries over them in docs/analytics.md.
 *
 * Locks are taken in one order by every execution (change table by event id, then each aggregate
 * table by its key), so concurrent batches of several shard readers wait for each other instead
 * of deadlocking.
 */
import type { ChangeRecord } from './changeRecords';

export const ANALYTICS_TABLES = {
  changes: 'cdc_changes',
  stock: 'agg_stock_movements',
  reservations: 'agg_reservations',
  orders: 'agg_orders',
  lowStock: 'agg_low_stock_alerts',
} as const;

/** The columns of a change record as jsonb_to_recordset reads them (names as in ChangeRecord). */
const RECORD_COLUMNS: Record<keyof ChangeRecord, string> = {
  event_id: 'text',
  version: 'text',
  table_name: 'text',
  entity_id: 'text',
  operation: 'text',
  event_type: 'text',
  commit_ts: 'timestamptz',
  bucket_5m: 'timestamptz',
  bucket_1h: 'timestamptz',
  changes: 'jsonb',
  after_image: 'jsonb',
  sku: 'text',
  warehouse_id: 'text',
  on_hand_delta: 'numeric',
  reserved_delta: 'numeric',
  reservation_event: 'text',
  order_currency: 'text',
  order_amount: 'numeric',
  low_stock_alert: 'boolean',
};

/** The `cdc_changes` columns a record fills (the buckets are not stored: they follow from commit_ts). */
const STORED: (keyof ChangeRecord)[] = (Object.keys(RECORD_COLUMNS) as (keyof ChangeRecord)[]).filter(
  (c) => c !== 'bucket_5m' && c !== 'bucket_1h',
);

export interface Statement {
  text: string;
  values: [string];
}

const T = ANALYTICS_TABLES;
const recordType = Object.entries(RECORD_COLUMNS)
  .map(([name, type]) => `${name} ${type}`)
  .join(', ');

/**
 * `INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING event_id` into the change table, and one
 * upsert per aggregate over the rows it returned, for both grains. Returns the inserted ids.
 */
export const APPLY_SQL = `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${recordType})
),
inserted AS (
  INSERT INTO ${T.changes} (${STORED.join(', ')}, received_at)
  SELECT ${STORED.join(', ')}, now() FROM input ORDER BY event_id
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id
),
fresh AS (
  SELECT g.grain, g.bucket, i.*
  FROM input i
  JOIN inserted n ON n.event_id = i.event_id
  CROSS JOIN LATERAL (VALUES ('5m', i.bucket_5m), ('1h', i.bucket_1h)) AS g (grain, bucket)
),
stock AS (
  INSERT INTO ${T.stock} AS a (grain, bucket, sku, warehouse_id, on_hand_delta, reserved_delta, change_count)
  SELECT grain, bucket, sku, warehouse_id, sum(on_hand_delta), sum(reserved_delta), count(*)
  FROM fresh WHERE on_hand_delta IS NOT NULL
  GROUP BY grain, bucket, sku, warehouse_id
  ORDER BY grain, bucket, sku, warehouse_id
  ON CONFLICT (grain, bucket, sku, warehouse_id) DO UPDATE SET
    on_hand_delta = a.on_hand_delta + EXCLUDED.on_hand_delta,
    reserved_delta = a.reserved_delta + EXCLUDED.reserved_delta,
    change_count = a.change_count + EXCLUDED.change_count,
    updated_at = now()
),
reservations AS (
  INSERT INTO ${T.reservations} AS a (grain, bucket, sku, warehouse_id, taken, expired, confirmed, cancelled)
  SELECT grain, bucket, sku, warehouse_id,
    count(*) FILTER (WHERE reservation_event = 'taken'),
    count(*) FILTER (WHERE reservation_event = 'expired'),
    count(*) FILTER (WHERE reservation_event = 'confirmed'),
    count(*) FILTER (WHERE reservation_event = 'cancelled')
  FROM fresh WHERE reservation_event IS NOT NULL
  GROUP BY grain, bucket, sku, warehouse_id
  ORDER BY grain, bucket, sku, warehouse_id
  ON CONFLICT (grain, bucket, sku, warehouse_id) DO UPDATE SET
    taken = a.taken + EXCLUDED.taken,
    expired = a.expired + EXCLUDED.expired,
    confirmed = a.confirmed + EXCLUDED.confirmed,
    cancelled = a.cancelled + EXCLUDED.cancelled,
    updated_at = now()
),
orders AS (
  INSERT INTO ${T.orders} AS a (grain, bucket, currency, orders, amount)
  SELECT grain, bucket, order_currency, count(*), coalesce(sum(order_amount), 0)
  FROM fresh WHERE order_currency IS NOT NULL
  GROUP BY grain, bucket, order_currency
  ORDER BY grain, bucket, order_currency
  ON CONFLICT (grain, bucket, currency) DO UPDATE SET
    orders = a.orders + EXCLUDED.orders,
    amount = a.amount + EXCLUDED.amount,
    updated_at = now()
),
low_stock AS (
  INSERT INTO ${T.lowStock} AS a (grain, bucket, sku, warehouse_id, alerts)
  SELECT grain, bucket, sku, warehouse_id, count(*)
  FROM fresh WHERE low_stock_alert
  GROUP BY grain, bucket, sku, warehouse_id
  ORDER BY grain, bucket, sku, warehouse_id
  ON CONFLICT (grain, bucket, sku, warehouse_id) DO UPDATE SET
    alerts = a.alerts + EXCLUDED.alerts,
    updated_at = now()
)
SELECT event_id FROM inserted`;

/** The statement for a batch's records (one parameter: the records as a JSON array). */
export function applyStatement(records: readonly ChangeRecord[]): Statement {
  return { text: APPLY_SQL, values: [JSON.stringify(records)] };
}

/**
 * The aggregates recomputed from the change table alone (the buckets from commit_ts, in UTC), in
 * the aggregate tables' columns and order: what the incrementally kept tables must equal, and how
 * to rebuild them (`TRUNCATE`, then `INSERT INTO <table> (<columns>) <query>`).
 */
const GRAIN_BUCKETS = `CROSS JOIN LATERAL (VALUES
    ('5m', date_bin('5 minutes', c.commit_ts, TIMESTAMPTZ '2000-01-01 00:00:00+00')),
    ('1h', date_trunc('hour', c.commit_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
  ) AS g (grain, bucket)`;

export const RECOMPUTE_SQL = {
  [T.stock]: `
SELECT g.grain, g.bucket, c.sku, c.warehouse_id,
  sum(c.on_hand_delta) AS on_hand_delta, sum(c.reserved_delta) AS reserved_delta, count(*) AS change_count
FROM ${T.changes} c ${GRAIN_BUCKETS}
WHERE c.on_hand_delta IS NOT NULL
GROUP BY 1, 2, 3, 4`,
  [T.reservations]: `
SELECT g.grain, g.bucket, c.sku, c.warehouse_id,
  count(*) FILTER (WHERE c.reservation_event = 'taken') AS taken,
  count(*) FILTER (WHERE c.reservation_event = 'expired') AS expired,
  count(*) FILTER (WHERE c.reservation_event = 'confirmed') AS confirmed,
  count(*) FILTER (WHERE c.reservation_event = 'cancelled') AS cancelled
FROM ${T.changes} c ${GRAIN_BUCKETS}
WHERE c.reservation_event IS NOT NULL
GROUP BY 1, 2, 3, 4`,
  [T.orders]: `
SELECT g.grain, g.bucket, c.order_currency AS currency, count(*) AS orders,
  coalesce(sum(c.order_amount), 0) AS amount
FROM ${T.changes} c ${GRAIN_BUCKETS}
WHERE c.order_currency IS NOT NULL
GROUP BY 1, 2, 3`,
  [T.lowStock]: `
SELECT g.grain, g.bucket, c.sku, c.warehouse_id, count(*) AS alerts
FROM ${T.changes} c ${GRAIN_BUCKETS}
WHERE c.low_stock_alert
GROUP BY 1, 2, 3, 4`,
} as const satisfies Record<Exclude<(typeof T)[keyof typeof T], typeof T.changes>, string>;
