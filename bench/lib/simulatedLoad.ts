/**
 * The simulated benchmark's load generator: canonical change events (what capture writes,
 * domain/core/changeEvent.ts) of the benchmark's mix (bench/lib/load.ts, MIX), written
 * straight into the simulated Kinesis with PutRecords (PostgreSQL and capture are not part of this
 * measurement). Each change is a one-row transaction with its own, ascending LSN; its commit time
 * is the time it was written (the PutRecords call). Keeps what it wrote, per phase, so the
 * benchmark can check that every change arrived, in per-key order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { encodeChangeEvent, partitionKey } from '../../domain/capture/streamRecord';
import type { ChangeEvent } from '../../domain/core/changeEvent';
import type { Row } from '../../domain/core/json';
import { MIX, type ChangeKind } from './load';
import { seededRandom } from '../../test/support/seededRandom';

/** What a generator call wrote. */
export interface SimLoadResult {
  count: number;
  /** First and last write (epoch ms): the commit times' span. */
  firstMs: number;
  lastMs: number;
  /** Changes/s achieved over that span. */
  rate: number;
  /** LSN numbers of the first and last change (inclusive: the phase's changes are this range). */
  fromLsn: number;
  toLsn: number;
  byKind: Partial<Record<ChangeKind, number>>;
}

/** One change the generator wrote (for the checks). */
export interface WrittenChange {
  /** `<table>#<entityId>`, as the events' `metadata.sourceTable` and `entityId` make it. */
  entityKey: string;
  lsn: number;
  commitMs: number;
}

interface Sender {
  send(command: PutRecordsCommand): Promise<unknown>;
}

const TIMESTAMP = () => new Date().toISOString();

/** `0/1A2B00`-style LSN of a number (< 2^53). */
export function lsnText(n: number): string {
  const hi = Math.floor(n / 2 ** 32);
  const lo = n % 2 ** 32;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** The number of an LSN text. */
export function lsnNumber(lsn: string): number {
  const [hi, lo] = lsn.split('/');
  return parseInt(hi, 16) * 2 ** 32 + parseInt(lo, 16);
}

export interface SimWorkloadShape {
  hotSkus: number;
  warehouses: number;
  coldRows: number;
  users: number;
  products: number;
  largeProducts: number;
  largeBytes: number;
  burst: readonly [number, number];
}

export const SIM_SHAPE: SimWorkloadShape = {
  hotSkus: 20,
  warehouses: 2,
  coldRows: 400,
  users: 200,
  products: 100,
  largeProducts: 4,
  largeBytes: 50_000,
  burst: [5, 20],
};

/** The mix of bench/lib/load.ts as change events (hot bursts, inventory, orders, users, products). */
export class SimulatedWorkload {
  readonly written: WrittenChange[] = [];
  private readonly random: () => number;
  private readonly drawWeights: [ChangeKind, number][];
  private lsn = 0x1000000;
  private txId = 1000;
  private nextOrder = 0;
  private readonly onHand = new Map<string, number>();
  private readonly pending: ChangeEvent[] = [];
  private readonly largeText: string;

  constructor(
    private readonly kinesis: Sender,
    private readonly stream: string,
    readonly tag: string,
    readonly shape: SimWorkloadShape = SIM_SHAPE,
  ) {
    this.random = seededRandom(
      [...tag].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261),
    );
    const meanBurst = (shape.burst[0] + shape.burst[1]) / 2;
    const raw = (Object.entries(MIX) as [ChangeKind, number][]).map(
      ([k, share]) => [k, k === 'hot' ? share / meanBurst : share] as [ChangeKind, number],
    );
    const total = raw.reduce((s, [, w]) => s + w, 0);
    this.drawWeights = raw.map(([k, w]) => [k, w / total]);
    this.largeText = 'lorem ipsum dolor sit amet '
      .repeat(Math.ceil(shape.largeBytes / 27))
      .slice(0, shape.largeBytes);
  }

  /** `count` changes as fast as PutRecords takes them (500 a request, `concurrency` requests in flight). */
  async writeFast(count: number, concurrency = 4): Promise<SimLoadResult> {
    const tally = this.tally();
    const inFlight = new Set<Promise<void>>();
    for (let planned = 0; planned < count;) {
      const n = Math.min(500, count - planned);
      const changes = this.take(n, tally);
      planned += n;
      const p = this.put(changes).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    return tally.result();
  }

  /** `rate` changes a second for `seconds`: every 10 ms the changes due, in one PutRecords (not waiting for the last). */
  async writeAtRate(rate: number, seconds: number): Promise<SimLoadResult> {
    const total = Math.max(1, Math.round(rate * seconds));
    const tally = this.tally();
    const inFlight = new Set<Promise<void>>();
    const start = Date.now();
    let planned = 0;
    while (planned < total) {
      const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate) + 1);
      while (planned < due) {
        const n = Math.min(500, due - planned);
        const changes = this.take(n, tally);
        planned += n;
        const p = this.put(changes).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await sleep(10);
    }
    await Promise.all(inFlight);
    return tally.result();
  }

  private async put(changes: ChangeEvent[]): Promise<void> {
    const out = (await this.kinesis.send(
      new PutRecordsCommand({
        StreamName: this.stream,
        Records: changes.map((c) => ({
          PartitionKey: partitionKey(c.source.table, c.key),
          Data: Buffer.from(encodeChangeEvent(c), 'utf8'),
        })),
      }),
    )) as { FailedRecordCount?: number };
    if (out.FailedRecordCount)
      throw new Error(`simulated PutRecords refused ${out.FailedRecordCount} records`);
  }

  private tally() {
    const t = {
      count: 0,
      firstMs: 0,
      lastMs: 0,
      fromLsn: 0,
      toLsn: 0,
      byKind: {} as Partial<Record<ChangeKind, number>>,
    };
    return {
      add: (kind: ChangeKind, lsn: number, ms: number) => {
        if (!t.count) {
          t.firstMs = ms;
          t.fromLsn = lsn;
        }
        t.count++;
        t.lastMs = ms;
        t.toLsn = lsn;
        t.byKind[kind] = (t.byKind[kind] ?? 0) + 1;
      },
      result: (): SimLoadResult => ({
        ...t,
        rate: t.count / Math.max(0.001, (t.lastMs - t.firstMs) / 1000),
      }),
    };
  }

  /** The next `n` changes (a hot burst may be cut short), committed now. */
  private take(n: number, tally: ReturnType<SimulatedWorkload['tally']>): ChangeEvent[] {
    const now = Date.now();
    const commitTs = new Date(now).toISOString();
    const out: ChangeEvent[] = [];
    while (out.length < n) {
      if (!this.pending.length) this.pending.push(...this.nextGroup());
      const c = this.pending.shift()!;
      this.lsn += 0x100;
      const lsn = this.lsn;
      const event: ChangeEvent = {
        ...c,
        source: { ...c.source, lsn: lsnText(lsn), commitTs, txId: this.txId++ },
      };
      out.push(event);
      const kind = (c as ChangeEvent & { kind?: ChangeKind }).kind ?? 'inventory';
      delete (event as ChangeEvent & { kind?: ChangeKind }).kind;
      tally.add(kind, lsn, now);
      this.written.push({ entityKey: entityKeyOf(c.source.table, c.key), lsn, commitMs: now });
    }
    return out;
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

  /** One change, or a hot burst of one (sku, warehouse): LSN, commit time and tx id are set when written. */
  private nextGroup(): (ChangeEvent & { kind: ChangeKind })[] {
    const kind = this.draw();
    const t = this.tag;
    if (kind === 'hot') {
      const [min, max] = this.shape.burst;
      const n = min + this.pick(max - min + 1);
      const sku = `${t}-hot-${this.pick(this.shape.hotSkus)}`;
      const wh = 1 + this.pick(this.shape.warehouses);
      return Array.from({ length: n }, () => this.inventory('hot', sku, wh, -1));
    }
    switch (kind) {
      case 'inventory':
        return [
          this.inventory(
            kind,
            `${t}-sku-${this.pick(this.shape.coldRows)}`,
            1,
            [-3, -2, -1, 1, 2, 5][this.pick(6)],
          ),
        ];
      case 'orderInsert': {
        const id = `${t}-o-${this.nextOrder++}`;
        return [change(kind, 'orders', 'c', { order_id: id }, this.order(id, 'PLACED'))];
      }
      case 'orderUpdate': {
        const id = `${t}-o-${this.pick(Math.max(1, this.nextOrder))}`;
        return [
          change(
            kind,
            'orders',
            'u',
            { order_id: id },
            this.order(id, ['PAID', 'SHIPPED', 'DELIVERED'][this.pick(3)]),
          ),
        ];
      }
      case 'userInsert':
      case 'userUpdate': {
        const i = this.pick(this.shape.users);
        const id = `${t}-u-${i}`;
        return [change(kind, 'users', kind === 'userInsert' ? 'c' : 'u', { id }, this.user(id, i))];
      }
      case 'productUpdate': {
        const id = `${t}-p-${this.pick(this.shape.products)}`;
        return [
          change(
            kind,
            'products',
            'u',
            { product_id: id },
            this.product(id, 'A sturdy thing for everyday use. '.repeat(12)),
          ),
        ];
      }
      default: {
        const id = `${t}-pl-${this.pick(this.shape.largeProducts)}`;
        return [change(kind, 'products', 'u', { product_id: id }, this.product(id, this.largeText))];
      }
    }
  }

  private inventory(
    kind: ChangeKind,
    sku: string,
    wh: number,
    delta: number,
  ): ChangeEvent & { kind: ChangeKind } {
    const k = `${sku}#${wh}`;
    const onHand = Math.max(0, (this.onHand.get(k) ?? (kind === 'hot' ? 1_000_000 : 10_000)) + delta);
    this.onHand.set(k, onHand);
    return change(
      kind,
      'inventory',
      'u',
      { sku, warehouse_id: wh },
      {
        sku,
        warehouse_id: wh,
        on_hand: onHand,
        reserved: 0,
        low_stock_threshold: 5,
        updated_at: TIMESTAMP(),
      },
    );
  }

  private order(id: string, status: string): Row {
    const now = TIMESTAMP();
    return {
      order_id: id,
      user_id: `${this.tag}-u-${this.pick(this.shape.users)}`,
      status,
      total_amount: `${(19.99 + this.pick(500)).toFixed(2)}00`,
      currency: 'USD',
      payment_details: { method: 'card', last4: '4242', token: `tok_${this.pick(1e9)}` },
      shipping_address: `${this.pick(999)} Main Street, Springfield`,
      order_date: now,
      created_at: now,
      updated_at: now,
    };
  }

  private user(id: string, i: number): Row {
    const now = TIMESTAMP();
    return {
      id,
      email: `user${i}@example.com`,
      phone: `+1-555-01${String(i).padStart(4, '0')}`,
      full_name: `User ${i}`,
      ssn: `123-45-${String(i).padStart(4, '0')}`,
      password_hash: `5f4dcc3b5aa765d61d8327deb882cf${String(i % 100).padStart(2, '0')}`,
      date_of_birth: '1980-01-01',
      status: ['active', 'suspended'][this.pick(2)],
      created_at: now,
      updated_at: now,
    };
  }

  private product(id: string, description: string): Row {
    const now = TIMESTAMP();
    return {
      product_id: id,
      sku: null,
      name: `Product ${id}`,
      description,
      category: 'tools',
      price: `${10 + this.pick(90)}.00`,
      created_at: now,
      updated_at: now,
    };
  }
}

const PRIMARY_KEY: Record<string, string[]> = {
  inventory: ['sku', 'warehouse_id'],
  orders: ['order_id'],
  users: ['id'],
  products: ['product_id'],
};

/** `<table>#<primary-key values joined by '#'>` (domain/core/pipelineEvent.ts entityIdOf). */
export function entityKeyOf(table: string, key: Row): string {
  return `${table}#${(PRIMARY_KEY[table] ?? Object.keys(key)).map((c) => String(key[c] ?? '')).join('#')}`;
}

function change(
  kind: ChangeKind,
  table: string,
  op: 'c' | 'u',
  key: Row,
  after: Row,
): ChangeEvent & { kind: ChangeKind } {
  return {
    kind,
    // lsn, commitTs and txId are set when the change is written.
    source: { db: 'inventory', schema: 'public', table, lsn: '0/0', commitTs: '', index: 0 },
    op,
    key,
    before: null,
    after,
  };
}
