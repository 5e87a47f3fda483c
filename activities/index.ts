import type { PipelineConfig } from '../infra/config';
import { pgPools } from '../infra/pgPools';
import { createBackfillActivities } from './backfill';
import { createBatchActivities } from './batches';
import { createCaptureActivities } from './capture';
import { createCheckpointActivities } from './checkpoints';
import { createDeadLetterActivities } from './deadLetters';
import { consumerDelivery } from './delivery/consumerDelivery';
import { createDeliveryActivities } from './delivery/stepActivities';
import { defaultDeps, type ActivityDeps, type PooledDeps } from './deps';
import { createProcessingActivities } from './processing';
import { createRedriveActivities } from './redrive';
import { createReservationActivities } from './reservations';
import { createAlertActivities, createAlertPublisher } from './publishing/alertPublisher';
import { createStreamReaderActivities } from './stream/streamReader';

/**
 * Every activity the worker hosts; workflows import the `Activities` type only. Activity names
 * are part of recorded histories: never rename one. `io` replaces the AWS clients, the
 * PostgreSQL client factory and pools (tests pass fakes); by default they are the process's own
 * (pools opened on first use when `io` has none).
 */
export function createActivities(
  config: PipelineConfig,
  io: Omit<ActivityDeps, 'config'> = defaultDeps(config),
) {
  const deps: PooledDeps = { ...io, config, pools: io.pools ?? pgPools(config) };
  const alerts = createAlertPublisher(deps);
  // Where this consumer's changes go (its sink, publisher, holds): one delivery path for its shard
  // readers, backfills and redrives (activities/delivery/).
  const delivery = consumerDelivery(deps, alerts);
  const activities = {
    // Supervisor and shard readers: shards; pull → transform → redact → apply → publish → dead-letter → checkpoint.
    ...createStreamReaderActivities(deps),
    ...createProcessingActivities(deps),
    ...createDeliveryActivities(delivery),
    ...createDeadLetterActivities(deps, alerts),
    ...createCheckpointActivities(deps),
    // Capture.
    ...createCaptureActivities(deps),
    ...createAlertActivities(alerts),
    // DLQ redrive (workflows/redrive/): list parked keys, redrive them by key.
    ...createRedriveActivities(deps, delivery),
    // Backfill (workflows/backfill/): plan, then one activity per chunk (snapshot, reconcile, replay).
    ...createBackfillActivities(deps, delivery),
    // Reservation expiry (workflows/reservationExpiry/): signal holds from the stream, release due ones.
    ...createReservationActivities(deps),
  };
  // The same steps by batch reference (activities/batches.ts): no row value in the shard reader's history.
  return { ...activities, ...createBatchActivities(deps, activities) };
}

export type Activities = ReturnType<typeof createActivities>;
