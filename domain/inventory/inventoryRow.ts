import type { JsonValue, Row } from '../core/json';
import { defaultLowStockThreshold } from '../core/tables';

/**
 * One reading of an `inventory` row, shared by the DynamoDB view (`inventory_realtime`) and the
 * stock alerts: a quantity is a finite number or a numeric string; anything else (null, '',
 * 'abc', objects, ±Infinity) is unknown, never silently 0.
 */
const NUMERIC = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

export function quantity(v: JsonValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && NUMERIC.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export interface StockLevels {
  onHand: number;
  reserved: number;
  available: number;
}

/** On hand, reserved and available (on hand − reserved); undefined unless both quantities are known. */
export function stockLevels(row: Row | null | undefined): StockLevels | undefined {
  if (!row) return undefined;
  const onHand = quantity(row.on_hand);
  const reserved = quantity(row.reserved);
  if (onHand === undefined || reserved === undefined) return undefined;
  return { onHand, reserved, available: onHand - reserved };
}

const present = (v: JsonValue | undefined): v is JsonValue => v !== undefined && v !== null;

/**
 * The row's own low-stock threshold; when the image lacks the column (a partial image), the other
 * image's; when the value is NULL (or nowhere), the configured default (004: below 10 units; per
 * SKU and per table in the table file). A present but non-numeric value is no threshold.
 */
export function lowStockThreshold(row: Row | null | undefined, other?: Row | null): number | undefined {
  if (!row) return undefined;
  const own = row.low_stock_threshold;
  const value = own === undefined ? other?.low_stock_threshold : own;
  if (present(value)) return quantity(value);
  return defaultLowStockThreshold('inventory', row.sku ?? other?.sku);
}

/** The attributes of an `inventory_realtime` item for a live row; unknown quantities are left out. */
export function inventoryView(row: Row): {
  onHand?: number;
  reserved?: number;
  available?: number;
  lowStockThreshold?: number;
} {
  const levels = stockLevels(row);
  const onHand = quantity(row.on_hand);
  const reserved = quantity(row.reserved);
  const threshold = lowStockThreshold(row);
  return {
    ...(onHand !== undefined ? { onHand } : {}),
    ...(reserved !== undefined ? { reserved } : {}),
    ...(levels ? { available: levels.available } : {}),
    ...(threshold !== undefined ? { lowStockThreshold: threshold } : {}),
  };
}
