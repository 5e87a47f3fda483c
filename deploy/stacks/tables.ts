import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { TABLE_PARTITION_KEY, TTL_ATTRIBUTE } from '../../infra/resourceDefinitions';
import type { DeployConfig } from '../config';

export type TableRole = 'state' | 'entities' | 'inventory' | 'dlq';
export type PipelineTables = Record<TableRole, dynamodb.Table>;

const CONSTRUCT_IDS: Record<TableRole, string> = {
  state: 'StateTable',
  entities: 'EntitiesTable',
  inventory: 'InventoryTable',
  dlq: 'DeadLetterTable',
};

/**
 * The pipeline's four tables (CDC_STATE_TABLE, CDC_ENTITIES_TABLE, CDC_INVENTORY_TABLE,
 * CDC_DLQ_TABLE), keyed and expiring as `cdc provision aws` creates them (infra/resourceDefinitions.ts),
 * on demand, with point-in-time recovery, deletion protection and the deployment's key. Kept when
 * the stack is deleted.
 */
export function pipelineTables(scope: Construct, config: DeployConfig, key: kms.IKey): PipelineTables {
  const make = (role: TableRole) =>
    new dynamodb.Table(scope, CONSTRUCT_IDS[role], {
      tableName: config.pipeline.tables[role],
      partitionKey: {
        name: TABLE_PARTITION_KEY.name,
        type: TABLE_PARTITION_KEY.type as dynamodb.AttributeType,
      },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  return { state: make('state'), entities: make('entities'), inventory: make('inventory'), dlq: make('dlq') };
}
