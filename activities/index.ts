import type { PipelineConfig } from '../infra/config';
import { createBackfillActivities } from './backfill';
import { createCaptureActivities } from './capture';
import { createCheckpointActivities } from './checkpoints';
import { createDeadLetterActivities } from './deadLetters';
import { defaultDeps, type ActivityDeps } from './deps';
import { createProcessingActivities } from './processing';
import { createRedriveActivities } from './redrive';
import { createReservationActivities } from './reservations';
import { createAlertActivities, createAlertPublisher } from './publishing/alertPublisher';
import { createEventBridgeActivities } from './publishing/eventBridgePublisher';
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
  return {
    // Supervisor and shard readers: shards; pull → transform → redact → apply → publish → dead-letter → checkpoint.
    ...createStreamReaderActivities(deps),
    ...createProcessingActivities(deps),
    ...createApplyActivities(createDynamoDbSink(deps)),
    ...createEventBridgeActivities(deps, alerts),
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
}

export type Activities = ReturnType<typeof createActivities>;
