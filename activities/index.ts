import type { PipelineConfig } from '../infra/config';
import { createBackfillActivities } from './backfill';
import { createBatchActivities } from './batches';
import { createCaptureActivities } from './capture';
import { createCheckpointActivities } from './checkpoints';
import { createDeadLetterActivities } from './deadLetters';
import { defaultDeps, type ActivityDeps } from './deps';
import { createProcessingActivities } from './processing';
import { createRedriveActivities } from './redrive';
import { createReservationActivities } from './reservations';
import {
  createAlertActivities,
  createAlertPublisher,
  type AlertPublisher,
} from './publishing/alertPublisher';
import { createEventBridgeActivities } from './publishing/eventBridgePublisher';
import { createNoopPublishActivities } from './publishing/noopPublisher';
import { createAnalyticsSink } from './sinks/analyticsSink';
import { createApplyActivities } from './sinks/applyEvents';
import { createDynamoDbSink } from './sinks/dynamoDbSink';
import { createStreamReaderActivities } from './stream/streamReader';

/**
 * Every activity the worker hosts; workflows import the `Activities` type only. Activity names
 * are part of recorded histories: never rename one. `io` replaces the AWS clients and the
 * PostgreSQL client factory (tests pass fakes); by default they are the process's own.
 */
export function createActivities(
  config: PipelineConfig,
  io: Omit<ActivityDeps, 'config'> = defaultDeps(config),
) {
  const deps: ActivityDeps = { ...io, config };
  const alerts = createAlertPublisher(deps);
  const activities = {
    // Supervisor and shard readers: shards; pull → transform → redact → apply → publish → dead-letter → checkpoint.
    ...createStreamReaderActivities(deps),
    ...createProcessingActivities(deps),
    ...createSinkActivities(deps, alerts),
    ...createDeadLetterActivities(deps, alerts),
    ...createCheckpointActivities(deps),
    // Capture.
    ...createCaptureActivities(deps),
    ...createAlertActivities(alerts),
    // DLQ redrive (workflows/redrive/): list parked keys, redrive them by key.
    ...createRedriveActivities(deps, alerts),
    // Backfill (workflows/backfill/): plan, then one activity per chunk (snapshot, reconcile, replay).
    ...createBackfillActivities(deps),
    // Reservation expiry (workflows/reservationExpiry/): signal holds from the stream, release due ones.
    ...createReservationActivities(deps),
  };
  // The same steps by batch reference (activities/batches.ts): no row value in the shard reader's history.
  return { ...activities, ...createBatchActivities(deps, activities) };
}

/**
 * What differs between consumers (infra/consumers.ts): where `applyEvents` writes and what
 * `publishEvents` does, by `config.sink`. The operational consumer applies to DynamoDB and
 * publishes to EventBridge; the analytics consumer applies to the analytics database and publishes
 * nothing (its `signalHoldChanges` tells no expiry workflow: `reservationExpiry` is off for it).
 */
function createSinkActivities(
  deps: ActivityDeps,
  alerts: AlertPublisher,
): ReturnType<typeof createApplyActivities> & ReturnType<typeof createEventBridgeActivities> {
  if (deps.config.sink === 'analytics')
    return { ...createApplyActivities(createAnalyticsSink(deps)), ...createNoopPublishActivities() };
  return { ...createApplyActivities(createDynamoDbSink(deps)), ...createEventBridgeActivities(deps, alerts) };
}

export type Activities = ReturnType<typeof createActivities>;
