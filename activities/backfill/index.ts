/**
 * The backfill workflow's activities (workflows/backfill/): plan, then one activity per chunk
 * in each mode. Rows never leave a chunk activity: inputs and results are tables, cursors and
 * counts. Apply and publish are the pipeline's own (the DynamoDB sink, the EventBridge put path).
 */
import type { BackfillRequest } from '../../domain/backfill/request';
import type {
  ReconcileChunkInput,
  ReplayChunkInput,
  SnapshotChunkInput,
  WatermarkInput,
} from '../../domain/backfill/chunks';
import type { ActivityDeps } from '../deps';
import { classified } from '../failures';
import type { ChangeSink } from '../sinks/changeSink';
import { createDynamoDbSink } from '../sinks/dynamoDbSink';
import { planBackfill } from './plan';
import { reconcileChunk } from './reconcile';
import { replayChunk } from './replay';
import { snapshotChunk } from './snapshot';
import { takeWatermark } from './watermark';

export function createBackfillActivities(deps: ActivityDeps, sink: ChangeSink = createDynamoDbSink(deps)) {
  return classified({
    planBackfill: (request: BackfillRequest) => planBackfill(deps, request),
    backfillWatermark: (input: WatermarkInput) => takeWatermark(deps, input),
    backfillChunk: (input: SnapshotChunkInput) => snapshotChunk(deps, sink, input),
    reconcileChunk: (input: ReconcileChunkInput) => reconcileChunk(deps, sink, input),
    replayChunk: (input: ReplayChunkInput) => replayChunk(deps, sink, input),
  });
}
