/**
 * The live wallboard's state (issue 14, part 3) and how one delivered event changes it. Pure: no
 * I/O and no clock of its own (the caller passes the time), so the same messages in any order give
 * the same board.
 *
 * Input is an SQS message body: the EventBridge event the rules deliver (`detail-type`, `source`,
 * `detail`). It is validated at this boundary with the pipeline's own contract
 * (`domain/publishing/eventSchema.ts`); anything else is counted as malformed with a reason and
 * dropped, never thrown.
 *
 * - inventory → the stock row of (sku, warehouse). Updates carry only the columns that changed, so
 *   each column keeps the version of the change that set it, and a change older than a column's
 *   version does not touch it: events may arrive out of order or twice (SQS is at least once) and
 *   the row still ends as the newest changes made it. A delete removes the row and remembers its
 *   version, so an older change arriving late does not bring it back.
 * - orders → recent orders, one line per order (its newest status), newest first.
 * - alerts → recent alerts, newest first, one per alert ID.
 * - reservations, users → one short line each in recent activity (no row values beyond the
 *   reservation's status, SKU, warehouse and quantity; for users only the names of changed columns).
 * Everything is bounded; an event already seen (same event or alert ID) is a duplicate.
 *
 * PII: the events are redacted by the pipeline; the board shows only what they carry and never
 * looks anything up.
 */
import { z } from 'zod';
import type { JsonValue } from '../core/json';
import { lowStockThreshold, quantity } from '../inventory/inventoryRow';
import { compareVersions } from '../processing/version';
import { ALERT_DETAIL_TYPES, ALERT_SOURCE } from '../publishing/alerts';
import {
  AlertDetailSchema,
  PublishedEventDetailSchema,
  type AlertDetail,
  type PublishedEventDetail,
} from '../publishing/eventSchema';

export interface BoardLimits {
  /** Stock rows (live rows and the tombstones of deleted ones); the least recently changed go first. */
  stockRows: number;
  orders: number;
  alerts: number;
  activity: number;
  /** Event and alert IDs remembered for deduplication. */
  seenIds: number;
  /** Reasons of the last malformed messages kept for display. */
  malformedReasons: number;
}

export const DEFAULT_LIMITS: BoardLimits = Object.freeze({
  stockRows: 2_000,
  orders: 25,
  alerts: 25,
  activity: 25,
  seenIds: 20_000,
  malformedReasons: 5,
});

/** When a line reached the board: commit time (from the event), publish time, and when it was applied. */
export interface Timing {
  /** Commit time of the newest change shown (the event's `timestamp`, or the alert's `occurredAt`). */
  changedAt: string;
  /** When the pipeline published it (`metadata.processedAt`); alerts: undefined. */
  publishedAt?: string;
  /** When this board applied it (the caller's clock). */
  appliedAt: string;
}

export interface StockRow extends Timing {
  /** The event's entityId: `<sku>#<warehouse>`. */
  key: string;
  sku: string;
  warehouseId: string;
  /** null: not known yet (the board started after the row's insert and no change carried it). */
  onHand: number | null;
  reserved: number | null;
  available: number | null;
  /** The row's own threshold, else the table file's default. */
  threshold: number | null;
  /** available < threshold; null when either is unknown. */
  low: boolean | null;
  version: string;
  lastEventType: string;
}

export interface OrderLine extends Timing {
  orderId: string;
  status: string | null;
  totalAmount: string | null;
  currency: string | null;
  version: string;
  lastEventType: string;
}

export interface AlertLine extends Timing {
  alertId: string;
  kind: AlertDetail['kind'];
  entityId: string;
  reason: string;
  /** Inventory alerts: where and how much. */
  sku?: string;
  warehouseId?: string;
  available?: number;
  threshold?: number;
}

export interface ActivityLine extends Timing {
  eventId: string;
  eventType: string;
  entityType: string;
  entityId: string;
  summary: string;
}

export interface BoardStats {
  received: number;
  applied: number;
  /** The same event (or alert) ID again: a redelivery. */
  duplicates: number;
  /** Valid, but older than what the board holds for every column it carries. */
  stale: number;
  /** Valid events the board does not show (another table, too old for a full list). */
  ignored: number;
  malformed: number;
  lastMalformed: { at: string; reason: string }[];
}

export interface BoardSnapshot {
  /** Grows with every message (each one changes at least the counts); an update carries the revision it leads to. */
  revision: number;
  stock: StockRow[];
  orders: OrderLine[];
  alerts: AlertLine[];
  activity: ActivityLine[];
  stats: BoardStats;
  /** Wall-clock time of the last applied event. */
  lastAppliedAt: string | null;
}

/** The changes since the last update: stock rows upserted and removed, whole lists that changed. */
export interface BoardUpdate {
  revision: number;
  stock: StockRow[];
  removed: string[];
  orders?: OrderLine[];
  alerts?: AlertLine[];
  activity?: ActivityLine[];
  stats: BoardStats;
  lastAppliedAt: string | null;
}

export type Outcome = 'applied' | 'duplicate' | 'stale' | 'ignored' | 'malformed';

/** What one message did: the outcome, a reason for anything not applied, and what it touched. */
export interface ApplyResult {
  outcome: Outcome;
  reason?: string;
  touched: Touched;
}

/** Parts of the board that changed (stock by row key). */
export interface Touched {
  stock: string[];
  orders: boolean;
  alerts: boolean;
  activity: boolean;
}

const nothing = (): Touched => ({ stock: [], orders: false, alerts: false, activity: false });

/** Accumulates what several messages touched until the next update is sent. */
export class PendingChanges {
  readonly stock = new Set<string>();
  orders = false;
  alerts = false;
  activity = false;
  /** Anything at all (stats count every message, so any message is worth an update). */
  dirty = false;

  add(t: Touched): void {
    for (const k of t.stock) this.stock.add(k);
    this.orders ||= t.orders;
    this.alerts ||= t.alerts;
    this.activity ||= t.activity;
    this.dirty = true;
  }

  clear(): void {
    this.stock.clear();
    this.orders = this.alerts = this.activity = this.dirty = false;
  }
}

/** The EventBridge event as an SQS target receives it (only the fields the board reads). */
const EnvelopeSchema = z.object({
  'detail-type': z.string().min(1),
  source: z.string().min(1),
  detail: z.record(z.string(), z.unknown()),
});

const CHANGE_SOURCE_PREFIX = 'cdc-pipeline.';
const MAX_REASON = 300;

/** A column's value and the version of the change that set it. */
interface Field {
  value: JsonValue;
  version: string;
}

/** One entity (stock row or order) as merged from its changes. */
interface Entity extends Timing {
  key: string;
  fields: Map<string, Field>;
  /** Version of the newest delete seen: changes not newer than it are stale. */
  deletedVersion?: string;
  /** Newest version applied. */
  version: string;
  lastEventType: string;
}

const newer = (a: string, than: string | undefined) => than === undefined || compareVersions(a, than) > 0;

function isLive(e: Entity): boolean {
  for (const f of e.fields.values()) if (newer(f.version, e.deletedVersion)) return true;
  return false;
}

/**
 * Merges one change into an entity. Returns whether anything changed; `false` means the change is
 * stale (every column it carries is already at a newer or equal version, or the row was deleted later).
 */
function mergeChange(e: Entity, d: PublishedEventDetail, timing: Timing): boolean {
  const v = d.metadata.version;
  if (!newer(v, e.deletedVersion)) return false;
  let changed = false;
  if (d.operation === 'DELETE') {
    e.deletedVersion = v;
    for (const [col, f] of e.fields) if (!newer(f.version, v)) e.fields.delete(col);
    changed = true;
  } else {
    // An update that changed no column (SET x = x) is news only as a newer version.
    if (Object.keys(d.changes).length === 0) changed = newer(v, e.version);
    for (const [col, ch] of Object.entries(d.changes)) {
      const f = e.fields.get(col);
      if (f && !newer(v, f.version)) continue;
      e.fields.set(col, { value: ch.new, version: v });
      changed = true;
    }
  }
  if (changed && newer(v, e.version)) {
    e.version = v;
    e.lastEventType = d.eventType;
    e.changedAt = timing.changedAt;
    e.appliedAt = timing.appliedAt;
    if (timing.publishedAt !== undefined) e.publishedAt = timing.publishedAt;
  }
  return changed;
}

function emptyEntity(key: string): Entity {
  return { key, fields: new Map(), version: '', lastEventType: '', changedAt: '', appliedAt: '' };
}

const text = (v: JsonValue | undefined): string | null =>
  v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v);

/** Newest first: by time, then by version (commit order for LSN versions). */
function newestFirst(a: { at: number; version: string }, b: { at: number; version: string }): number {
  return b.at - a.at || compareVersions(b.version, a.version);
}

/** A bounded set of recent lines keyed by ID, listed newest first; the oldest leave when it is full. */
class RecentLines<T> {
  private readonly items = new Map<string, { at: number; version: string; item: T }>();
  constructor(private readonly limit: number) {}

  get(id: string): T | undefined {
    return this.items.get(id)?.item;
  }

  /** Whether a line of this age would be kept (the list is not full, or it is newer than the oldest). */
  wouldKeep(id: string, at: number, version: string): boolean {
    if (this.items.has(id) || this.items.size < this.limit) return true;
    const oldest = this.oldest();
    return oldest !== undefined && newestFirst({ at, version }, oldest[1]) < 0;
  }

  put(id: string, at: number, version: string, item: T): void {
    this.items.set(id, { at, version, item });
    while (this.items.size > this.limit) {
      const oldest = this.oldest();
      if (!oldest) break;
      this.items.delete(oldest[0]);
    }
  }

  delete(id: string): void {
    this.items.delete(id);
  }

  list(): T[] {
    return [...this.items.values()].sort(newestFirst).map((x) => x.item);
  }

  private oldest(): [string, { at: number; version: string }] | undefined {
    let found: [string, { at: number; version: string }] | undefined;
    for (const [id, x] of this.items) if (!found || newestFirst(x, found[1]) > 0) found = [id, x];
    return found;
  }
}

/** A bounded set that forgets its oldest members first. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly limit: number) {}
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.limit) {
      const first = this.ids.values().next();
      if (!first.done) this.ids.delete(first.value);
    }
  }
}

const millis = (iso: string) => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
};

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

const clip = (s: string) => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s);

/** What the board does with a valid message. */
type Parsed =
  | { kind: 'change'; detail: PublishedEventDetail }
  | { kind: 'alert'; detail: AlertDetail }
  | { kind: 'malformed'; reason: string };

/** Validates an SQS message body as a published change or an alert. */
export function parseMessage(body: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: 'malformed', reason: 'body is not JSON' };
  }
  const envelope = EnvelopeSchema.safeParse(json);
  if (!envelope.success)
    return { kind: 'malformed', reason: clip(`not an EventBridge event: ${issues(envelope.error)}`) };
  const { source, detail } = envelope.data;
  const detailType = envelope.data['detail-type'];
  if (source === ALERT_SOURCE) {
    const alert = AlertDetailSchema.safeParse(detail);
    if (!alert.success) return { kind: 'malformed', reason: clip(`alert detail: ${issues(alert.error)}`) };
    if (ALERT_DETAIL_TYPES[alert.data.kind] !== detailType)
      return {
        kind: 'malformed',
        reason: clip(`detail-type ${detailType} does not match the alert kind ${alert.data.kind}`),
      };
    return { kind: 'alert', detail: alert.data };
  }
  if (!source.startsWith(CHANGE_SOURCE_PREFIX))
    return { kind: 'malformed', reason: clip(`unknown source ${source}`) };
  const change = PublishedEventDetailSchema.safeParse(detail);
  if (!change.success) return { kind: 'malformed', reason: clip(`detail: ${issues(change.error)}`) };
  const d = change.data;
  if (source !== `${CHANGE_SOURCE_PREFIX}${d.metadata.sourceTable}`)
    return {
      kind: 'malformed',
      reason: clip(`source ${source} does not match table ${d.metadata.sourceTable}`),
    };
  if (detailType !== d.eventType)
    return {
      kind: 'malformed',
      reason: clip(`detail-type ${detailType} does not match eventType ${d.eventType}`),
    };
  return { kind: 'change', detail: d };
}

/** sku and warehouse of an inventory entityId (`<sku>#<warehouse>`; the warehouse id is the last part). */
function stockKeyParts(e: Entity): { sku: string; warehouseId: string } {
  const sku = text(e.fields.get('sku')?.value);
  const wh = text(e.fields.get('warehouse_id')?.value);
  const cut = e.key.lastIndexOf('#');
  return {
    sku: sku ?? (cut >= 0 ? e.key.slice(0, cut) : e.key),
    warehouseId: wh ?? (cut >= 0 ? e.key.slice(cut + 1) : ''),
  };
}

function timingOf(e: Timing): Timing {
  return {
    changedAt: e.changedAt,
    ...(e.publishedAt !== undefined ? { publishedAt: e.publishedAt } : {}),
    appliedAt: e.appliedAt,
  };
}

function stockRowOf(e: Entity): StockRow {
  const { sku, warehouseId } = stockKeyParts(e);
  const value = (col: string) => e.fields.get(col)?.value;
  const onHand = quantity(value('on_hand')) ?? null;
  const reserved = quantity(value('reserved')) ?? null;
  const available = onHand !== null && reserved !== null ? onHand - reserved : null;
  const ownThreshold = value('low_stock_threshold');
  const threshold =
    lowStockThreshold({
      sku,
      ...(ownThreshold !== undefined ? { low_stock_threshold: ownThreshold } : {}),
    }) ?? null;
  return {
    key: e.key,
    sku,
    warehouseId,
    onHand,
    reserved,
    available,
    threshold,
    low: available !== null && threshold !== null ? available < threshold : null,
    version: e.version,
    lastEventType: e.lastEventType,
    ...timingOf(e),
  };
}

function orderLineOf(e: Entity): OrderLine {
  const value = (col: string) => text(e.fields.get(col)?.value);
  return {
    orderId: e.key,
    status: value('status'),
    totalAmount: value('total_amount'),
    currency: value('currency'),
    version: e.version,
    lastEventType: e.lastEventType,
    ...timingOf(e),
  };
}

/** The one line of recent activity for a reservation or user change (no row values beyond these). */
function activitySummary(d: PublishedEventDetail): string {
  const value = (col: string) => {
    const ch = d.changes[col];
    return ch === undefined ? null : text(d.operation === 'DELETE' ? ch.old : ch.new);
  };
  if (d.metadata.sourceTable === 'reservations') {
    const status = value('status');
    const sku = value('sku');
    const wh = value('warehouse_id');
    const qty = value('quantity');
    return [
      status,
      sku !== null ? `${sku}${wh !== null ? ` @ ${wh}` : ''}` : null,
      qty !== null ? `qty ${qty}` : null,
    ]
      .filter((s): s is string => s !== null)
      .join(' · ');
  }
  // Users and anything else: which columns changed, never their values.
  return d.operation === 'UPDATE' ? `changed: ${Object.keys(d.changes).sort().join(', ')}` : '';
}

const ACTIVITY_TABLES = new Set(['reservations', 'users']);

export class Board {
  private readonly limits: BoardLimits;
  private readonly stock = new Map<string, Entity>();
  private readonly orders: RecentLines<Entity>;
  private readonly alerts: RecentLines<AlertLine>;
  private readonly activity: RecentLines<ActivityLine>;
  private readonly seen: RecentIds;
  private readonly stats: BoardStats = {
    received: 0,
    applied: 0,
    duplicates: 0,
    stale: 0,
    ignored: 0,
    malformed: 0,
    lastMalformed: [],
  };
  private revision = 0;
  private lastAppliedAt: string | null = null;

  constructor(limits: Partial<BoardLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    for (const [name, n] of Object.entries(this.limits))
      if (!Number.isInteger(n) || n < 1)
        throw new RangeError(`board limit ${name} must be a positive integer`);
    this.orders = new RecentLines(this.limits.orders);
    this.alerts = new RecentLines(this.limits.alerts);
    this.activity = new RecentLines(this.limits.activity);
    this.seen = new RecentIds(this.limits.seenIds);
  }

  /** Applies one SQS message body (the EventBridge event as JSON). Never throws for its contents. */
  apply(body: string, now: Date): ApplyResult {
    this.stats.received++;
    this.revision++;
    const parsed = parseMessage(body);
    if (parsed.kind === 'malformed') return this.malformed(parsed.reason, now);
    const appliedAt = now.toISOString();
    const result =
      parsed.kind === 'alert'
        ? this.applyAlert(parsed.detail, appliedAt)
        : this.applyChange(parsed.detail, appliedAt);
    switch (result.outcome) {
      case 'applied':
        this.stats.applied++;
        this.lastAppliedAt = appliedAt;
        break;
      case 'duplicate':
        this.stats.duplicates++;
        break;
      case 'stale':
        this.stats.stale++;
        break;
      default:
        this.stats.ignored++;
    }
    return result;
  }

  snapshot(): BoardSnapshot {
    const stock = [...this.stock.values()].filter(isLive).map(stockRowOf);
    stock.sort(
      (a, b) =>
        a.sku.localeCompare(b.sku) || a.warehouseId.localeCompare(b.warehouseId, 'en', { numeric: true }),
    );
    return {
      revision: this.revision,
      stock,
      orders: this.orderLines(),
      alerts: this.alerts.list(),
      activity: this.activity.list(),
      stats: this.statsCopy(),
      lastAppliedAt: this.lastAppliedAt,
    };
  }

  /** The update for what `pending` holds: current stock rows (or their removal) and the lists that changed. */
  update(pending: PendingChanges): BoardUpdate {
    const stock: StockRow[] = [];
    const removed: string[] = [];
    for (const key of pending.stock) {
      const e = this.stock.get(key);
      if (e && isLive(e)) stock.push(stockRowOf(e));
      else removed.push(key);
    }
    return {
      revision: this.revision,
      stock,
      removed,
      ...(pending.orders ? { orders: this.orderLines() } : {}),
      ...(pending.alerts ? { alerts: this.alerts.list() } : {}),
      ...(pending.activity ? { activity: this.activity.list() } : {}),
      stats: this.statsCopy(),
      lastAppliedAt: this.lastAppliedAt,
    };
  }

  /** One stock row by key (`<sku>#<warehouse>`), undefined when unknown or deleted. */
  stockRow(key: string): StockRow | undefined {
    const e = this.stock.get(key);
    return e && isLive(e) ? stockRowOf(e) : undefined;
  }

  private malformed(reason: string, now: Date): ApplyResult {
    this.stats.malformed++;
    this.stats.lastMalformed.unshift({ at: now.toISOString(), reason });
    this.stats.lastMalformed.length = Math.min(this.stats.lastMalformed.length, this.limits.malformedReasons);
    return { outcome: 'malformed', reason, touched: nothing() };
  }

  private statsCopy(): BoardStats {
    return { ...this.stats, lastMalformed: this.stats.lastMalformed.map((m) => ({ ...m })) };
  }

  private orderLines(): OrderLine[] {
    return this.orders.list().filter(isLive).map(orderLineOf);
  }

  private applyChange(d: PublishedEventDetail, appliedAt: string): ApplyResult {
    if (this.seen.has(d.eventId))
      return { outcome: 'duplicate', reason: `event ${d.eventId} seen before`, touched: nothing() };
    const table = d.metadata.sourceTable;
    const timing: Timing = { changedAt: d.timestamp, publishedAt: d.metadata.processedAt, appliedAt };
    let result: ApplyResult;
    if (table === 'inventory') result = this.applyStock(d, timing);
    else if (table === 'orders') result = this.applyOrder(d, timing);
    else if (ACTIVITY_TABLES.has(table)) result = this.applyActivity(d, timing);
    else result = { outcome: 'ignored', reason: `the board shows no ${table} events`, touched: nothing() };
    this.seen.add(d.eventId);
    return result;
  }

  private applyStock(d: PublishedEventDetail, timing: Timing): ApplyResult {
    const key = d.entityId;
    const existing = this.stock.get(key);
    const e = existing ?? emptyEntity(key);
    if (!mergeChange(e, d, timing))
      return { outcome: 'stale', reason: `${key} already holds a newer version`, touched: nothing() };
    // Most recently changed last: the first entries are the ones to forget when the board is full.
    this.stock.delete(key);
    this.stock.set(key, e);
    const touched = { ...nothing(), stock: [key] };
    while (this.stock.size > this.limits.stockRows) {
      const oldest = this.stock.keys().next();
      if (oldest.done) break;
      this.stock.delete(oldest.value);
      touched.stock.push(oldest.value);
    }
    return { outcome: 'applied', touched };
  }

  private applyOrder(d: PublishedEventDetail, timing: Timing): ApplyResult {
    const key = d.entityId;
    const at = millis(d.timestamp);
    const version = d.metadata.version;
    const existing = this.orders.get(key);
    if (!existing && !this.orders.wouldKeep(key, at, version))
      return {
        outcome: 'ignored',
        reason: `order ${key} is older than every order shown`,
        touched: nothing(),
      };
    const e = existing ?? emptyEntity(key);
    if (!mergeChange(e, d, timing))
      return { outcome: 'stale', reason: `order ${key} already holds a newer version`, touched: nothing() };
    this.orders.put(key, millis(e.changedAt), e.version, e);
    return { outcome: 'applied', touched: { ...nothing(), orders: true } };
  }

  private applyActivity(d: PublishedEventDetail, timing: Timing): ApplyResult {
    const at = millis(d.timestamp);
    if (!this.activity.wouldKeep(d.eventId, at, d.metadata.version))
      return { outcome: 'ignored', reason: 'older than every line of recent activity', touched: nothing() };
    this.activity.put(d.eventId, at, d.metadata.version, {
      eventId: d.eventId,
      eventType: d.eventType,
      entityType: d.entityType,
      entityId: d.entityId,
      summary: activitySummary(d),
      ...timing,
    });
    return { outcome: 'applied', touched: { ...nothing(), activity: true } };
  }

  private applyAlert(a: AlertDetail, appliedAt: string): ApplyResult {
    if (this.seen.has(a.alertId))
      return { outcome: 'duplicate', reason: `alert ${a.alertId} seen before`, touched: nothing() };
    this.seen.add(a.alertId);
    const at = millis(a.occurredAt);
    // Alerts have no version of their own; the ID breaks ties, so the order is the same everywhere.
    if (!this.alerts.wouldKeep(a.alertId, at, a.alertId))
      return { outcome: 'ignored', reason: 'older than every alert shown', touched: nothing() };
    const line: AlertLine = {
      alertId: a.alertId,
      kind: a.kind,
      entityId: a.entityId,
      reason: a.details.reason,
      changedAt: a.occurredAt,
      appliedAt,
    };
    if (a.kind === 'LOW_STOCK') {
      line.sku = String(a.details.sku);
      line.warehouseId = String(a.details.warehouseId);
      line.available = a.details.available;
      line.threshold = a.details.threshold;
    } else if (a.kind === 'STOCK_ANOMALY') {
      line.sku = String(a.details.sku);
      line.warehouseId = String(a.details.warehouseId);
    }
    this.alerts.put(a.alertId, at, a.alertId, line);
    return { outcome: 'applied', touched: { ...nothing(), alerts: true } };
  }
}
