/**
 * A chunk's watermark (`backfillWatermark`), taken before the chunk's first attempt: L, then the
 * wait for the transactions in progress at L (activities/backfill/postgres.ts). The workflow keeps
 * it and gives it to every attempt of the chunk, so the version and the event ids of the chunk's
 * rows are fixed at its first attempt (docs/backfill.md).
 */
import { Context } from '@temporalio/activity';
import type { ChunkWatermark, WatermarkInput } from '../../domain/backfill/chunks';
import { keptWatermark } from '../../domain/capture/sourceEpoch';
import { tableConfig } from '../../domain/core/tables';
import type { Client } from 'pg';
import type { ActivityDeps } from '../deps';
import { recordedEpochOf } from '../capture/sourceEpoch';
import { waitForWatermark, WatermarkWaitTimeout, withPg, type Watermark } from './postgres';

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
  // The source epoch on the same connection: the rows' version orders like capture's changes. A
  // connection that reached another source than the recorded one fails here (retried).
  const epoch = await recordedEpochOf(deps, pg, 'backfill watermark');
  const w = await waitForWatermark(pg, timeoutMs);
  return { ...w, readAt: new Date().toISOString(), ...(epoch ? { epoch } : {}) };
}

/**
 * The watermark and the source epoch a chunk reads under, on the chunk's connection: the source's
 * recorded epoch (`SourceEpochMismatchError`, retried, when the connection reached another source
 * than the recorded one), and the watermark the workflow kept for the chunk when it was taken at
 * that epoch; a kept watermark of another epoch (taken on the cluster before a failover, restore
 * or bump: its LSN and epoch no longer order like the source's changes) is ignored, in one log
 * line, and a fresh one is taken.
 */
export async function chunkWatermark(
  deps: ActivityDeps,
  pg: Client,
  kept: ChunkWatermark | undefined,
  reader: string,
): Promise<{ watermark: Watermark; readAt: string; epoch: number }> {
  const epoch = await recordedEpochOf(deps, pg, reader);
  const usable = keptWatermark(kept, epoch, deps.config.slot);
  if (usable.dropped) logLine(`${reader}: ${usable.dropped}`);
  if (usable.watermark) return { watermark: usable.watermark, readAt: usable.watermark.readAt, epoch };
  const watermark = await waitForWatermark(pg);
  return { watermark, readAt: new Date().toISOString(), epoch };
}

function logLine(line: string): void {
  try {
    Context.current().log.warn(line);
  } catch {
    console.warn(line); // called outside an activity (a script, a test)
  }
}
