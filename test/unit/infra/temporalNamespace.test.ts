import assert from 'node:assert/strict';
import { namespaceFor } from '../../../infra/temporal';

/** Temporal beyond the dev server: the namespace is named, never `default` by omission (issue 22, item 5). */
describe('Temporal namespace', () => {
  it('the configured one wherever the server is', () => {
    assert.equal(namespaceFor('shop.a1b2c.tmprl.cloud:7233', 'shop.a1b2c'), 'shop.a1b2c');
    assert.equal(namespaceFor('127.0.0.1:7233', 'cdc'), 'cdc');
  });

  it('unset: default only for a server on this machine', () => {
    assert.equal(namespaceFor('127.0.0.1:7233', undefined), 'default');
    assert.equal(namespaceFor('localhost:7233', undefined), 'default');
    assert.equal(namespaceFor('[::1]:7233', undefined), 'default');
    assert.equal(namespaceFor(undefined, undefined), 'default');
  });

  it('unset with a server elsewhere: a configuration error naming TEMPORAL_NAMESPACE', () => {
    assert.throws(() => namespaceFor('shop.a1b2c.tmprl.cloud:7233', undefined), {
      name: 'ConfigurationError',
      message: /Temporal at shop\.a1b2c\.tmprl\.cloud:7233: name the namespace \(TEMPORAL_NAMESPACE/,
    });
    assert.throws(() => namespaceFor('temporal.internal:7233', ''), /name the namespace/);
  });
});
