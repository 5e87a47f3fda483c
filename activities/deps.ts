import type { Client } from 'pg';
import { awsClients, type AwsClients } from '../infra/aws';
import { keyringFromEnv, type Keyring } from '../infra/codec/keyring';
import type { PipelineConfig } from '../infra/config';
import { pgClient } from '../infra/pgConnection';
import { pgPools, type PgPools } from '../infra/pgPools';
import type { RetryWaits } from './retryWaits';

/** The AWS clients the activities use. */
export type ActivityAws = Pick<AwsClients, 'kinesis' | 'doc' | 'events' | 's3'>;

/**
 * A new, unconnected PostgreSQL client (connection settings from PG*, TLS and credentials as
 * infra/pgConnection.ts reads them); the caller connects and ends it. `replication: 'database'`
 * opens a logical replication connection; `options` is the startup parameter of that name
 * (`-c name=value …`, instead of PGOPTIONS).
 */
export type PgClientFactory = (options?: { replication: 'database'; options?: string }) => Client;

/** What every activity factory receives: configuration and the clients to do its I/O with. */
export interface ActivityDeps {
  config: PipelineConfig;
  aws: ActivityAws;
  pg: PgClientFactory;
  /** Keys that encrypt what the pipeline keeps of raw rows at rest (dead letters), as Temporal payloads are. */
  keyring: Keyring;
  /**
   * PostgreSQL connection pools (hold releases, the analytics sink). `createActivities` opens the
   * process's (`pgPools(config)`) when none are given; the activities that use them take `PooledDeps`.
   */
  pools?: PgPools;
  /** How retry loops wait between attempts (random source and sleep); the real ones when absent (tests inject). */
  retryWaits?: RetryWaits;
}

/** The dependencies of the activities that hold PostgreSQL pools. */
export type PooledDeps = ActivityDeps & { pools: PgPools };

/**
 * The worker's dependencies: the process's AWS clients, `pgClient()` and PostgreSQL pools
 * opened on first use. The AWS clients are
 * looked up on each use, so they are still created on first use and a `destroyAwsClients()`
 * followed by new work gets fresh ones.
 */
export function defaultDeps(config: PipelineConfig): ActivityDeps {
  let keyring: Keyring | undefined;
  return {
    // The environment's payload keys (CDC_PAYLOAD_KEYS / CDC_PAYLOAD_KEY_FILE), read on first use.
    get keyring() {
      return (keyring ??= keyringFromEnv());
    },
    config,
    aws: {
      get kinesis() {
        return awsClients().kinesis;
      },
      get doc() {
        return awsClients().doc;
      },
      get events() {
        return awsClients().events;
      },
      get s3() {
        return awsClients().s3;
      },
    },
    pg: (options) => pgClient(options ?? {}),
    pools: pgPools(config),
  };
}
