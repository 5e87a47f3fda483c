import assert from 'node:assert/strict';
import { awsClients, destroyAwsClients } from '../../../infra/aws';
import { awsTargetRefusal } from '../../../infra/awsTarget';

/** A command reaches an AWS account only when told where (issue 22, item 7). */
describe('AWS target: never real AWS because credentials sit in the shell', () => {
  it('credentials alone are no target; endpoints, CDC_TARGET=aws or CDC_USE_AWS=true are', () => {
    assert.match(awsTargetRefusal({ AWS_PROFILE: 'prod', AWS_ACCESS_KEY_ID: 'AKIA' }) ?? '', /no target/);
    assert.match(awsTargetRefusal({}) ?? '', /--target aws \(CDC_TARGET=aws\)/);
    assert.equal(awsTargetRefusal({ AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:1' }), undefined);
    assert.equal(awsTargetRefusal({ AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }), undefined);
    assert.equal(awsTargetRefusal({ AWS_PROFILE: 'prod', CDC_TARGET: 'aws' }), undefined);
    assert.equal(awsTargetRefusal({ CDC_USE_AWS: 'true' }), undefined);
    assert.match(awsTargetRefusal({ CDC_TARGET: 'local' }) ?? '', /no target/);
  });

  it('the process’s AWS clients are refused without a target, with the reason', () => {
    const saved = { ...process.env };
    try {
      for (const k of Object.keys(process.env))
        if (k.startsWith('AWS_ENDPOINT_URL') || k === 'CDC_TARGET' || k === 'CDC_USE_AWS')
          delete process.env[k];
      process.env.AWS_PROFILE = 'prod';
      destroyAwsClients();
      assert.throws(() => awsClients(), { name: 'ConfigurationError', message: /AWS: no target/ });
    } finally {
      process.env = saved;
      destroyAwsClients();
    }
  });
});
