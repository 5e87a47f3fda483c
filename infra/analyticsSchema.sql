-- The analytics database (CDC_ANALYTICS_DATABASE, default `analytics`): what the analytics
-- consumer writes (activities/sinks/analyticsSink.ts). Locally a PostgreSQL database on the
-- stack's server, standing in for Redshift (docs/analytics.md says what changes there).
-- Idempotent: provisioning runs it on every start (infra/provisioning.ts, provisionAnalytics).
--
-- Everything here is redacted: the sink receives events after the redaction step, so no column
-- ever holds a value the table file's rules remove, mask, hash or tokenize.

-- One row per change, append-only, idempotent by event id (a replay or a duplicate on the
-- stream inserts nothing). The fact columns are the pipeline's one reading of the change
-- (domain/analytics/changeRecords.ts); the aggregates below are GROUP BYs of them.
CREATE TABLE IF NOT EXISTS cdc_changes (
  event_id           text PRIMARY KEY,
  version            text NOT NULL,                   -- <LSN>.<index>: string order is change order
  table_name         text NOT NULL,
  entity_id          text NOT NULL,                   -- the key; a keyed hash for tables with redaction rules
  operation          text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT')),
  event_type         text NOT NULL,                   -- e.g. inventory.updated, reservation.expired
  commit_ts          timestamptz NOT NULL,            -- PostgreSQL commit time of the source transaction
  changes            jsonb NOT NULL,                  -- redacted { column: { old, new } }
  after_image        jsonb,                           -- redacted row after the change; NULL for a delete
  sku                text,                            -- inventory and reservations
  warehouse_id       text,
  on_hand_delta      numeric,                         -- stock movements: set (maybe 0) for inventory changes
  reserved_delta     numeric,
  reservation_event  text CHECK (reservation_event IN ('taken', 'expired', 'confirmed', 'cancelled')),
  order_currency     text,                            -- new orders (order.created)
  order_amount       numeric,                         -- exact decimal, never a float
  low_stock_alert    boolean NOT NULL DEFAULT false,  -- crosses into low stock (alert.low_stock's rule)
  received_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cdc_changes_by_table_time ON cdc_changes (table_name, commit_ts);
CREATE INDEX IF NOT EXISTS cdc_changes_by_entity ON cdc_changes (table_name, entity_id, version);
CREATE INDEX IF NOT EXISTS cdc_changes_by_place ON cdc_changes (sku, warehouse_id, commit_ts)
  WHERE sku IS NOT NULL;

-- Aggregates by commit time, each at two grains: '5m' (5-minute floor) and '1h' (hour), in UTC.
-- Kept current by the same statement that inserts the changes, for inserted rows only.

CREATE TABLE IF NOT EXISTS agg_stock_movements (
  grain           text NOT NULL CHECK (grain IN ('5m', '1h')),
  bucket          timestamptz NOT NULL,
  sku             text NOT NULL,
  warehouse_id    text NOT NULL,
  on_hand_delta   numeric NOT NULL,
  reserved_delta  numeric NOT NULL,
  change_count    bigint NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grain, bucket, sku, warehouse_id)
);

CREATE TABLE IF NOT EXISTS agg_reservations (
  grain         text NOT NULL CHECK (grain IN ('5m', '1h')),
  bucket        timestamptz NOT NULL,
  sku           text NOT NULL,
  warehouse_id  text NOT NULL,
  taken         bigint NOT NULL,
  expired       bigint NOT NULL,
  confirmed     bigint NOT NULL,
  cancelled     bigint NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grain, bucket, sku, warehouse_id)
);

CREATE TABLE IF NOT EXISTS agg_orders (
  grain       text NOT NULL CHECK (grain IN ('5m', '1h')),
  bucket      timestamptz NOT NULL,
  currency    text NOT NULL,
  orders      bigint NOT NULL,
  amount      numeric NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grain, bucket, currency)
);

CREATE TABLE IF NOT EXISTS agg_low_stock_alerts (
  grain         text NOT NULL CHECK (grain IN ('5m', '1h')),
  bucket        timestamptz NOT NULL,
  sku           text NOT NULL,
  warehouse_id  text NOT NULL,
  alerts        bigint NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grain, bucket, sku, warehouse_id)
);
