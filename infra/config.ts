import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_TABLES_FILE, loadTables } from './tablesFile';

/**
 * Pipeline configuration from the environment, validated once at start-up.
 * AWS endpoints and credentials are not here: the AWS SDK reads AWS_ENDPOINT_URL_<SERVICE>,
 * AWS_REGION and the default credential chain itself; `pg` reads PG*; Temporal's
 * environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key) is read by
 * infra/temporal.ts.
 */
/** The built-in HMAC secret: for the local stack only (`assertProductionSecrets`). */
export const DEVELOPMENT_SECRET = 'local-development-only-secret';

/** Where a consumer applies the changes it reads (`CDC_SINK`). */
export const SINKS = ['operational', 'analytics'] as const;
export type SinkKind = (typeof SINKS)[number];

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
  /** S3 bucket for dead-lettered records too large to keep inline in the DLQ item (claim check). */
  CDC_DLQ_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
    .default('cdc-dlq-records'),
  /** Raw records larger than this go to the DLQ bucket; the item keeps a reference, size and hash. */
  CDC_DLQ_INLINE_MAX_BYTES: z.coerce.number().int().min(1024).max(350_000).default(100_000),
  /** The stream's retention (Kinesis default: 24 h). Tombstones and the retention-gap alert follow it. */
  CDC_STREAM_RETENTION_HOURS: z.coerce.number().int().min(1).max(8760).default(24),
  /** How long a dead letter may wait for a redrive; tombstones outlive retention plus this window. */
  CDC_DLQ_REDRIVE_WINDOW_DAYS: z.coerce.number().int().min(0).max(3650).default(14),
  /** Tombstone TTL in days; at least retention + redrive window (start-up refuses less). */
  CDC_TOMBSTONE_TTL_DAYS: z.coerce.number().int().min(1).max(3650).optional(),
  /** A shard lagging more than this fraction of the retention raises an alert. */
  CDC_RETENTION_ALERT_FRACTION: z.coerce.number().gt(0).lt(1).default(0.5),
  /** Key for HASH and TOKENIZE redaction. Must be set to a real secret outside the local stack. */
  CDC_REDACTION_SECRET: z.string().min(8).default(DEVELOPMENT_SECRET),
  /** Names the HMAC secret in every event's redaction policy (default: derived from the secret), so a rotation is visible. */
  CDC_REDACTION_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .optional(),
  /** The table file (config/tables.yaml by default): tables, keys, operations, event types, rules. */
  CDC_TABLES_FILE: z.string().min(1).default(DEFAULT_TABLES_FILE),
  /** One reservation-expiry workflow per HELD reservation seen in the stream or a backfill (`off`: none is started or told). */
  CDC_RESERVATION_EXPIRY: z.enum(['on', 'off']).default('on'),
  /**
   * What this worker's consumer applies to (infra/consumers.ts): `operational` (DynamoDB, then
   * EventBridge) or `analytics` (the analytics database's change table and aggregates, nothing
   * published). The workflows are the same for both; only the bound activities differ.
   */
  CDC_SINK: z.enum(SINKS).default('operational'),
  /** The analytics sink's PostgreSQL database, on the server PG* names (locally a stand-in for Redshift). */
  CDC_ANALYTICS_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('analytics'),
  /**
   * How long a pull keeps reading to fill a batch once it has the first records (milliseconds;
   * 0: return at once). At low rates a longer linger means fewer, larger batches (fewer Temporal
   * actions per change) and that much more latency; a full batch returns at once.
   */
  CDC_PULL_LINGER_MS: z.coerce.number().int().min(0).max(5_000).default(300),
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
  /** Id of the redaction secret, part of each event's `redactionPolicy` (`<policy>@<keyId>`). */
  redactionKeyId: string;
  /** The table file in use (installed for the domain by `loadConfig`). */
  tablesFile: string;
  deadLetters: { bucket: string; inlineMaxBytes: number; redriveWindowDays: number };
  /** The stream's retention and the lag (as a fraction of it) that raises an alert. */
  retention: { streamHours: number; alertFraction: number };
  tombstoneTtlDays: number;
  /** Reservation changes start and signal reservation-expiry workflows (workflows/reservationExpiry/). */
  reservationExpiry: boolean;
  /** What this consumer applies to: DynamoDB + EventBridge, or the analytics database. */
  sink: SinkKind;
  /** The analytics sink's database (same PostgreSQL server as PG*). */
  analyticsDatabase: string;
  /** How long a pull keeps reading to fill a batch after the first records (activities/stream/streamReader.ts). */
  pullLingerMs: number;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): PipelineConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid pipeline configuration: ${problems}`);
  }
  const e = parsed.data;
  const minTombstoneDays = Math.ceil(e.CDC_STREAM_RETENTION_HOURS / 24) + e.CDC_DLQ_REDRIVE_WINDOW_DAYS;
  const tombstoneTtlDays = e.CDC_TOMBSTONE_TTL_DAYS ?? minTombstoneDays;
  if (tombstoneTtlDays < minTombstoneDays)
    throw new Error(
      `invalid pipeline configuration: CDC_TOMBSTONE_TTL_DAYS (${tombstoneTtlDays}) must be at least the stream's retention plus the DLQ redrive window (${minTombstoneDays} days), or a replay could resurrect a deleted row`,
    );
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
    redactionKeyId:
      e.CDC_REDACTION_KEY_ID ??
      `k${createHash('sha256').update(e.CDC_REDACTION_SECRET).digest('hex').slice(0, 8)}`,
    tablesFile: loadTables(e.CDC_TABLES_FILE).source,
    deadLetters: {
      bucket: e.CDC_DLQ_BUCKET,
      inlineMaxBytes: e.CDC_DLQ_INLINE_MAX_BYTES,
      redriveWindowDays: e.CDC_DLQ_REDRIVE_WINDOW_DAYS,
    },
    retention: {
      streamHours: e.CDC_STREAM_RETENTION_HOURS,
      alertFraction: e.CDC_RETENTION_ALERT_FRACTION,
    },
    tombstoneTtlDays,
    // Holds are released by the operational consumer only: an analytics consumer reading the same
    // changes must not start or signal expiry workflows a second time.
    reservationExpiry: e.CDC_RESERVATION_EXPIRY === 'on' && e.CDC_SINK === 'operational',
    sink: e.CDC_SINK,
    analyticsDatabase: e.CDC_ANALYTICS_DATABASE,
    pullLingerMs: e.CDC_PULL_LINGER_MS,
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
    CDC_REDACTION_KEY_ID: config.redactionKeyId,
    CDC_TABLES_FILE: config.tablesFile,
    CDC_DLQ_BUCKET: config.deadLetters.bucket,
    CDC_DLQ_INLINE_MAX_BYTES: String(config.deadLetters.inlineMaxBytes),
    CDC_STREAM_RETENTION_HOURS: String(config.retention.streamHours),
    CDC_DLQ_REDRIVE_WINDOW_DAYS: String(config.deadLetters.redriveWindowDays),
    CDC_TOMBSTONE_TTL_DAYS: String(config.tombstoneTtlDays),
    CDC_RETENTION_ALERT_FRACTION: String(config.retention.alertFraction),
    CDC_RESERVATION_EXPIRY: config.reservationExpiry ? 'on' : 'off',
    CDC_SINK: config.sink,
    CDC_ANALYTICS_DATABASE: config.analyticsDatabase,
    CDC_PULL_LINGER_MS: String(config.pullLingerMs),
  };
}

const AWS_SERVICES = ['KINESIS', 'DYNAMODB', 'EVENTBRIDGE', 'SQS', 'S3'] as const;

/** Whether every AWS service the pipeline uses goes to an endpoint on this machine (the local stack, an emulator). */
export function awsIsLocal(env: NodeJS.ProcessEnv = process.env): boolean {
  return AWS_SERVICES.every((s) => {
    const url = env[`AWS_ENDPOINT_URL_${s}`] || env.AWS_ENDPOINT_URL;
    if (!url) return false;
    try {
      return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
    } catch {
      return false;
    }
  });
}

/**
 * Start-up refusal: outside the local stack the built-in redaction secret would let anyone who
 * reads this repository reverse HASH and TOKENIZE outputs by guessing; a real one must be set.
 */
export function assertProductionSecrets(config: PipelineConfig, env: NodeJS.ProcessEnv = process.env): void {
  if (config.redactionSecret === DEVELOPMENT_SECRET && !awsIsLocal(env))
    throw new Error(
      'invalid pipeline configuration: CDC_REDACTION_SECRET is the built-in development secret, and AWS is not the local stack; set CDC_REDACTION_SECRET (and CDC_REDACTION_KEY_ID) to a real secret',
    );
}
