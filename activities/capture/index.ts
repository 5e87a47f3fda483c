import type { CaptureInput } from '../../domain/capture/captureTypes';
import type { ActivityDeps } from '../deps';
import { metrics } from '../../infra/metrics';
import { classified } from '../failures';
import { createAlertPublisher, type AlertPublisher } from '../publishing/alertPublisher';
import { captureChanges } from './captureChanges';
import { slotHealth, writeCaptureHeartbeat } from './slots';
import { readSourceEpoch } from './sourceEpoch';

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
      // The epoch capture records (shown in the capture workflow's `health` query); advisory.
      const source = await readSourceEpoch({
        doc: deps.aws.doc,
        table: deps.config.tables.state,
        slot,
      }).catch(() => undefined);
      return source ? { ...health, source } : health;
    },
    writeCaptureHeartbeat: (slot: string) => writeCaptureHeartbeat(deps.pg, deps.config.pgSchema, slot),
  });
}
