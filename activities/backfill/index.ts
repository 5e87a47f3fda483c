/**
 * The backfill workflow's activities (workflows/backfill/): plan, then one activity per chunk
 * in each mode. Rows never leave a chunk activity: inputs and results are tables, cursors and
 * counts. Apply and publish are the consumer's own delivery path (activities/delivery/): DynamoDB and
 * EventBridge for the operational consumer, the analytics database for the analytics one.
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
import type { DeliveryPorts } from '../delivery/deliver';
import { planBackfill } from './plan';
import { reconcileChunk } from './reconcile';
import { replayChunk } from './replay';
import { snapshotChunk } from './snapshot';
import { takeWatermark } from './watermark';

/** `ports`: the consumer's delivery path (activities/delivery/consumerDelivery.ts), as its shard readers use it. */
export function createBackfillActivities(deps: ActivityDeps, ports: DeliveryPorts) {
  return classified({
    planBackfill: (request: BackfillRequest) => planBackfill(deps, request),
    backfillWatermark: (input: WatermarkInput) => takeWatermark(deps, input),
    backfillChunk: (input: SnapshotChunkInput) => snapshotChunk(deps, ports, input),
    reconcileChunk: (input: ReconcileChunkInput) => reconcileChunk(deps, ports, input),
    replayChunk: (input: ReplayChunkInput) => replayChunk(deps, ports, input),
  });
}
