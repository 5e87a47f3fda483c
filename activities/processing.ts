import type { PipelineConfig } from '../infra/config';
import { ConfigurationError } from '../domain/core/errors';
import type { PipelineEvent } from '../domain/core/pipelineEvent';
import { decodeChange, type SourceFormat } from '../domain/formats/decodeChange';
import { redactEvent, type RedactionKey } from '../domain/processing/redact';
import { splitKeyChange, transformChange } from '../domain/processing/transform';
import type { DeadLetter, StreamRecord } from '../domain/shards/shardTypes';
import { metrics } from '../infra/metrics';
import type { ActivityDeps } from './deps';
import { classified } from './failures';

/** The pure steps of a batch (no I/O): decode and transform, then redact. Thin over domain/. */
export function createProcessingActivities({ config }: ActivityDeps) {
  return classified({
    transformRecords: (input: { shardId: string; records: StreamRecord[] }) =>
      metrics.timed(config.consumer, 'transform', async () => transformRecords(input)),
    redactEvents: (events: PipelineEvent[]) =>
      metrics.timed(config.consumer, 'redact', async () => redactEvents(events, redactionKeyOf(config))),
    /**
     * Both pure steps in one call (the shard reader's default since the `prepare-in-one-step`
     * patch): one local activity per batch instead of two, and unredacted rows never reach history.
     */
    prepareRecords: async (input: { shardId: string; records: StreamRecord[] }): Promise<TransformResult> => {
      const t = await metrics.timed(config.consumer, 'transform', async () => transformRecords(input));
      const events = await metrics.timed(config.consumer, 'redact', async () =>
        redactEvents(t.events, redactionKeyOf(config)),
      );
      return { events, deadLetters: t.deadLetters };
    },
  });
}

export interface TransformResult {
  events: PipelineEvent[];
  deadLetters: DeadLetter[];
}

/** Decodes and transforms records; undecodable or unconfigured records become dead letters with a reason. */
export function transformRecords(input: { shardId: string; records: StreamRecord[] }): TransformResult {
  const result: TransformResult = { events: [], deadLetters: [] };
  for (const record of input.records) {
    const out = transformRecord(input.shardId, record);
    if ('deadLetter' in out) result.deadLetters.push(out.deadLetter);
    else result.events.push(...out.events);
  }
  return result;
}

/** One record: its events (a key change gives two), or why it cannot be processed. */
function transformRecord(
  shardId: string,
  record: StreamRecord,
): { events: PipelineEvent[] } | { deadLetter: DeadLetter } {
  let decoded: ReturnType<typeof decodeChange>;
  try {
    decoded =
      record.encoding === 'utf8'
        ? decodeChange(record.data, { sequenceNumber: record.sequenceNumber })
        : { ok: false, reason: 'record data is not UTF-8', category: 'poison' };
  } catch (err) {
    decoded = {
      ok: false,
      reason: `undecodable: ${err instanceof Error ? err.name : 'error'}`,
      category: 'poison',
    };
  }
  // `configuration`: a table the table file does not list, in any input format.
  if (!decoded.ok)
    return { deadLetter: { record, shardId, category: decoded.category, reason: decoded.reason } };
  try {
    const position = { shardId, sequenceNumber: record.sequenceNumber };
    const tieBreak = TIMESTAMP_ORDERED.has(decoded.format) ? record.sequenceNumber : undefined;
    return { events: splitKeyChange(decoded.event).map((c) => transformChange(c, position, tieBreak)) };
  } catch (err) {
    // Nothing about one record holds the shard: any failure here (a RangeError from a date beyond
    // JavaScript's range, an index too large for the version) makes that record poison.
    const category = err instanceof ConfigurationError ? 'configuration' : 'poison';
    const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { deadLetter: { record, shardId, category, reason: reason.slice(0, 500) } };
  }
}

/** Formats whose version position is a timestamp: ties are broken by the sequence number. */
const TIMESTAMP_ORDERED: ReadonlySet<SourceFormat> = new Set(['dms', 'inventory-flat', 'table-image']);

/** The HMAC secret of HASH and TOKENIZE and its id, as every redacting activity uses them. */
export function redactionKeyOf(
  config: Pick<PipelineConfig, 'redactionSecret' | 'redactionKeyId'>,
): RedactionKey {
  return { secret: config.redactionSecret, keyId: config.redactionKeyId };
}

export function redactEvents(events: PipelineEvent[], key: RedactionKey): PipelineEvent[] {
  return events.map((e) => redactEvent(e, key));
}
