import type { ChangeOp } from './changeEvent';
import type { JsonValue, Row } from './json';

export type FieldChange = { old: JsonValue; new: JsonValue };

/** A change after transformation (and, once `redactionPolicy` is set, after redaction). */
export interface PipelineEvent {
  eventId: string;
  table: string;
  entityType: string;
  /** Primary-key values joined by '#', e.g. "SKU-1#101". */
  entityId: string;
  key: Row;
  op: ChangeOp;
  /** The table's event type name for the operation (default `<entity>.created|updated|deleted|snapshot`). */
  eventType: string;
  /** The table does not publish this operation (its `operations`): applied to the state store, never to EventBridge. */
  unpublished?: true;
  version: string;
  commitTs: string;
  lsn: string;
  index: number;
  txId?: number;
  before: Row | null;
  after: Row | null;
  changes: Record<string, FieldChange>;
  /** Where the record came from on the stream. */
  position: { shardId: string; sequenceNumber: string };
  /**
   * The after image holds only some of the row's columns (a compact format, unchanged TOAST
   * values): a sink merges them into what it holds instead of replacing the row.
   */
  partial?: true;
  /**
   * How logs, summaries and the workflow's status name the row (set by redaction): the entityId,
   * or for a table with redaction rules (a sensitive one) a keyed hash of it, since those bypass
   * the payload codec.
   */
  entityRef?: string;
  /** Set by the redaction step; an event without it must never leave the pipeline. */
  redactionPolicy?: string;
}

export function entityIdOf(key: Row, primaryKey: readonly string[]): string {
  return primaryKey.map((c) => (key[c] === null || key[c] === undefined ? '' : String(key[c]))).join('#');
}
