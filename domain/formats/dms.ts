import { z } from 'zod';
import type { ChangeOp } from '../core/changeEvent';
import {
  fail,
  formatIssues,
  ImageSchema,
  imagesAndKey,
  isObject,
  positionFromTimestamp,
  type Step,
} from './common';

/**
 * AWS DMS records written to a Kinesis target (`{data, before-image?, metadata}`). DMS carries no
 * LSN: the version position is `metadata.timestamp` in microseconds, index 0 (see
 * `decodeChange.ts`). Control records (table definitions and the like) are rejected.
 */

const DmsMetadataSchema = z.object({
  timestamp: z.string(),
  'record-type': z.literal('data'),
  operation: z.enum(['load', 'insert', 'update', 'delete']),
  'partition-key-type': z.string().optional(),
  'schema-name': z.string().nullish(),
  'table-name': z.string().min(1),
  'transaction-id': z.number().int().nonnegative().nullish(),
});
const DmsRecordSchema = z.object({
  data: ImageSchema,
  'before-image': ImageSchema.nullish(),
  metadata: DmsMetadataSchema,
});

const DMS_OPS: Record<z.infer<typeof DmsMetadataSchema>['operation'], ChangeOp> = {
  load: 'r',
  insert: 'c',
  update: 'u',
  delete: 'd',
};

/** A DMS record → a candidate change event (validated by the caller), or a reason. */
export function mapDms(input: Record<string, unknown>): Step<unknown> {
  const meta = input.metadata;
  if (isObject(meta) && meta['record-type'] === 'control') {
    const what = typeof meta.operation === 'string' ? ` (operation '${meta.operation}')` : '';
    return fail(`DMS control record${what}, not a row change`);
  }
  const parsed = DmsRecordSchema.safeParse(input);
  if (!parsed.success) return fail(formatIssues(parsed.error));
  const { data, metadata } = parsed.data;
  const table = metadata['table-name'];
  const op = DMS_OPS[metadata.operation];
  // For deletes DMS puts the deleted row in `data`; for updates the old row is in `before-image`
  // only when BeforeImageSettings are enabled on the task.
  const before = op === 'd' ? data : op === 'u' ? (parsed.data['before-image'] ?? null) : null;
  const after = op === 'd' ? null : data;
  const images = imagesAndKey(table, before, after, {
    before: op === 'd' ? 'data (deleted row)' : 'before-image',
    after: 'data',
  });
  if (!images.ok) return images;
  const pos = positionFromTimestamp(metadata.timestamp, 'metadata.timestamp');
  if (!pos.ok) return pos;
  const txId = metadata['transaction-id'];
  return {
    ok: true,
    value: {
      source: {
        db: 'unknown',
        schema: metadata['schema-name'] || 'public',
        table,
        lsn: pos.value.lsn,
        ...(txId != null ? { txId } : {}),
        commitTs: pos.value.commitTs,
        index: 0,
        ...(op === 'r' ? { snapshot: true } : {}),
      },
      op,
      ...images.value,
    },
  };
}
