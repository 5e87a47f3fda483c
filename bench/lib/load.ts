/**
 * The benchmark's mixed workload: single-statement transactions on the shipped schema, keyed by a
 * run tag so the benchmark finds its own changes among everybody else's (every pipeline on the
 * local stack captures the same tables).
 *
 * Mix (shares of changes): hot SKUs updated in bursts (a flash sale: 5–20 back-to-back updates of
 * one (sku, warehouse) row on one connection), other inventory rows, order inserts and status
 * updates, users with PII (ssn, password hash, e-mail, phone: redacted columns), products, and a
 * few large products (a ~50 KB description; REPLICA IDENTITY FULL makes an update carry it twice).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import { seededRandom } from '../../test/support/seededRandom';

export type ChangeKind =
  | 'hot'
  | 'inventory'
  | 'orderInsert'
  | 'orderUpdate'
  | 'userInsert'
  | 'userUpdate'
  | 'productUpdate'
  | 'largeProduct';

export type SourceTable = 'inventory' | 'orders' | 'users' | 'products';

/** Share of each kind among the changes (not among the draws: a hot burst is many changes). */
export const MIX: Readonly<Record<ChangeKind, number>> = {
  hot: 0.35,
  inventory: 0.15,
  orderInsert: 0.12,
  orderUpdate: 0.13,
  userInsert: 0.04,
  userUpdate: 0.12,
  productUpdate: 0.08,
  largeProduct: 0.01,
};

const TABLE_OF: Readonly<Record<ChangeKind, SourceTable>> = {
  hot: 'inventory',
  inventory: 'inventory',
  orderInsert: 'orders',
  orderUpdate: 'orders',
  userInsert: 'users',
  userUpdate: 'users',
  productUpdate: 'products',
  largeProduct: 'products',
};

/** The key column every change of a table is found by (its values start with the run tag). */
export const TAGGED_COLUMN: Readonly<Record<SourceTable, string>> = {
  inventory: 'sku',
  orders: 'order_id',
  users: 'id',
  products: 'product_id',
};

/** Tables whose events reach an SQS queue through the bus's rules (products only reach the archive). */
export const SQS_TABLES: ReadonlySet<SourceTable> = new Set(['inventory', 'orders', 'users']);

export interface WorkloadShape {
  hotSkus: number;
  warehouses: number;
  /** Other inventory rows (one warehouse each). */
  coldRows: number;
  users: number;
  products: number;
  /** Orders inserted by the seed (updates pick among the recent ones). */
  orders: number;
  largeProducts: number;
  /** Bytes of a large product's description. */
  largeBytes: number;
  burst: readonly [number, number];
}

export const DEFAULT_SHAPE: WorkloadShape = {
  hotSkus: 20,
  warehouses: 2,
  coldRows: 400,
  users: 200,
  products: 100,
  orders: 200,
  largeProducts: 4,
  largeBytes: 50_000,
  burst: [5, 20],
};

export interface Change {
  kind: ChangeKind;
  table: SourceTable;
  /** The DynamoDB entity item's key (`<table>#<entityId>`). */
  pk: string;
  sql: string;
  params: unknown[];
}

export interface LoadResult {
  committed: number;
  failed: number;
  /** Statements that changed no row (not counted as changes). */
  noops: number;
  /** Committed changes whose events reach an SQS queue. */
  sqsExpected: number;
  byKind: Record<ChangeKind, number>;
  /** Time the first statement was sent, and the last commit acknowledged (epoch ms). */
  firstSentMs: number;
  lastCommitMs: number;
  /** Achieved commit rate (changes/s). */
  commitRate: number;
  firstError?: string;
}

/** Called after each commit: the benchmark samples keys to watch in DynamoDB. */
export type OnCommitted = (change: Change, sentMs: number) => void;

const WORDS =
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim minim veniam quis nostrud exercitation ullamco laboris nisi aliquip commodo consequat'.split(
    ' ',
  );

export class MixedWorkload {
  private readonly random: () => number;
  private readonly drawWeights: [ChangeKind, number][];
  private nextOrder: number;
  private nextUser: number;
  private nextLarge: number;
  private readonly recentOrders: string[] = [];

  constructor(
    private readonly pool: Pool,
    readonly tag: string,
    readonly shape: WorkloadShape = DEFAULT_SHAPE,
  ) {
    this.random = seededRandom(
      [...tag].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261),
    );
    // A hot draw is a whole burst: its draw weight is its share divided by the mean burst length.
    const meanBurst = (shape.burst[0] + shape.burst[1]) / 2;
    const raw = (Object.entries(MIX) as [ChangeKind, number][]).map(
      ([k, share]) => [k, k === 'hot' ? share / meanBurst : share] as [ChangeKind, number],
    );
    const total = raw.reduce((s, [, w]) => s + w, 0);
    this.drawWeights = raw.map(([k, w]) => [k, w / total]);
    this.nextOrder = shape.orders;
    this.nextUser = shape.users;
    this.nextLarge = shape.largeProducts;
    for (let i = 0; i < shape.orders; i++) this.recentOrders.push(this.orderId(i));
  }

  /** Key prefixes: every key of this run contains the tag. */
  hotKey = (i: number, wh: number) => ({ sku: `${this.tag}-hot-${i}`, wh });
  private coldSku = (i: number) => `${this.tag}-sku-${i}`;
  private orderId = (i: number) => `${this.tag}-o-${i}`;
  private userId = (i: number) => `${this.tag}-u-${i}`;
  private productId = (i: number) => `${this.tag}-p-${i}`;
  private largeId = (i: number) => `${this.tag}-pl-${i}`;

  /** The entity keys of the hot rows (watched in DynamoDB for the whole run). */
  hotPks(): string[] {
    const pks: string[] = [];
    for (let i = 0; i < this.shape.hotSkus; i++)
      for (let wh = 1; wh <= this.shape.warehouses; wh++) pks.push(`inventory#${this.tag}-hot-${i}#${wh}`);
    return pks;
  }

  /** The rows the changes update: inventory, users, products (some large), orders. Set-based, quick. */
  async seed(): Promise<void> {
    const s = this.shape;
    const t = this.tag;
    await this.pool.query(
      `INSERT INTO inventory (sku, warehouse_id, on_hand, low_stock_threshold)
       SELECT $1 || '-hot-' || i, wh, 1000000, 5 FROM generate_series(0, $2 - 1) i, generate_series(1, $3) wh
       ON CONFLICT DO NOTHING`,
      [t, s.hotSkus, s.warehouses],
    );
    await this.pool.query(
      `INSERT INTO inventory (sku, warehouse_id, on_hand, low_stock_threshold)
       SELECT $1 || '-sku-' || i, 1, 10000, 5 FROM generate_series(0, $2 - 1) i ON CONFLICT DO NOTHING`,
      [t, s.coldRows],
    );
    await this.pool.query(
      `INSERT INTO users (id, email, phone, full_name, ssn, password_hash, date_of_birth)
       SELECT $1 || '-u-' || i, 'user' || i || '@example.com', '+1-555-01' || lpad(i::text, 4, '0'),
              'User ' || i, '123-45-' || lpad(i::text, 4, '0'), md5(i::text), date '1980-01-01' + i
       FROM generate_series(0, $2 - 1) i ON CONFLICT DO NOTHING`,
      [t, s.users],
    );
    await this.pool.query(
      `INSERT INTO products (product_id, name, description, category, price)
       SELECT $1 || '-p-' || i, 'Product ' || i, repeat('A sturdy thing for everyday use. ', 12), 'tools', 10 + i
       FROM generate_series(0, $2 - 1) i ON CONFLICT DO NOTHING`,
      [t, s.products],
    );
    for (let i = 0; i < s.largeProducts; i++)
      await this.pool.query(
        `INSERT INTO products (product_id, name, description, category, price) VALUES ($1, $2, $3, 'books', 25)
         ON CONFLICT DO NOTHING`,
        [this.largeId(i), `Large product ${i}`, this.text(s.largeBytes)],
      );
    await this.pool.query(
      `INSERT INTO orders (order_id, user_id, status, total_amount, payment_details, shipping_address)
       SELECT $1 || '-o-' || i, $1 || '-u-' || (i % $3), 'PLACED', 19.99 + i, '{"method":"card","last4":"4242"}', i || ' Main Street'
       FROM generate_series(0, $2 - 1) i ON CONFLICT DO NOTHING`,
      [t, s.orders, s.users],
    );
  }

  /** Removes this run's rows (best effort, at the end of a run). */
  async cleanup(): Promise<void> {
    const like = `${this.tag}-%`;
    await this.pool.query('DELETE FROM orders WHERE order_id LIKE $1', [like]);
    await this.pool.query('DELETE FROM users WHERE id LIKE $1', [like]);
    await this.pool.query('DELETE FROM products WHERE product_id LIKE $1', [like]);
    await this.pool.query('DELETE FROM inventory WHERE sku LIKE $1', [like]);
  }

  /** The next group of changes: one change, or a hot burst (run back to back on one connection). */
  nextGroup(): Change[] {
    const kind = this.draw();
    if (kind !== 'hot') return [this.change(kind)];
    const [min, max] = this.shape.burst;
    const n = min + Math.floor(this.random() * (max - min + 1));
    const i = Math.floor(this.random() * this.shape.hotSkus);
    const wh = 1 + Math.floor(this.random() * this.shape.warehouses);
    const { sku } = this.hotKey(i, wh);
    return Array.from({ length: n }, () => ({
      kind: 'hot' as const,
      table: 'inventory' as const,
      pk: `inventory#${sku}#${wh}`,
      sql: 'UPDATE inventory SET on_hand = on_hand - 1, updated_at = now() WHERE sku = $1 AND warehouse_id = $2',
      params: [sku, wh],
    }));
  }

  /** `total` changes at `rate` a second (bursts count towards the rate); resolves when all committed. */
  async runAtRate(rate: number, seconds: number, onCommitted?: OnCommitted): Promise<LoadResult> {
    const total = Math.max(1, Math.round(rate * seconds));
    const tally = new Tally();
    const inFlight = new Set<Promise<void>>();
    const start = Date.now();
    let planned = 0;
    while (planned < total) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate) + 1);
      while (planned < due) {
        const group = this.nextGroup().slice(0, total - planned);
        planned += group.length;
        const p = this.runGroup(group, tally, onCommitted).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await sleep(5);
    }
    await Promise.all(inFlight);
    return tally.result();
  }

  /** `count` changes as fast as `concurrency` connections commit them. */
  async runFast(count: number, concurrency: number, onCommitted?: OnCommitted): Promise<LoadResult> {
    const tally = new Tally();
    let planned = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (planned < count) {
          const group = this.nextGroup().slice(0, count - planned);
          planned += group.length;
          await this.runGroup(group, tally, onCommitted);
        }
      }),
    );
    return tally.result();
  }

  private async runGroup(group: Change[], tally: Tally, onCommitted?: OnCommitted): Promise<void> {
    for (const c of group) {
      const sent = tally.sent();
      try {
        const res = await this.pool.query(c.sql, c.params);
        // An update of a row whose insert is still in flight on another connection changes nothing.
        if (res.rowCount === 0) {
          tally.noop();
          continue;
        }
        tally.committed(c);
        onCommitted?.(c, sent);
      } catch (err) {
        tally.failed(err);
      }
    }
  }

  private draw(): ChangeKind {
    let r = this.random();
    for (const [k, w] of this.drawWeights) {
      if (r < w) return k;
      r -= w;
    }
    return 'inventory';
  }

  private pick = (n: number) => Math.floor(this.random() * n);

  private change(kind: Exclude<ChangeKind, 'hot'>): Change {
    const table = TABLE_OF[kind];
    switch (kind) {
      case 'inventory': {
        const sku = this.coldSku(this.pick(this.shape.coldRows));
        const delta = [-3, -2, -1, 1, 2, 5][this.pick(6)];
        return {
          kind,
          table,
          pk: `inventory#${sku}#1`,
          sql: 'UPDATE inventory SET on_hand = greatest(0, on_hand + $2), updated_at = now() WHERE sku = $1 AND warehouse_id = 1',
          params: [sku, delta],
        };
      }
      case 'orderInsert': {
        const id = this.orderId(this.nextOrder++);
        this.recentOrders.push(id);
        if (this.recentOrders.length > 500) this.recentOrders.shift();
        const user = this.userId(this.pick(this.nextUser));
        const payment = {
          method: 'card',
          card: '4111111111111111',
          expiry: '12/29',
          holder: `Holder ${user}`,
        };
        return {
          kind,
          table,
          pk: `orders#${id}`,
          sql: `INSERT INTO orders (order_id, user_id, status, total_amount, currency, payment_details, shipping_address)
                VALUES ($1, $2, 'PLACED', $3, 'USD', $4, $5)`,
          params: [
            id,
            user,
            (5 + this.random() * 500).toFixed(4),
            JSON.stringify(payment),
            `${1 + this.pick(9999)} Long Road, Springfield`,
          ],
        };
      }
      case 'orderUpdate': {
        const id = this.recentOrders[this.pick(this.recentOrders.length)];
        const status = ['PAID', 'PACKED', 'SHIPPED', 'DELIVERED'][this.pick(4)];
        return {
          kind,
          table,
          pk: `orders#${id}`,
          sql: 'UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1',
          params: [id, status],
        };
      }
      case 'userInsert': {
        const n = this.nextUser++;
        const id = this.userId(n);
        return {
          kind,
          table,
          pk: `users#${id}`,
          sql: `INSERT INTO users (id, email, phone, full_name, ssn, password_hash, date_of_birth)
                VALUES ($1, $2, $3, $4, $5, md5($1), date '1970-01-01' + $6::int)`,
          params: [
            id,
            `new${n}@example.org`,
            `+1-555-02${String(n % 10000).padStart(4, '0')}`,
            `New User ${n}`,
            `987-65-${String(n % 10000).padStart(4, '0')}`,
            n % 15000,
          ],
        };
      }
      case 'userUpdate': {
        const id = this.userId(this.pick(this.nextUser));
        const v = this.pick(1_000_000);
        return {
          kind,
          table,
          pk: `users#${id}`,
          sql: 'UPDATE users SET email = $2, phone = $3, updated_at = now() WHERE id = $1',
          params: [id, `changed${v}@example.net`, `+1-555-03${String(v % 10000).padStart(4, '0')}`],
        };
      }
      case 'productUpdate':
        return this.priceChange(kind, table, this.productId(this.pick(this.shape.products)));
      case 'largeProduct': {
        // Half new large products (a ~50 KB insert), half price changes of one (before and after images).
        if (this.random() < 0.5) {
          const id = this.largeId(this.nextLarge++);
          return {
            kind,
            table,
            pk: `products#${id}`,
            sql: `INSERT INTO products (product_id, name, description, category, price) VALUES ($1, $2, $3, 'books', 30)`,
            params: [id, `Large product ${id}`, this.text(this.shape.largeBytes)],
          };
        }
        return this.priceChange(kind, table, this.largeId(this.pick(this.nextLarge)));
      }
    }
  }

  /** A product's price moves by a cent (before and after images of the whole row). */
  private priceChange(kind: ChangeKind, table: SourceTable, id: string): Change {
    return {
      kind,
      table,
      pk: `products#${id}`,
      sql: 'UPDATE products SET price = price + 0.01, updated_at = now() WHERE product_id = $1',
      params: [id],
    };
  }

  /** Text of about `bytes` bytes (words, so TOAST compresses it a little, as real descriptions). */
  private text(bytes: number): string {
    const out: string[] = [];
    let n = 0;
    while (n < bytes) {
      const w = WORDS[this.pick(WORDS.length)];
      out.push(w);
      n += w.length + 1;
    }
    return out.join(' ');
  }
}

class Tally {
  private n = 0;
  private bad = 0;
  private none = 0;
  private sqs = 0;
  private first = 0;
  private last = 0;
  private error?: string;
  private readonly kinds = Object.fromEntries(Object.keys(MIX).map((k) => [k, 0])) as Record<
    ChangeKind,
    number
  >;

  sent(): number {
    const now = Date.now();
    if (!this.first) this.first = now;
    return now;
  }
  committed(c: Change): void {
    this.n++;
    this.kinds[c.kind]++;
    if (SQS_TABLES.has(c.table)) this.sqs++;
    this.last = Date.now();
  }
  noop(): void {
    this.none++;
  }
  failed(err: unknown): void {
    this.bad++;
    this.error ??= err instanceof Error ? err.message : String(err);
  }
  result(): LoadResult {
    const span = Math.max(1, this.last - this.first) / 1000;
    return {
      committed: this.n,
      failed: this.bad,
      noops: this.none,
      sqsExpected: this.sqs,
      byKind: { ...this.kinds },
      firstSentMs: this.first,
      lastCommitMs: this.last,
      commitRate: this.n / span,
      ...(this.error ? { firstError: this.error } : {}),
    };
  }
}
