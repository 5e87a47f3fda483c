import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { connectionPlan, parsePgEnv } from '../../../infra/pgConnection';
import { explainConnectError } from '../../../infra/postgres/connectErrors';
import { IAM_TOKEN_MAX_AGE_MS, iamToken, parseDatabaseSecret } from '../../../infra/postgres/credentials';
import { decideTls } from '../../../infra/postgres/tls';

/** Files as libpq would find them: a path → its bytes, anything else does not exist. */
const files =
  (present: Record<string, string>) =>
  (path: string): Buffer | undefined =>
    path in present ? Buffer.from(present[path]!) : undefined;

const HOME = '/home/cdc';
const DEFAULT_ROOT = '/home/cdc/.postgresql/root.crt';
const none = files({});
const tls = (d: { ssl: false | ConnectionOptions }) => {
  assert.ok(d.ssl, 'TLS on');
  return d.ssl;
};

describe('PostgreSQL connection settings: PGSSLMODE and PGSSLROOTCERT as libpq reads them', () => {
  it('disable, allow, prefer and no PGSSLMODE connect without TLS (pg cannot fall back from TLS to plain)', () => {
    for (const sslmode of ['disable', 'allow', 'prefer', undefined] as const) {
      const d = decideTls({ sslmode, host: 'db.example', home: HOME }, files({ [DEFAULT_ROOT]: 'CA' }));
      assert.equal(d.ssl, false, String(sslmode));
      assert.equal(d.verify, 'none');
    }
  });

  it('require without a root certificate: encrypted, the certificate not checked', () => {
    const d = decideTls({ sslmode: 'require', host: 'db.example', home: HOME }, none);
    assert.deepEqual(d.ssl, { rejectUnauthorized: false });
    assert.equal(d.verify, 'none');
  });

  it('require with a root certificate (PGSSLROOTCERT, or ~/.postgresql/root.crt) checks the chain like verify-ca', () => {
    const explicit = decideTls(
      { sslmode: 'require', sslrootcert: '/etc/rds.pem', host: 'db.example', home: HOME },
      files({ '/etc/rds.pem': 'RDS' }),
    );
    assert.equal(explicit.verify, 'chain');
    assert.equal(explicit.rootCert, '/etc/rds.pem');
    const s = tls(explicit);
    assert.equal(String(s.ca), 'RDS');
    assert.equal(s.rejectUnauthorized, true);
    assert.equal(s.checkServerIdentity?.('other.example', {} as never), undefined, 'host name not checked');

    const byDefault = decideTls(
      { sslmode: 'require', host: 'db.example', home: HOME },
      files({ [DEFAULT_ROOT]: 'HOME CA' }),
    );
    assert.equal(byDefault.verify, 'chain');
    assert.equal(byDefault.rootCert, DEFAULT_ROOT);
    assert.equal(String(tls(byDefault).ca), 'HOME CA');

    // A PGSSLROOTCERT that does not exist: libpq's require goes on without checking.
    const missing = decideTls(
      { sslmode: 'require', sslrootcert: '/nope.pem', host: 'db.example', home: HOME },
      none,
    );
    assert.deepEqual(missing.ssl, { rejectUnauthorized: false });
  });

  it('verify-ca checks the chain against the root certificate, not the host name', () => {
    const d = decideTls(
      { sslmode: 'verify-ca', sslrootcert: '/etc/ca.pem', host: 'db.example', home: HOME },
      files({ '/etc/ca.pem': 'CA' }),
    );
    const s = tls(d);
    assert.equal(d.verify, 'chain');
    assert.equal(String(s.ca), 'CA');
    assert.equal(s.rejectUnauthorized, true);
    assert.equal(typeof s.checkServerIdentity, 'function');
  });

  it('verify-full checks the chain and the host name (Node checks the name when no checkServerIdentity is given)', () => {
    const d = decideTls(
      { sslmode: 'verify-full', sslrootcert: '/etc/ca.pem', host: 'db.example', home: HOME },
      files({ '/etc/ca.pem': 'CA' }),
    );
    const s = tls(d);
    assert.equal(d.verify, 'chain+host');
    assert.equal(String(s.ca), 'CA');
    assert.equal(s.rejectUnauthorized, true);
    assert.equal(s.checkServerIdentity, undefined);
  });

  it('verify-ca and verify-full without the root certificate file fail, naming the file, as libpq does', () => {
    for (const sslmode of ['verify-ca', 'verify-full'] as const) {
      assert.throws(
        () => decideTls({ sslmode, host: 'db.example', home: HOME }, none),
        new RegExp(
          `PGSSLMODE=${sslmode}: root certificate file "${DEFAULT_ROOT}" does not exist.*PGSSLROOTCERT`,
        ),
      );
      assert.throws(
        () => decideTls({ sslmode, sslrootcert: '/etc/missing.pem', host: 'db.example', home: HOME }, none),
        /root certificate file "\/etc\/missing\.pem" does not exist/,
      );
    }
  });

  it('PGSSLROOTCERT=system: Node’s trusted roots, verify-full by default, weaker modes refused (libpq 16)', () => {
    const d = decideTls({ sslrootcert: 'system', host: 'db.example', home: HOME }, none);
    assert.equal(d.mode, 'verify-full');
    assert.deepEqual(d.ssl, { rejectUnauthorized: true });
    assert.equal(d.rootCert, 'system');
    assert.throws(
      () => decideTls({ sslmode: 'require', sslrootcert: 'system', host: 'db.example', home: HOME }, none),
      /PGSSLROOTCERT=system needs PGSSLMODE=verify-full/,
    );
  });

  it('a client certificate (PGSSLCERT/PGSSLKEY, or ~/.postgresql/postgresql.crt/.key) is presented when present', () => {
    const d = decideTls(
      { sslmode: 'require', sslcert: '/c/me.crt', sslkey: '/c/me.key', host: 'db.example', home: HOME },
      files({ '/c/me.crt': 'CERT', '/c/me.key': 'KEY' }),
    );
    const s = tls(d);
    assert.equal(String(s.cert), 'CERT');
    assert.equal(String(s.key), 'KEY');
    const byDefault = tls(
      decideTls(
        { sslmode: 'require', host: 'db.example', home: HOME },
        files({ '/home/cdc/.postgresql/postgresql.crt': 'C', '/home/cdc/.postgresql/postgresql.key': 'K' }),
      ),
    );
    assert.equal(String(byDefault.cert), 'C');
    assert.throws(
      () =>
        decideTls(
          { sslmode: 'require', sslcert: '/c/me.crt', host: 'db.example', home: HOME },
          files({ '/c/me.crt': 'CERT' }),
        ),
      /client certificate "\/c\/me\.crt" has no private key: "\/home\/cdc\/\.postgresql\/postgresql\.key" does not exist/,
    );
  });

  it('a Unix-domain socket never uses TLS, whatever the mode (libpq does not)', () => {
    const d = decideTls({ sslmode: 'verify-full', host: '/var/run/postgresql', home: HOME }, none);
    assert.equal(d.ssl, false);
  });

  it('an invalid PGSSLMODE or CDC_PG_IAM_AUTH is refused with the values allowed', () => {
    assert.throws(
      () => parsePgEnv({ PGSSLMODE: 'no-verify' }),
      /PGSSLMODE "no-verify" is not one of disable, allow, prefer, require, verify-ca, verify-full/,
    );
    assert.throws(() => parsePgEnv({ PGSSLMODE: 'VERIFY-FULL' }), /PGSSLMODE/);
    assert.throws(() => parsePgEnv({ CDC_PG_IAM_AUTH: 'yes' }), /CDC_PG_IAM_AUTH/);
    assert.deepEqual(parsePgEnv({ PGSSLMODE: '', CDC_PG_SECRET_ID: '' }), { iamAuth: false });
    assert.deepEqual(
      parsePgEnv({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/x.pem', CDC_PG_IAM_AUTH: 'on' }),
      {
        sslmode: 'verify-full',
        sslrootcert: '/x.pem',
        iamAuth: true,
      },
    );
  });

  it('IAM authentication needs TLS: refused below require, and never with a secret at once', () => {
    for (const PGSSLMODE of [undefined, 'disable', 'allow', 'prefer'])
      assert.throws(
        () => connectionPlan({ CDC_PG_IAM_AUTH: 'on', ...(PGSSLMODE ? { PGSSLMODE } : {}) }, {}, none, HOME),
        /CDC_PG_IAM_AUTH=on needs TLS: PGSSLMODE is .*; set PGSSLMODE=verify-full with PGSSLROOTCERT/,
      );
    const plan = connectionPlan(
      { CDC_PG_IAM_AUTH: 'on', PGSSLMODE: 'require', PGHOST: 'db.example' },
      {},
      none,
      HOME,
    );
    assert.equal(plan.auth.kind, 'iam');
    assert.equal(plan.tls.mode, 'require');
    assert.throws(
      () =>
        connectionPlan(
          { CDC_PG_IAM_AUTH: 'on', CDC_PG_SECRET_ID: 's', PGSSLMODE: 'require' },
          {},
          none,
          HOME,
        ),
      /CDC_PG_SECRET_ID and CDC_PG_IAM_AUTH=on/,
    );
  });

  it('the plan connects where the overrides say, else PGHOST (pg’s default localhost)', () => {
    const env = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/ca.pem', PGHOST: 'db.example' };
    const read = files({ '/ca.pem': 'CA' });
    assert.equal(connectionPlan(env, {}, read, HOME).host, 'db.example');
    assert.equal(connectionPlan(env, { host: 'other.example' }, read, HOME).host, 'other.example');
    assert.equal(connectionPlan({}, {}, read, HOME).host, 'localhost');
    assert.equal(connectionPlan({ CDC_PG_SECRET_ID: 'arn:secret' }, {}, read, HOME).auth.kind, 'secret');
    assert.equal(connectionPlan({}, {}, read, HOME).auth.kind, 'env');
  });

  it('TLS and authentication failures become one line naming the mode, the root certificate and what to do', () => {
    const plan = connectionPlan(
      { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem', PGHOST: 'db.example', PGPORT: '5433' },
      {},
      files({ '/etc/ca.pem': 'CA' }),
      HOME,
    );
    const untrusted = explainConnectError(
      Object.assign(new Error('self-signed certificate in certificate chain'), {
        code: 'SELF_SIGNED_CERT_IN_CHAIN',
      }),
      plan,
    );
    assert.ok(untrusted);
    assert.match(
      untrusted.message,
      /^PostgreSQL db\.example:5433 \(PGSSLMODE=verify-full, PGSSLROOTCERT=\/etc\/ca\.pem\): the server's certificate is not signed by a CA in \/etc\/ca\.pem: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\)/,
    );
    assert.equal((untrusted as Error & { code?: string }).code, 'SELF_SIGNED_CERT_IN_CHAIN');

    const name = explainConnectError(
      Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      }),
      plan,
    );
    assert.match(name!.message, /the server's certificate does not name db\.example.*PGSSLMODE=verify-ca/);

    const plain = connectionPlan({ PGSSLMODE: 'disable', PGHOST: 'db.example' }, {}, none, HOME);
    const refused = explainConnectError(
      Object.assign(
        new Error('no pg_hba.conf entry for host "10.0.0.1", user "cdc", database "app", no encryption'),
        {
          code: '28000',
        },
      ),
      plain,
    );
    assert.match(
      refused!.message,
      /PGSSLMODE=disable.*refused a connection without TLS.*PGSSLMODE=verify-full/,
    );

    assert.equal(
      explainConnectError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), plan),
      undefined,
      'other errors pass unchanged',
    );
  });

  it('a secret is RDS’s JSON, validated without its value in any message', () => {
    assert.deepEqual(
      parseDatabaseSecret('s', '{"username":"cdc","password":"p","engine":"postgres","port":5432}'),
      {
        username: 'cdc',
        password: 'p',
        port: 5432,
      },
    );
    assert.throws(
      () => parseDatabaseSecret('arn:s', 'hunter2'),
      (err: Error) => {
        assert.match(err.message, /secret arn:s is not JSON/);
        assert.ok(!err.message.includes('hunter2'));
        return true;
      },
    );
    assert.throws(
      () => parseDatabaseSecret('arn:s', '{"username":"cdc","pass":"hunter2"}'),
      /secret arn:s is not a database secret: password missing or invalid/,
    );
  });

  it('an RDS IAM token is signed for host, port and user, and signed again after 10 minutes', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    try {
      const t0 = Date.now();
      const signed = iamToken('db-iam.example', 5432, 'cdc', 'eu-west-1', t0);
      const first = await signed;
      assert.match(first, /^db-iam\.example:5432\/\?Action=connect&DBUser=cdc&X-Amz-/);
      assert.match(first, /X-Amz-Credential=AKIDEXAMPLE%2F\d{8}%2Feu-west-1%2Frds-db%2Faws4_request/);
      assert.equal(iamToken('db-iam.example', 5432, 'cdc', 'eu-west-1', t0 + 60_000), signed, 'kept');
      assert.notEqual(iamToken('db-iam.example', 5432, 'other', 'eu-west-1', t0), signed, 'per user');
      const later = iamToken('db-iam.example', 5432, 'cdc', 'eu-west-1', t0 + IAM_TOKEN_MAX_AGE_MS + 1);
      assert.notEqual(later, signed, 'signed again after IAM_TOKEN_MAX_AGE_MS');
      assert.match(await later, /DBUser=cdc/);
    } finally {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.key],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('the product makes pg clients and pools only through infra/pgConnection.ts (so TLS and credentials apply everywhere)', () => {
    const root = join(__dirname, '..', '..', '..');
    const allowed = new Set(['infra/pgConnection.ts']);
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) walk(path);
        else if (e.name.endsWith('.ts') && !allowed.has(relative(root, path))) {
          const text = readFileSync(path, 'utf8');
          // A value import of Client or Pool from 'pg' (type-only imports are fine).
          const imports = [...text.matchAll(/^import\s+(?!type\b)\{([^}]*)\}\s+from\s+'pg';/gm)];
          if (imports.some((m) => /(^|,)\s*(Client|Pool)\b/.test(m[1]!.replace(/\btype\s+\w+/g, ''))))
            offenders.push(relative(root, path));
        }
      }
    };
    for (const folder of ['activities', 'cli', 'domain', 'infra', 'wallboard', 'workers', 'workflows'])
      walk(join(root, folder));
    assert.deepEqual(offenders, [], 'use pgClient()/pgPool() of infra/pgConnection.ts');
  });
});
