import assert from 'node:assert/strict';
import { chooseEnvironment } from '../../../infra/localStack/environment';
import { SERVICE_NAMES, type ServiceName } from '../../../infra/localStack/localStack';

/** Where the scripts connect (infra/localStack/environment.ts): the user's variables, else the running local stack. */
describe('script environment (an explicit target, the user’s endpoints, else the running local stack)', () => {
  const all = new Set<ServiceName>(SERVICE_NAMES);
  const none = new Set<ServiceName>();
  const sources = (c: ReturnType<typeof chooseEnvironment>) =>
    Object.fromEntries(c.choices.map((x) => [x.dependency, x.source]));
  const filled = (c: ReturnType<typeof chooseEnvironment>, prefix: string) =>
    Object.keys(c.fill).filter((k) => k.startsWith(prefix));

  it('nothing set, local stack running: everything goes to the local stack', () => {
    const c = chooseEnvironment({}, all);
    assert.deepEqual(sources(c), { postgres: 'local-stack', aws: 'local-stack', temporal: 'local-stack' });
    assert.match(c.fill.PGPORT, /^\d+$/);
    assert.equal(c.fill.PGHOST, '127.0.0.1');
    assert.match(c.fill.AWS_ENDPOINT_URL_KINESIS, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(c.fill.AWS_ACCESS_KEY_ID, 'test');
    assert.match(c.fill.TEMPORAL_ADDRESS, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(c.warnings, []);
    assert.match(c.summary, /PostgreSQL → local stack .*AWS → local stack .*Temporal → local stack/);
  });

  it('nothing set, local stack not running: localhost defaults for PostgreSQL and Temporal, no AWS target at all', () => {
    const c = chooseEnvironment({}, none);
    assert.deepEqual(sources(c), { postgres: 'default', aws: 'none', temporal: 'default' });
    assert.match(c.summary, /AWS → no target \(local stack not running: .*--target aws/);
    assert.deepEqual(filled(c, 'PG'), []);
    assert.deepEqual(filled(c, 'AWS_ENDPOINT_URL'), []);
    assert.equal(c.fill.AWS_ACCESS_KEY_ID, undefined);
    assert.equal(c.fill.TEMPORAL_ADDRESS, undefined);
  });

  it('PGHOST/PGPORT set: PostgreSQL is the user’s, the rest still goes to the running local stack', () => {
    const c = chooseEnvironment({ PGHOST: 'db.internal', PGPORT: '5433' }, all);
    assert.deepEqual(sources(c), { postgres: 'user', aws: 'local-stack', temporal: 'local-stack' });
    assert.deepEqual(filled(c, 'PG'), []);
    assert.ok(c.fill.AWS_ENDPOINT_URL_DYNAMODB);
    assert.match(c.summary, /PostgreSQL → your PGHOST, PGPORT/);
  });

  it('AWS_PROFILE in the shell chooses nothing: the running local stack, with a warning naming --target aws', () => {
    const c = chooseEnvironment({ AWS_PROFILE: 'prod' }, all);
    assert.equal(sources(c).aws, 'local-stack');
    assert.ok(c.fill.AWS_ENDPOINT_URL_KINESIS);
    assert.deepEqual(c.warnings, [
      'AWS: your AWS_PROFILE choose nothing: this goes to the local stack (for real AWS: --target aws or CDC_TARGET=aws)',
    ]);
  });

  it('the local stack’s own dummy credentials in the shell (AWS_ACCESS_KEY_ID=test) are no warning', () => {
    const c = chooseEnvironment({ AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, all);
    assert.equal(sources(c).aws, 'local-stack');
    assert.deepEqual(c.warnings, []);
  });

  it('AWS credentials in the shell and no local stack: no AWS target (never real AWS by accident)', () => {
    const c = chooseEnvironment({ AWS_ACCESS_KEY_ID: 'AKIA…', AWS_PROFILE: 'prod' }, none);
    assert.equal(sources(c).aws, 'none');
    assert.match(c.summary, /AWS → no target .*your AWS_PROFILE, AWS_ACCESS_KEY_ID choose nothing/);
    assert.deepEqual(
      filled(c, 'AWS_').filter((k) => !k.startsWith('AWS_SDK_JS_')),
      [],
    );
  });

  it('CDC_TARGET=aws: real AWS with the shell’s credentials, nothing added, even with the local stack running', () => {
    const c = chooseEnvironment({ CDC_TARGET: 'aws', AWS_PROFILE: 'prod', PGHOST: 'db.internal' }, all);
    assert.deepEqual(sources(c), { postgres: 'user', aws: 'user', temporal: 'user' });
    assert.deepEqual(
      Object.keys(c.fill).filter((k) => !k.startsWith('AWS_SDK_JS_')),
      [],
    );
    assert.match(
      c.summary,
      /PostgreSQL → your PGHOST, CDC_TARGET=aws; AWS → real AWS \(your AWS_PROFILE\), CDC_TARGET=aws; Temporal → defaults, CDC_TARGET=aws/,
    );
  });

  it('CDC_TARGET=local: the local stack’s values replace the shell’s', () => {
    const c = chooseEnvironment(
      { CDC_TARGET: 'local', PGHOST: 'db.internal', AWS_ACCESS_KEY_ID: 'AKIA…' },
      all,
    );
    assert.deepEqual(sources(c), { postgres: 'local-stack', aws: 'local-stack', temporal: 'local-stack' });
    assert.equal(c.fill.PGHOST, '127.0.0.1');
    assert.equal(c.fill.AWS_ACCESS_KEY_ID, 'test');
  });

  it('an unknown CDC_TARGET is a configuration error naming the choices', () => {
    assert.throws(
      () => chooseEnvironment({ CDC_TARGET: 'prod' }, all),
      /CDC_TARGET must be one of local, aws \(got 'prod'\)/,
    );
  });

  it('one AWS_ENDPOINT_URL_* set: the user’s endpoints, no other endpoint is added', () => {
    const c = chooseEnvironment({ AWS_ENDPOINT_URL_KINESIS: 'http://localhost:4566' }, all);
    assert.equal(sources(c).aws, 'user');
    assert.deepEqual(filled(c, 'AWS_ENDPOINT_URL'), []);
    assert.match(c.summary, /AWS → your AWS_ENDPOINT_URL_KINESIS/);
  });

  it('CDC_USE_AWS=true: real AWS through the default credential chain (e.g. an instance role)', () => {
    const c = chooseEnvironment({ CDC_USE_AWS: 'true' }, all);
    assert.equal(sources(c).aws, 'user');
    assert.deepEqual(filled(c, 'AWS_ENDPOINT_URL'), []);
  });

  it('TEMPORAL_ADDRESS set: Temporal is the user’s', () => {
    const c = chooseEnvironment({ TEMPORAL_ADDRESS: 'ns.tmprl.cloud:7233' }, all);
    assert.equal(sources(c).temporal, 'user');
    assert.deepEqual(filled(c, 'TEMPORAL_'), []);
  });

  it('part of the local stack down: still used, with a warning naming what to start', () => {
    const c = chooseEnvironment(
      {},
      new Set<ServiceName>(['postgres', 'temporal', 'kinesis', 'dynamodb', 'codec']),
    );
    assert.equal(sources(c).aws, 'local-stack');
    assert.deepEqual(c.warnings, ['local stack: moto not running (start it: npm run stack up)']);
  });

  it('Temporal on the local stack: its payload key file, unless keys of the user’s own are set', () => {
    assert.match(chooseEnvironment({}, all).fill.CDC_PAYLOAD_KEY_FILE, /\.stack\/payload-keys\.json$/);
    assert.ok(chooseEnvironment({}, none, 'always').fill.CDC_PAYLOAD_KEY_FILE);
    assert.equal(chooseEnvironment({ CDC_PAYLOAD_KEYS: 'k:x' }, all).fill.CDC_PAYLOAD_KEY_FILE, undefined);
    assert.equal(
      chooseEnvironment({ CDC_PAYLOAD_KEY_FILE: '/k.json' }, all).fill.CDC_PAYLOAD_KEY_FILE,
      undefined,
    );
    // Temporal elsewhere (or not running): no key is filled, the client's start-up error names the variables.
    assert.equal(
      chooseEnvironment({ TEMPORAL_ADDRESS: 'ns.tmprl.cloud:7233' }, all).fill.CDC_PAYLOAD_KEY_FILE,
      undefined,
    );
    assert.equal(chooseEnvironment({}, none).fill.CDC_PAYLOAD_KEY_FILE, undefined);
  });

  it('the local stack without its codec server: a warning (the Web UI cannot decode payloads)', () => {
    const c = chooseEnvironment(
      {},
      new Set<ServiceName>(['postgres', 'temporal', 'kinesis', 'dynamodb', 'moto']),
    );
    assert.equal(sources(c).temporal, 'local-stack');
    assert.deepEqual(c.warnings, ['local stack: codec not running (start it: npm run stack up)']);
  });

  it('jobs on the local stack by design fill every unset variable; set ones win', () => {
    const c = chooseEnvironment({ AWS_PROFILE: 'prod', PGPORT: '15433' }, none, 'always');
    assert.deepEqual(sources(c), { postgres: 'local-stack', aws: 'local-stack', temporal: 'local-stack' });
    assert.equal(c.fill.PGPORT, undefined);
    assert.equal(c.fill.PGHOST, '127.0.0.1');
    assert.ok(c.fill.AWS_ENDPOINT_URL_SQS);
  });
});
