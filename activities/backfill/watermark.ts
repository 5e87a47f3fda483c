/**
 * A chunk's watermark (`backfillWatermark`), taken before the chunk's first attempt: L, then the
 * wait for the transactions in progress at L (activities/backfill/postgres.ts). The workflow keeps
 * it and gives it to every attempt of the chunk, so the version and the event ids of the chunk's
 * rows are fixed at its first attempt (docs/backfill.md).
 */
import type { ChunkWatermark, WatermarkInput } from '../../domain/backfill/chunks';
import { tableConfig } from '../../domain/core/tables';
import type { Client } from 'pg';
import type { ActivityDeps } from '../deps';
import { sourceEpochOf } from '../capture/sourceEpoch';
import { waitForWatermark, WatermarkWaitTimeout, withPg } from './postgres';

/** How long a chunk waits for the next chunk's watermark before leaving it to the next chunk. */
const NEXT_WATERMARK_WAIT_MS = 1_000;

export async function takeWatermark(deps: ActivityDeps, input: WatermarkInput): Promise<ChunkWatermark> {
  tableConfig(input.table); // an unknown table fails here, as the chunk would
  return withPg(deps, (pg) => watermarkOn(deps, pg));
}

/**
 * A watermark for the next chunk, taken on a chunk's connection after its read (the workflow
 * keeps it: the next chunk needs no `backfillWatermark`); undefined when transactions in flight
 * would keep this chunk waiting (the next chunk then takes its own).
 */
export async function nextWatermark(deps: ActivityDeps, pg: Client): Promise<ChunkWatermark | undefined> {
  try {
    return await watermarkOn(deps, pg, NEXT_WATERMARK_WAIT_MS);
  } catch (err) {
    if (err instanceof WatermarkWaitTimeout) return undefined;
    throw err;
  }
}

async function watermarkOn(deps: ActivityDeps, pg: Client, timeoutMs?: number): Promise<ChunkWatermark> {
  const w = await waitForWatermark(pg, timeoutMs);
  // The source epoch on the same connection: the rows' version orders like capture's changes.
  const epoch = await sourceEpochOf(deps, pg);
  return { ...w, readAt: new Date().toISOString(), ...(epoch ? { epoch } : {}) };
}
