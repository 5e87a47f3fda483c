import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { alertMarkerKey } from '../../domain/core/itemKeys';
import {
  alertEntry,
  replicationLagAlert,
  shardRetentionAlert,
  type Alert,
} from '../../domain/publishing/alerts';
import { mapLimit } from '../concurrency';
import type { ActivityDeps } from '../deps';
import { metrics } from '../../infra/metrics';
import { classified } from '../failures';
import { putEntries } from './eventBridgePublisher';

const ALERT_MARKER_TTL_SECONDS = 7 * 24 * 3600;
const WRITE_CONCURRENCY = 32;

/** Publishes alerts on the bus, each once per alertId (shared by the activities that raise alerts). */
export interface AlertPublisher {
  /** Returns how many were published now (alerts published before are left out). */
  publishAlerts(alerts: Alert[]): Promise<number>;
}

export function createAlertPublisher(deps: ActivityDeps): AlertPublisher {
  return { publishAlerts: (alerts) => publishAlerts(deps, alerts) };
}

/** The `raiseReplicationLagAlert` activity. */
export function createAlertActivities(alerts: AlertPublisher) {
  return classified({
    /** Raises `alert.replication_lag` (the capture workflow calls it when the lag crosses its threshold). */
    async raiseReplicationLagAlert(d: Parameters<typeof replicationLagAlert>[0]): Promise<string> {
      const alert = replicationLagAlert(d);
      await alerts.publishAlerts([alert]);
      return alert.alertId;
    },

    /** Raises `alert.shard_lag` or `alert.retention_gap` for a shard reader at risk from the stream's retention. */
    async raiseShardAlert(d: Parameters<typeof shardRetentionAlert>[0]): Promise<string> {
      const alert = shardRetentionAlert(d);
      await alerts.publishAlerts([alert]);
      return alert.alertId;
    },
  });
}

/**
 * Publishes alerts at least once, each once per alertId: published first, then marked in
 * cdc_state, so a crash can only repeat one.
 */
async function publishAlerts(deps: ActivityDeps, alerts: Alert[]): Promise<number> {
  const fresh = await notYetPublished(deps, alerts);
  if (!fresh.length) return 0;
  const rejected = await putEntries(
    deps,
    fresh.map((a) => ({ entry: alertEntry(a, deps.config.eventBus), ref: a.alertId })),
  );
  if (rejected.length)
    throw new Error(`alerts rejected by EventBridge: ${rejected.map((r) => r.reason).join('; ')}`);
  await markPublished(deps, fresh);
  metrics.alertsPublished(fresh);
  return fresh.length;
}

/** The alerts without a published marker, read one by one. */
async function notYetPublished(deps: ActivityDeps, alerts: Alert[]): Promise<Alert[]> {
  const fresh: Alert[] = [];
  for (const a of alerts) {
    const seen = await deps.aws.doc.send(
      new GetCommand({ TableName: deps.config.tables.state, Key: { pk: alertMarkerKey(a.alertId) } }),
    );
    if (!seen.Item) fresh.push(a);
  }
  return fresh;
}

async function markPublished(deps: ActivityDeps, alerts: Alert[]): Promise<void> {
  const ttl = Math.floor(Date.now() / 1000) + ALERT_MARKER_TTL_SECONDS;
  await mapLimit(alerts, WRITE_CONCURRENCY, async (a) => {
    await deps.aws.doc.send(
      new PutCommand({
        TableName: deps.config.tables.state,
        Item: { pk: alertMarkerKey(a.alertId), kind: a.kind, ttl },
      }),
    );
  });
}
