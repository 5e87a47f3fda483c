/**
 * The CDK app's settings, from the environment, validated once. Resource names and the stream's
 * retention are the pipeline's own settings (infra/config.ts, the CDC_* variables the worker reads),
 * parsed by the pipeline's own loader, so what is deployed is what the worker looks for. The
 * `CDC_DEPLOY_*` variables cover what only the deployment decides (docs/deploy.md).
 */
import { z } from 'zod';
import { deploymentConsumers } from '../infra/consumers';
import { loadConfig, type PipelineConfig } from '../infra/config';

/** Kinesis's retention limits (hours): 24 (the default) to 8760 (365 days). */
export const KINESIS_MIN_RETENTION_HOURS = 24;
export const KINESIS_MAX_RETENTION_HOURS = 8760;

const list = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a consumer name is A-Z a-z 0-9 _ . -')).min(1));

const onOff = z.enum(['on', 'off']);
const optionalText = z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional());

/** The worker as an ECS Fargate service (optional: only with CDC_DEPLOY_WORKER_IMAGE). */
const WorkerServiceSchema = z.object({
  /** The worker's image (the repository's Dockerfile), e.g. <account>.dkr.ecr.<region>.amazonaws.com/inventory-cdc:<tag>. */
  CDC_DEPLOY_WORKER_IMAGE: z.string().regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'an image reference'),
  /** The VPC and the private subnets (with a route to AWS, Temporal and PostgreSQL) the tasks run in. */
  CDC_DEPLOY_VPC_ID: z
    .string()
    .regex(/^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/, 'a VPC id (vpc- and 8 or 17 hex digits)'),
  CDC_DEPLOY_SUBNET_IDS: list.pipe(
    z.array(
      z.string().regex(/^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/, 'subnet ids (subnet- and 8 or 17 hex digits)'),
    ),
  ),
  CDC_DEPLOY_WORKER_COUNT: z.coerce.number().int().min(1).max(100).default(2),
  CDC_DEPLOY_WORKER_CPU: z.coerce
    .number()
    .int()
    .pipe(z.union([z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]))
    .default(1024),
  CDC_DEPLOY_WORKER_MEMORY_MIB: z.coerce.number().int().min(1024).max(30720).default(2048),
  /** Temporal (infra/temporal.ts): the address and namespace, and the API key's secret (ARN) if any. */
  TEMPORAL_ADDRESS: z.string().min(1),
  TEMPORAL_NAMESPACE: z.string().min(1),
  CDC_DEPLOY_TEMPORAL_API_KEY_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, 'the secret ARN')
    .optional(),
  /** PostgreSQL (infra/pgConnection.ts), passed to the worker as they are. */
  PGHOST: z.string().min(1),
  PGPORT: optionalText,
  PGDATABASE: optionalText,
  PGUSER: optionalText,
  PGSSLMODE: optionalText,
  PGSSLROOTCERT: optionalText,
  CDC_PG_IAM_AUTH: optionalText,
  CDC_PG_SECRET_ID: optionalText,
});
export type WorkerServiceSettings = z.infer<typeof WorkerServiceSchema>;

const DeployEnvSchema = z.object({
  /** Prefix of what the pipeline does not name itself: the stack, roles, secrets, the key alias. */
  CDC_DEPLOY_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower case letters, digits and -, at most 20, starting with a letter')
    .default('cdc'),
  /** The consumers reading the stream (their S3 prefixes): default, the deployment's (infra/consumers.ts). */
  CDC_DEPLOY_CONSUMERS: list.optional(),
  /** Days a batch kept in S3 (a shard held longer than the stream's retention) survives. */
  CDC_DEPLOY_KEPT_BATCH_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /** Receives before an EventBridge target queue's message moves to its dead-letter queue. */
  CDC_DEPLOY_QUEUE_MAX_RECEIVES: z.coerce.number().int().min(1).max(1000).default(5),
  /** The AWS service whose tasks run the worker and assume its role (ECS tasks by default). */
  CDC_DEPLOY_WORKER_SERVICE: z
    .enum(['ecs-tasks.amazonaws.com', 'ec2.amazonaws.com'])
    .default('ecs-tasks.amazonaws.com'),
  /** The worker hosts capture (one task queue, as `npm start` and `cdc pipeline start` run it): it gets the capture role's permissions too. */
  CDC_DEPLOY_WORKER_RUNS_CAPTURE: onOff.default('on'),
  /** RDS IAM authentication of capture (`CDC_PG_IAM_AUTH=on`): the instance's or cluster's resource id (db-… or cluster-…). */
  CDC_DEPLOY_RDS_RESOURCE_ID: z
    .string()
    .regex(/^(db|cluster)-[A-Z0-9]+$/, 'an RDS resource id: db-… (instance) or cluster-… (Aurora)')
    .optional(),
  /** The database user capture connects as with an IAM token (with CDC_DEPLOY_RDS_RESOURCE_ID). */
  CDC_DEPLOY_RDS_DB_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
  /** The ARN of the database secret capture reads (the secret the worker's `CDC_PG_SECRET_ID` names). */
  CDC_DEPLOY_PG_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, 'the secret ARN')
    .optional(),
});

export interface DeployConfig {
  prefix: string;
  stackName: string;
  /** The pipeline's configuration, as the worker will load it from the same variables. */
  pipeline: PipelineConfig;
  /** The DLQ bucket's name when CDC_DLQ_BUCKET is set; otherwise `<prefix>-dlq-<account>-<region>` (names are global). */
  bucketName: string | undefined;
  consumers: string[];
  keptBatchDays: number;
  queueMaxReceives: number;
  workerService: string;
  workerRunsCapture: boolean;
  rds: { resourceId: string; dbUser: string } | undefined;
  databaseSecretArn: string | undefined;
  /** The worker as an ECS Fargate service, when CDC_DEPLOY_WORKER_IMAGE is set. */
  fargate: WorkerServiceSettings | undefined;
}

/** The deployment's settings from `env`; throws one error naming every problem. */
export function loadDeployConfig(env: NodeJS.ProcessEnv = process.env): DeployConfig {
  const parsed = DeployEnvSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  let pipeline: PipelineConfig | undefined;
  try {
    pipeline = loadConfig(env);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (pipeline) {
    const hours = pipeline.retention.streamHours;
    if (hours < KINESIS_MIN_RETENTION_HOURS || hours > KINESIS_MAX_RETENTION_HOURS)
      problems.push(
        `CDC_STREAM_RETENTION_HOURS: ${hours} is outside Kinesis's ${KINESIS_MIN_RETENTION_HOURS}-${KINESIS_MAX_RETENTION_HOURS} hours`,
      );
  }
  const e = parsed.success ? parsed.data : undefined;
  if (e && Boolean(e.CDC_DEPLOY_RDS_RESOURCE_ID) !== Boolean(e.CDC_DEPLOY_RDS_DB_USER))
    problems.push('CDC_DEPLOY_RDS_RESOURCE_ID and CDC_DEPLOY_RDS_DB_USER go together: set both or neither');
  let fargate: WorkerServiceSettings | undefined;
  if (env.CDC_DEPLOY_WORKER_IMAGE) {
    const ws = WorkerServiceSchema.safeParse(env);
    if (ws.success) fargate = ws.data;
    else
      problems.push(
        ...ws.error.issues.map((i) => `${i.path.join('.')}: ${i.message} (the worker service needs it)`),
      );
  }
  if (fargate && e?.CDC_DEPLOY_WORKER_SERVICE !== 'ecs-tasks.amazonaws.com')
    problems.push(
      'CDC_DEPLOY_WORKER_IMAGE: the worker service runs on ECS: CDC_DEPLOY_WORKER_SERVICE must be ecs-tasks.amazonaws.com',
    );
  if (!e || !pipeline || problems.length)
    throw new Error(`invalid deploy configuration: ${problems.join('; ')}`);
  return {
    prefix: e.CDC_DEPLOY_PREFIX,
    stackName: `${e.CDC_DEPLOY_PREFIX}-pipeline`,
    pipeline,
    bucketName: env.CDC_DLQ_BUCKET ? pipeline.deadLetters.bucket : undefined,
    consumers: e.CDC_DEPLOY_CONSUMERS ?? deploymentConsumers(pipeline).map((c) => c.name),
    keptBatchDays: e.CDC_DEPLOY_KEPT_BATCH_DAYS,
    queueMaxReceives: e.CDC_DEPLOY_QUEUE_MAX_RECEIVES,
    workerService: e.CDC_DEPLOY_WORKER_SERVICE,
    workerRunsCapture: e.CDC_DEPLOY_WORKER_RUNS_CAPTURE === 'on',
    rds:
      e.CDC_DEPLOY_RDS_RESOURCE_ID && e.CDC_DEPLOY_RDS_DB_USER
        ? { resourceId: e.CDC_DEPLOY_RDS_RESOURCE_ID, dbUser: e.CDC_DEPLOY_RDS_DB_USER }
        : undefined,
    databaseSecretArn: e.CDC_DEPLOY_PG_SECRET_ARN,
    fargate,
  };
}
