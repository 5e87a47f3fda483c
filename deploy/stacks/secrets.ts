import { RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { DeployConfig } from '../config';

export interface PipelineSecrets {
  /** CDC_PAYLOAD_KEYS (`keyId:base64-of-32-bytes[,…]`, infra/codec/keyring.ts): put by the operator. */
  payloadKeys: secretsmanager.Secret;
  /** CDC_REDACTION_SECRET (HASH and TOKENIZE): generated here, 64 characters. */
  redaction: secretsmanager.Secret;
}

/**
 * The worker's two secrets, encrypted with the deployment's key, kept when the stack is deleted
 * (data sealed with them is unreadable without them). The payload keys' value has a format a
 * generated secret cannot have (`keyId:` and 32 random bytes in base64): the stack creates the
 * secret with a random value the worker refuses ("not keyId:base64-of-32-bytes") until the
 * operator puts the real one (docs/deploy.md).
 */
export function pipelineSecrets(scope: Construct, config: DeployConfig, key: kms.IKey): PipelineSecrets {
  const payloadKeys = new secretsmanager.Secret(scope, 'PayloadKeysSecret', {
    secretName: `${config.prefix}/pipeline/payload-keys`,
    description:
      'CDC_PAYLOAD_KEYS: keyId:base64-of-32-bytes[,...], the first encrypts. Put it: aws secretsmanager put-secret-value --secret-id <this> --secret-string "k1:$(openssl rand -base64 32)"',
    encryptionKey: key,
    generateSecretString: { passwordLength: 32, excludePunctuation: true, includeSpace: false },
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const redaction = new secretsmanager.Secret(scope, 'RedactionSecret', {
    secretName: `${config.prefix}/pipeline/redaction-secret`,
    description: 'CDC_REDACTION_SECRET: the HMAC key of HASH and TOKENIZE redaction',
    encryptionKey: key,
    generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
    removalPolicy: RemovalPolicy.RETAIN,
  });
  return { payloadKeys, redaction };
}
