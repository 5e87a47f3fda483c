import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';
import { deadLetterBucket } from './bucket';
import { dataKey } from './dataKey';
import { pipelineEvents } from './events';
import { pipelineRoles } from './roles';
import { pipelineSecrets } from './secrets';
import { changeStream } from './stream';
import { pipelineTables } from './tables';
import { acknowledgeFindings, acknowledgements } from './acknowledgements';
import { workerService } from './workerService';

/**
 * The AWS resources of one pipeline deployment (docs/deploy.md): the deployment's key, the change
 * stream, the four tables, the bus with its rules, queues and archive, the DLQ bucket, the secrets
 * and one role per way the pipeline runs. Stateful resources are kept when the stack is deleted.
 * The outputs are the worker's environment (the CDC_* names it reads) and the roles' ARNs.
 */
export class CdcPipelineStack extends Stack {
  readonly resources;

  constructor(scope: Construct, id: string, config: DeployConfig, props: StackProps = {}) {
    super(scope, id, {
      description: `CDC pipeline ${config.prefix}: PostgreSQL -> Kinesis -> DynamoDB + EventBridge (deploy/)`,
      ...props,
    });
    Tags.of(this).add('project', 'inventory-cdc');
    Tags.of(this).add('cdc:deployment', config.prefix);

    const key = dataKey(this, config);
    const stream = changeStream(this, config, key);
    const tables = pipelineTables(this, config, key);
    const events = pipelineEvents(this, config);
    const { bucket, accessLogs } = deadLetterBucket(this, config, key);
    const secrets = pipelineSecrets(this, config, key);
    const roles = pipelineRoles(this, config, { key, stream, tables, events, bucket, secrets });
    const fargate = config.fargate
      ? workerService(this, config, config.fargate, {
          taskRole: roles.worker,
          secrets,
          bucketName: bucket.bucketName,
        })
      : undefined;
    this.resources = { key, stream, tables, events, bucket, accessLogs, secrets, roles, fargate };
    acknowledgeFindings(acknowledgements(config, this.resources));

    const output = (name: string, value: string, description: string) =>
      new CfnOutput(this, name.replaceAll('_', ''), { value, description: `${name}: ${description}` });
    const p = config.pipeline;
    output('CDC_STREAM', stream.streamName, 'worker environment');
    output('CDC_SHARD_COUNT', String(p.shardCount), 'worker environment');
    output('CDC_STREAM_RETENTION_HOURS', String(p.retention.streamHours), 'worker environment');
    output('CDC_STATE_TABLE', tables.state.tableName, 'worker environment');
    output('CDC_ENTITIES_TABLE', tables.entities.tableName, 'worker environment');
    output('CDC_INVENTORY_TABLE', tables.inventory.tableName, 'worker environment');
    output('CDC_DLQ_TABLE', tables.dlq.tableName, 'worker environment');
    output('CDC_EVENT_BUS', events.bus.eventBusName, 'worker environment');
    output('CDC_DLQ_BUCKET', bucket.bucketName, 'worker environment');
    output('PAYLOAD_KEYS_SECRET', secrets.payloadKeys.secretArn, 'CDC_PAYLOAD_KEYS: put its value first');
    output('REDACTION_SECRET', secrets.redaction.secretArn, 'CDC_REDACTION_SECRET');
    for (const [name, role] of Object.entries({
      WORKER_ROLE: roles.worker,
      CAPTURE_ROLE: roles.capture,
      OPERATOR_ROLE: roles.operator,
      PROVISIONER_ROLE: roles.provisioner,
    }))
      output(name, role.roleArn, `${name.split('_')[0].toLowerCase()} role`);
  }
}
