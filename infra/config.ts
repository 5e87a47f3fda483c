import { z } from 'zod';

/**
 * Pipeline configuration from the environment, validated once at start-up.
 * AWS endpoints and credentials are not here: the AWS SDK reads AWS_ENDPOINT_URL_<SERVICE>,
 * AWS_REGION and the default credential chain itself; `pg` reads PG*; Temporal's
 * environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key) is read by
 * infra/temporal.ts.
 */
const EnvSchema = z.object({
  CDC_STREAM: z.string().min(1).default('cdc-inventory'),
  CDC_SHARD_COUNT: z.coerce.number().int().min(1).max(50).default(2),
  CDC_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default('inventory-pipeline'),
  CDC_TASK_QUEUE: z.string().min(1).default('cdc-pipeline'),
  CDC_STATE_TABLE: z.string().min(3).default('cdc_state'),
  CDC_ENTITIES_TABLE: z.string().min(3).default('cdc_entities'),
  CDC_INVENTORY_TABLE: z.string().min(3).default('inventory_realtime'),
  CDC_DLQ_TABLE: z.string().min(3).default('cdc_dlq'),
  CDC_EVENT_BUS: z.string().min(1).default('cdc-pipeline'),
  CDC_SLOT: z
    .string()
    .regex(/^[a-z0-9_]+$/)
    .default('cdc_inventory_slot'),
  CDC_PUBLICATION: z
    .string()
    .regex(/^[a-z0-9_]+$/)
    .default('cdc_inventory_pub'),
  CDC_PG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('public'),
  /** Key for HASH and TOKENIZE redaction. Must be set to a real secret outside the local stack. */
  CDC_REDACTION_SECRET: z.string().min(8).default('local-development-only-secret'),
});

export type PipelineConfig = {
  stream: string;
  shardCount: number;
  consumer: string;
  taskQueue: string;
  tables: { state: string; entities: string; inventory: string; dlq: string };
  eventBus: string;
  slot: string;
  publication: string;
  pgSchema: string;
  redactionSecret: string;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid pipeline configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    stream: e.CDC_STREAM,
    shardCount: e.CDC_SHARD_COUNT,
    consumer: e.CDC_CONSUMER,
    taskQueue: e.CDC_TASK_QUEUE,
    tables: {
      state: e.CDC_STATE_TABLE,
      entities: e.CDC_ENTITIES_TABLE,
      inventory: e.CDC_INVENTORY_TABLE,
      dlq: e.CDC_DLQ_TABLE,
    },
    eventBus: e.CDC_EVENT_BUS,
    slot: e.CDC_SLOT,
    publication: e.CDC_PUBLICATION,
    pgSchema: e.CDC_PG_SCHEMA,
    redactionSecret: e.CDC_REDACTION_SECRET,
  };
}

/** The environment that `loadConfig` reads back as `config`: how a worker process is configured like this one. */
export function configToEnv(config: PipelineConfig): Record<keyof z.infer<typeof EnvSchema>, string> {
  return {
    CDC_STREAM: config.stream,
    CDC_SHARD_COUNT: String(config.shardCount),
    CDC_CONSUMER: config.consumer,
    CDC_TASK_QUEUE: config.taskQueue,
    CDC_STATE_TABLE: config.tables.state,
    CDC_ENTITIES_TABLE: config.tables.entities,
    CDC_INVENTORY_TABLE: config.tables.inventory,
    CDC_DLQ_TABLE: config.tables.dlq,
    CDC_EVENT_BUS: config.eventBus,
    CDC_SLOT: config.slot,
    CDC_PUBLICATION: config.publication,
    CDC_PG_SCHEMA: config.pgSchema,
    CDC_REDACTION_SECRET: config.redactionSecret,
  };
}
