-- PostgreSQL schema of the system of record: the monitored tables of config/tables.yaml (keys as
-- the design documents give them) and the inventory domain. Idempotent: safe to run on every
-- start. A table added to the table file is created by its owner, not here; provisioning checks
-- every configured table against the database (infra/schemaCheck.ts).

CREATE TABLE IF NOT EXISTS products (
  product_id   text PRIMARY KEY,
  sku          text UNIQUE,
  name         text NOT NULL,
  description  text,
  category     text,
  price        numeric(12, 2) NOT NULL CHECK (price >= 0),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS inventory (
  sku                  text NOT NULL,
  warehouse_id         integer NOT NULL,
  on_hand              integer NOT NULL CHECK (on_hand >= 0),
  reserved             integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
  low_stock_threshold  integer CHECK (low_stock_threshold >= 0), -- NULL: the table file's default (004: 10)
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sku, warehouse_id)
);

CREATE TABLE IF NOT EXISTS reservations (
  reservation_id  text PRIMARY KEY,
  sku             text NOT NULL,
  warehouse_id    integer NOT NULL,
  order_id        text,
  quantity        integer NOT NULL CHECK (quantity > 0),
  status          text NOT NULL DEFAULT 'HELD' CHECK (status IN ('HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Reservations deleted while HELD whose units the expiry workflow gave back
-- (infra/reservationStore.ts releaseDeletedHold, docs/reservations.md): the row is gone, this one
-- makes the release happen once per reservation id. Not captured (not in the table file).
CREATE TABLE IF NOT EXISTS released_holds (
  reservation_id  text PRIMARY KEY,
  sku             text NOT NULL,
  warehouse_id    integer NOT NULL,
  quantity        integer NOT NULL CHECK (quantity > 0),
  released_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS order_items (
  order_id    text NOT NULL,
  line_no     integer NOT NULL,
  sku         text NOT NULL,
  quantity    integer NOT NULL CHECK (quantity > 0),
  unit_price  numeric(12, 2) NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE IF NOT EXISTS users (
  id             text PRIMARY KEY,
  email          text NOT NULL,
  phone          text,
  full_name      text,
  ssn            text,
  password_hash  text,
  date_of_birth  date,
  status         text NOT NULL DEFAULT 'active',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
  order_id          text PRIMARY KEY,
  user_id           text,
  status            text NOT NULL,
  total_amount      numeric(14, 4) NOT NULL,
  currency          text NOT NULL DEFAULT 'USD',
  payment_details   jsonb,
  shipping_address  text,
  order_date        timestamptz NOT NULL DEFAULT now(),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS sessions (
  session_id  text PRIMARY KEY,
  user_id     text,
  token       text,
  ip_address  inet,
  user_agent  text,
  expires_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS transactions (
  txn_id          text PRIMARY KEY,
  order_id        text,
  amount          numeric(14, 4) NOT NULL,
  currency        text NOT NULL DEFAULT 'USD',
  card_number     text,
  account_number  text,
  status          text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS customers (
  customer_id  text PRIMARY KEY,
  email        text,
  phone        text,
  name         text,
  address        text,
  tax_id         text,
  date_of_birth  date,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS shipments (
  shipment_id      text PRIMARY KEY,
  order_id         text,
  carrier          text,
  tracking_number  text,
  address          text,
  status           text NOT NULL,
  shipped_at       timestamptz,
  delivered_at     timestamptz
);

CREATE TABLE IF NOT EXISTS returns (
  return_id      text PRIMARY KEY,
  order_id       text,
  reason         text,
  status         text NOT NULL,
  refund_amount  numeric(14, 2),
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS reviews (
  review_id       text PRIMARY KEY,
  product_id      text,
  user_id         text,
  rating          smallint CHECK (rating BETWEEN 1 AND 5),
  body            text,
  reviewer_email  text,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS audit_logs (
  log_id      bigserial PRIMARY KEY,
  actor       text,
  action      text NOT NULL,
  entity      text,
  ip_address  inet,
  details     jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS configurations (
  config_key    text PRIMARY KEY,
  value         jsonb,
  secret_value  text,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notifications (
  notification_id  text PRIMARY KEY,
  user_id          text,
  channel          text NOT NULL,
  message          text,
  status           text NOT NULL DEFAULT 'PENDING',
  created_at       timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz
);

CREATE TABLE IF NOT EXISTS metrics (
  metric_id    bigserial PRIMARY KEY,
  name         text NOT NULL,
  value        double precision NOT NULL,
  tags         jsonb,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS events (
  event_id    text PRIMARY KEY,
  event_type  text NOT NULL,
  entity      text,
  payload     jsonb,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Written by the capture workflow every 30 s: a quiet database still produces a change, so the
-- replication slot's confirmed position advances and it does not retain WAL forever. Capture
-- acknowledges these changes and does not put them on the stream.
CREATE TABLE IF NOT EXISTS cdc_heartbeat (
  slot     text PRIMARY KEY,
  beat_at  timestamptz NOT NULL
);
