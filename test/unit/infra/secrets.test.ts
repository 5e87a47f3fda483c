import assert from 'node:assert/strict';
import { assertProductionSecrets, awsIsLocal, DEVELOPMENT_SECRET, loadConfig } from '../../../infra/config';

const LOCAL = Object.fromEntries(
  ['KINESIS', 'DYNAMODB', 'EVENTBRIDGE', 'SQS', 'S3'].map((s) => [
    `AWS_ENDPOINT_URL_${s}`,
    'http://127.0.0.1:4566',
  ]),
);

describe('redaction secret at start-up', () => {
  it('AWS is local only when every service the pipeline uses has a loopback endpoint', () => {
    assert.equal(awsIsLocal(LOCAL), true);
    assert.equal(awsIsLocal({ AWS_ENDPOINT_URL: 'http://localhost:4566' }), true);
    assert.equal(awsIsLocal({}), false, 'no endpoint: real AWS');
    assert.equal(awsIsLocal({ ...LOCAL, AWS_ENDPOINT_URL_S3: 'https://s3.eu-west-1.amazonaws.com' }), false);
    assert.equal(awsIsLocal({ ...LOCAL, AWS_ENDPOINT_URL_KINESIS: 'http://10.0.0.5:4568' }), false);
  });

  it('refuses the built-in development secret outside the local stack, naming the variable', () => {
    const config = loadConfig({});
    assert.equal(config.redactionSecret, DEVELOPMENT_SECRET);
    assert.throws(
      () => assertProductionSecrets(config, {}),
      /CDC_REDACTION_SECRET is the built-in development secret/,
    );
    assert.doesNotThrow(() => assertProductionSecrets(config, LOCAL));
    const real = loadConfig({ CDC_REDACTION_SECRET: 'a-real-secret-from-a-vault' });
    assert.doesNotThrow(() => assertProductionSecrets(real, {}));
  });

  it('names the secret in each event policy by a key id (given, or derived from the secret)', () => {
    assert.equal(loadConfig({ CDC_REDACTION_KEY_ID: 'vault-7' }).redactionKeyId, 'vault-7');
    const a = loadConfig({ CDC_REDACTION_SECRET: 'first-secret-value' }).redactionKeyId;
    const b = loadConfig({ CDC_REDACTION_SECRET: 'second-secret-value' }).redactionKeyId;
    assert.match(a, /^k[0-9a-f]{8}$/);
    assert.notEqual(a, b, 'a rotation changes the id consumers see');
  });
});
