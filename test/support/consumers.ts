import type { WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import type { PipelineConfig } from '../../infra/config';
import {
  ANALYTICS_CONSUMER,
  consumerConfig,
  deploymentConsumers,
  provisionConsumer,
  startConsumer,
} from '../../infra/consumers';
import { createWorker } from '../../workers/worker';
import { shardWorkflowId, supervisorWorkflowId } from '../../workflows/names';
import type { BatchSettings, ShardStatus } from '../../workflows/shardReader';
import type { SupervisorOverview } from '../../workflows/supervisor';
import type { TestPipeline } from './testPipeline';

/** A second consumer of a test pipeline's stream: its own worker, task queue, supervisor and shard readers. */
export interface TestConsumer {
  config: PipelineConfig;
  worker: Worker;
  supervisor(): WorkflowHandle;
  shardHandle(shardId: string): WorkflowHandle;
  /** The status of each shard reader the consumer's supervisor reads. */
  shardStatuses(): Promise<ShardStatus[]>;
  /** One query on the analytics database, on a connection of its own (an outage kills long-lived ones). */
  query<R extends Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]>;
  /** The analytics database refuses connections and its sessions are ended (the sink is down). */
  takeDatabaseDown(): Promise<void>;
  /** The analytics database accepts connections again. */
  bringDatabaseBack(): Promise<void>;
  /** Terminates its workflows, stops its worker and drops its database. Call before the pipeline's stop(). */
  stop(): Promise<void>;
}

/**
 * The analytics consumer (infra/consumers.ts) on top of startTestPipeline(): its configuration is
 * the pipeline's with the consumer's name, task queue and sink, and an analytics database of its
 * own (`analytics_<run id>`), so the test can take it down without touching anyone else's.
 */
export async function startAnalyticsConsumer(
  p: TestPipeline,
  opts: { settings?: Partial<BatchSettings>; rescanSeconds?: number } = {},
): Promise<TestConsumer> {
  const consumer = deploymentConsumers(p.config).find((c) => c.name === ANALYTICS_CONSUMER)!;
  const runId = p.config.taskQueue.replace(/^cdc-test-/, '').replace(/[^a-z0-9]/g, '');
  const config: PipelineConfig = {
    ...consumerConfig(p.config, consumer),
    analyticsDatabase: `analytics_${runId}`,
  };
  const database = config.analyticsDatabase;
  await provisionConsumer(config);
  const worker = await createWorker({ config });
  const running = worker.run();
  await startConsumer(p.client, config, {
    settings: { idleWaitMs: 2_000, ...opts.settings },
    rescanSeconds: opts.rescanSeconds ?? 2,
  });

  const supervisor = () => p.client.workflow.getHandle(supervisorWorkflowId(config.stream, config.consumer));
  const shardHandle = (shardId: string) =>
    p.client.workflow.getHandle(shardWorkflowId(config.stream, config.consumer, shardId));
  const admin = async <T>(fn: (pg: PgClient) => Promise<T>): Promise<T> => {
    const pg = new PgClient({ database: 'postgres' });
    await pg.connect();
    try {
      return await fn(pg);
    } finally {
      await pg.end();
    }
  };

  return {
    config,
    worker,
    supervisor,
    shardHandle,
    async shardStatuses() {
      const overview = await supervisor().query<SupervisorOverview>('overview');
      const reading = overview.shards.filter((s) => s.phase === 'read');
      return Promise.all(reading.map((s) => shardHandle(s.shardId).query<ShardStatus>('status')));
    },
    async query<R extends Record<string, unknown>>(sql: string, values: unknown[] = []) {
      const pg = new PgClient({ database });
      await pg.connect();
      try {
        return (await pg.query<R>(sql, values)).rows;
      } finally {
        await pg.end();
      }
    },
    takeDatabaseDown: () =>
      admin(async (pg) => {
        await pg.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS false`);
        await pg.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [database],
        );
      }),
    bringDatabaseBack: () =>
      admin(async (pg) => {
        await pg.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS true`);
      }),
    async stop() {
      const query = `TaskQueue = '${config.taskQueue}' AND ExecutionStatus = 'Running'`;
      for await (const wf of p.client.workflow.list({ query }))
        await p.client.workflow
          .getHandle(wf.workflowId)
          .terminate('test finished')
          .catch(() => undefined);
      worker.shutdown();
      await running;
      await admin((pg) => pg.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch(
        () => undefined,
      );
    },
  };
}
