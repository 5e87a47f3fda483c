import { holdChanges } from '../../domain/reservations/hold';
import type { PooledDeps } from '../deps';
import type { AlertPublisher } from '../publishing/alertPublisher';
import { createEventBridgePublisher } from '../publishing/eventBridgePublisher';
import { noopPublisher } from '../publishing/noopPublisher';
import { tellHolds } from '../reservations';
import { createAnalyticsSink } from '../sinks/analyticsSink';
import { createDynamoDbSink } from '../sinks/dynamoDbSink';
import type { DeliveryPorts } from './deliver';

/**
 * Where a consumer's changes go (infra/consumers.ts), by `config.sink`, for its shard readers,
 * backfills and redrives alike (one set per worker, activities/index.ts). The operational consumer
 * applies to DynamoDB and publishes to EventBridge; the analytics consumer applies to the analytics
 * database and publishes nothing (the operational one already publishes every change once). The
 * holds' expiry workflows hear the news first, through the worker's Temporal client; nobody when
 * `reservationExpiry` is off (always for the analytics consumer).
 */
export function consumerDelivery(deps: PooledDeps, alerts: AlertPublisher): DeliveryPorts {
  const notify: DeliveryPorts['notify'] = (news) => tellHolds(deps, holdChanges(news));
  if (deps.config.sink === 'analytics')
    return { sink: createAnalyticsSink(deps), publisher: noopPublisher, notify };
  return { sink: createDynamoDbSink(deps), publisher: createEventBridgePublisher(deps, alerts), notify };
}
