import type { PipelineEvent } from '../core/pipelineEvent';

/** What an EventBridge PutEvents entry holds for one published change. */
export interface EventEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
  Time: Date;
}

const OPERATION = { c: 'INSERT', u: 'UPDATE', d: 'DELETE', r: 'SNAPSHOT' } as const;

/** Builds the published event; refuses an event that has not been through redaction. */
export function toEventEntry(e: PipelineEvent, bus: string, processedAt: string): EventEntry {
  if (!e.redactionPolicy) throw new Error(`refusing to publish unredacted event ${e.eventId}`);
  const detail = {
    eventId: e.eventId,
    eventType: e.eventType,
    entityId: e.entityId,
    entityType: e.entityType,
    operation: OPERATION[e.op],
    timestamp: e.commitTs,
    changes: e.changes,
    metadata: {
      sourceTable: e.table,
      sequenceNumber: e.position.sequenceNumber,
      sourcePosition: e.lsn,
      processedAt,
      version: e.version,
      redactionPolicy: e.redactionPolicy,
    },
  };
  return {
    Source: `cdc-pipeline.${e.table}`,
    DetailType: e.eventType,
    Detail: JSON.stringify(detail),
    EventBusName: bus,
    Time: new Date(e.commitTs),
  };
}

/** PutEvents limits: at most 10 entries and 256 KiB per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

/** Size of an entry as EventBridge counts it (UTF-8 bytes of its string fields + 14 for Time). */
export function entrySize(e: EventEntry): number {
  return (
    14 +
    [e.Source, e.DetailType, e.Detail, e.EventBusName].reduce((n, s) => n + Buffer.byteLength(s, 'utf8'), 0)
  );
}

/** Splits entries into PutEvents requests within the count and size limits; an entry too large alone is reported. */
export function chunkEntries<T extends EventEntry>(entries: T[]): { chunks: T[][]; oversized: T[] } {
  const chunks: T[][] = [];
  const oversized: T[] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entrySize(entry);
    if (size > PUT_EVENTS_MAX_BYTES) {
      oversized.push(entry);
      continue;
    }
    if (current.length === PUT_EVENTS_MAX_ENTRIES || bytes + size > PUT_EVENTS_MAX_BYTES) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  return { chunks, oversized };
}
