import { z } from 'zod';
import type { JsonValue, Row } from './json';
import { MAX_EPOCH } from '../processing/version';

/** The canonical change event: what capture writes to Kinesis and every decoder produces. */
export const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
const LSN = z.string().regex(LSN_PATTERN, 'LSN must look like "0/16C4460"');
export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.boolean(),
    z.number(),
    z.string(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ]),
);
const RowSchema = z.record(z.string(), JsonValueSchema);

export const ChangeEventSchema = z
  .object({
    source: z.object({
      db: z.string().min(1),
      schema: z.string().min(1),
      table: z.string().min(1),
      lsn: LSN,
      txId: z.number().int().nonnegative().optional(),
      commitTs: z.iso.datetime({ offset: true }),
      index: z.number().int().nonnegative(),
      /**
       * The source epoch (domain/capture/sourceEpoch.ts): goes up when the source database's
       * identity changes (failover, restore, major upgrade, blue/green), where LSNs may start
       * below the ones already stored; ordered before the LSN in the version. Absent: 0, which
       * is also what every format without one (Debezium, DMS, the documents' formats) means.
       */
      epoch: z.number().int().min(0).max(MAX_EPOCH).optional(),
      snapshot: z.literal(true).optional(),
      /** Columns whose value PostgreSQL did not send (unchanged TOAST): absent from `after`, never null. */
      unchangedToast: z.array(z.string()).optional(),
      /** The after image carries only some columns (e.g. the documents' compact inventory format). */
      partial: z.literal(true).optional(),
    }),
    op: z.enum(['c', 'u', 'd', 'r']),
    key: RowSchema.refine((k) => Object.keys(k).length > 0, 'key must name at least one primary-key column'),
    before: RowSchema.nullable(),
    after: RowSchema.nullable(),
  })
  .superRefine((e, ctx) => {
    if ((e.op === 'c' || e.op === 'u' || e.op === 'r') && e.after === null) {
      ctx.addIssue({ code: 'custom', message: `op '${e.op}' needs an after image`, path: ['after'] });
    }
    if (e.op === 'd' && e.after !== null) {
      ctx.addIssue({ code: 'custom', message: "op 'd' must not have an after image", path: ['after'] });
    }
  });

export type ChangeEvent = Omit<z.infer<typeof ChangeEventSchema>, 'key' | 'before' | 'after'> & {
  key: Row;
  before: Row | null;
  after: Row | null;
};
export type ChangeOp = ChangeEvent['op'];
