/**
 * A chunk's watermark (`backfillWatermark`), taken before the chunk's first attempt: L, then the
 * wait for the transactions in progress at L (activities/backfill/postgres.ts). The workflow keeps
 * it and gives it to every attempt of the chunk, so the version and the event ids of the chunk's
 * rows are fixed at its first attempt (docs/backfill.md).
 */
import type { ChunkWatermark, WatermarkInput } from '../../domain/backfill/chunks';
import { tableConfig } from '../../domain/core/tables';
import type { ActivityDeps } from '../deps';
import { waitForWatermark, withPg } from './postgres';

export async function takeWatermark(deps: ActivityDeps, input: WatermarkInput): Promise<ChunkWatermark> {
  tableConfig(input.table); // an unknown table fails here, as the chunk would
  return withPg(deps, async (pg) => {
    const w = await waitForWatermark(pg);
    return { ...w, readAt: new Date().toISOString() };
  });
}
