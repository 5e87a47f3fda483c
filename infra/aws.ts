import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { assertAwsTarget } from './awsTarget';

/**
 * AWS SDK v3 clients. Endpoints, region and credentials come from the SDK's own
 * configuration (AWS_ENDPOINT_URL_<SERVICE>, AWS_REGION, default credential chain), so the
 * same code talks to the local emulators or to real AWS. All clients use the HTTP/1.1
 * NodeHttpHandler: the local Kinesis emulator breaks on HTTP/2 PutRecords.
 */
function requestHandler(): NodeHttpHandler {
  return new NodeHttpHandler({
    connectionTimeout: 3_000,
    requestTimeout: 15_000,
    throwOnRequestTimeout: true,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 64 }),
  });
}

/** The AWS clients of one process (activities receive the ones they use through activities/deps.ts). */
export interface AwsClients {
  kinesis: KinesisClient;
  dynamo: DynamoDBClient;
  /** DynamoDB with plain JavaScript values in and out. */
  doc: DynamoDBDocumentClient;
  events: EventBridgeClient;
  sqs: SQSClient;
  /** Out-of-line storage of large dead-lettered records (claim check). */
  s3: S3Client;
}

let clients: AwsClients | undefined;

/** The process's clients, created on first use. */
export function awsClients(): AwsClients {
  if (!clients) {
    assertAwsTarget(); // no target said: refuse rather than follow the shell's credentials

    const dynamo = new DynamoDBClient({ requestHandler: requestHandler() });
    clients = {
      kinesis: new KinesisClient({ requestHandler: requestHandler() }),
      dynamo,
      doc: DynamoDBDocumentClient.from(dynamo, {
        marshallOptions: { removeUndefinedValues: true, allowImpreciseNumbers: true },
      }),
      events: new EventBridgeClient({ requestHandler: requestHandler() }),
      sqs: new SQSClient({ requestHandler: requestHandler() }),
      // Path-style addressing where an endpoint is set (the emulator has no per-bucket host names).
      s3: new S3Client({
        requestHandler: requestHandler(),
        forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL),
      }),
    };
  }
  return clients;
}

export function destroyAwsClients(): void {
  if (!clients) return;
  for (const c of [clients.kinesis, clients.dynamo, clients.events, clients.sqs, clients.s3]) c.destroy();
  clients = undefined;
}
