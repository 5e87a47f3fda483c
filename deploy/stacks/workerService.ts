import { Aws, Duration, Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { configToEnv } from '../../infra/config';
import type { DeployConfig, WorkerServiceSettings } from '../config';
import type { PipelineSecrets } from './secrets';

/** An image in ECR: `<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]`. */
const ECR_IMAGE = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com\/([^:@]+)(?::([^@]+))?(?:@(.+))?$/;

/** The worker's health endpoint, as the image's HEALTHCHECK probes it (Dockerfile). */
const HEALTH_COMMAND =
  "fetch('http://127.0.0.1:' + (process.env.CDC_HEALTH_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))";

/**
 * The worker's environment in the task: the pipeline's settings as `configToEnv` writes them (the
 * same values this stack was made from), without the secret and the machine-local table-file
 * path (the image has its own), with the target said (CDC_TARGET=aws) and the stack's region, and Temporal and PostgreSQL
 * as given. Secrets come through `secrets`, never here.
 */
export function workerEnvironment(config: DeployConfig, s: WorkerServiceSettings, bucketName: string) {
  const pipeline: Record<string, string> = { ...configToEnv(config.pipeline) };
  for (const name of ['CDC_REDACTION_SECRET', 'CDC_REDACTION_KEY_ID', 'CDC_TABLES_FILE'])
    delete pipeline[name];
  const passed = Object.fromEntries(
    (
      [
        'TEMPORAL_ADDRESS',
        'TEMPORAL_NAMESPACE',
        'PGHOST',
        'PGPORT',
        'PGDATABASE',
        'PGUSER',
        'PGSSLMODE',
        'PGSSLROOTCERT',
        'CDC_PG_IAM_AUTH',
        'CDC_PG_SECRET_ID',
      ] as const
    ).flatMap((n) => (s[n] ? [[n, s[n]]] : [])),
  );
  return { ...pipeline, CDC_DLQ_BUCKET: bucketName, CDC_TARGET: 'aws', AWS_REGION: Aws.REGION, ...passed };
}

/**
 * The worker as an ECS Fargate service (with CDC_DEPLOY_WORKER_IMAGE): CDC_DEPLOY_WORKER_COUNT
 * tasks of the image in the given private subnets, no inbound traffic, the worker role as the
 * task role, the payload keys, the redaction secret (and Temporal's API key) as secrets, logs in
 * CloudWatch (30 days), Container Insights, deployments rolled back when tasks do not become
 * healthy. Capture runs on the operational task queue, so one of the tasks holds the replication
 * slot; the others take over when it stops.
 */
export function workerService(
  scope: Construct,
  config: DeployConfig,
  s: WorkerServiceSettings,
  r: { taskRole: iam.IRole; secrets: PipelineSecrets; bucketName: string },
) {
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'WorkerVpc', {
    vpcId: s.CDC_DEPLOY_VPC_ID,
    // One zone per subnet (which ones does not matter to a Fargate service given its subnets).
    availabilityZones: s.CDC_DEPLOY_SUBNET_IDS.map((_, i) => Fn.select(i, Fn.getAzs())),
    privateSubnetIds: s.CDC_DEPLOY_SUBNET_IDS,
  });
  const cluster = new ecs.Cluster(scope, 'WorkerCluster', {
    vpc,
    containerInsightsV2: ecs.ContainerInsights.ENABLED,
  });
  const securityGroup = new ec2.SecurityGroup(scope, 'WorkerSecurityGroup', {
    vpc,
    description: `CDC pipeline ${config.prefix} workers: no inbound; outbound to AWS, Temporal, PostgreSQL`,
    allowAllOutbound: true,
  });
  const logGroup = new logs.LogGroup(scope, 'WorkerLogs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const task = new ecs.FargateTaskDefinition(scope, 'WorkerTask', {
    cpu: s.CDC_DEPLOY_WORKER_CPU,
    memoryLimitMiB: s.CDC_DEPLOY_WORKER_MEMORY_MIB,
    taskRole: r.taskRole,
    runtimePlatform: {
      operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      cpuArchitecture: ecs.CpuArchitecture.X86_64,
    },
  });
  const ecrImage = ECR_IMAGE.exec(s.CDC_DEPLOY_WORKER_IMAGE);
  const image = ecrImage
    ? ecs.ContainerImage.fromEcrRepository(
        ecr.Repository.fromRepositoryAttributes(scope, 'WorkerRepository', {
          repositoryName: ecrImage[3],
          repositoryArn: `arn:aws:ecr:${ecrImage[2]}:${ecrImage[1]}:repository/${ecrImage[3]}`,
        }),
        ecrImage[5] ?? ecrImage[4] ?? 'latest',
      )
    : ecs.ContainerImage.fromRegistry(s.CDC_DEPLOY_WORKER_IMAGE);
  const temporalApiKey = s.CDC_DEPLOY_TEMPORAL_API_KEY_SECRET_ARN
    ? secretsmanager.Secret.fromSecretCompleteArn(
        scope,
        'TemporalApiKey',
        s.CDC_DEPLOY_TEMPORAL_API_KEY_SECRET_ARN,
      )
    : undefined;
  const container = task.addContainer('worker', {
    image,
    environment: workerEnvironment(config, s, r.bucketName),
    secrets: {
      CDC_PAYLOAD_KEYS: ecs.Secret.fromSecretsManager(r.secrets.payloadKeys),
      CDC_REDACTION_SECRET: ecs.Secret.fromSecretsManager(r.secrets.redaction),
      ...(temporalApiKey ? { TEMPORAL_API_KEY: ecs.Secret.fromSecretsManager(temporalApiKey) } : {}),
    },
    logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'worker' }),
    healthCheck: {
      command: ['CMD', 'node', '-e', HEALTH_COMMAND],
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      startPeriod: Duration.seconds(60),
      retries: 3,
    },
    // The worker drains on SIGTERM (CDC_SHUTDOWN_GRACE_MS, 5 s in the image), well inside this.
    stopTimeout: Duration.seconds(30),
  });
  const service = new ecs.FargateService(scope, 'WorkerService', {
    cluster,
    taskDefinition: task,
    desiredCount: s.CDC_DEPLOY_WORKER_COUNT,
    vpcSubnets: { subnets: vpc.privateSubnets },
    securityGroups: [securityGroup],
    assignPublicIp: false,
    minHealthyPercent: 100,
    maxHealthyPercent: 200,
    circuitBreaker: { enable: true, rollback: true },
  });
  return { cluster, service, task, container, logGroup, securityGroup };
}
