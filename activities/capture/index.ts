import type { CaptureInput } from '../../domain/capture/captureTypes';
import type { ActivityDeps } from '../deps';
import { metrics } from '../../infra/metrics';
import { classified } from '../failures';
import { createAlertPublisher, type AlertPublisher } from '../publishing/alertPublisher';
import { captureChanges } from './captureChanges';
import { slotHealth, writeCaptureHeartbeat } from './slots';

/**
 * The capture activities: the long replication activity (captureChanges.ts, with the connection
 * in replicationSession.ts and the transactions in changeBuffer.ts), and short SQL on the slot.
 */
export function createCaptureActivities(
  deps: ActivityDeps,
  alerts: AlertPublisher = createAlertPublisher(deps),
) {
  return classified({
    captureChanges: (input: CaptureInput) => captureChanges(deps, alerts, input),
    slotHealth: async (slot: string) => {
      const health = await slotHealth(deps.pg, slot);
      metrics.slotHealth(health);
      return health;
    },
    writeCaptureHeartbeat: (slot: string) => writeCaptureHeartbeat(deps.pg, deps.config.pgSchema, slot),
  });
}
