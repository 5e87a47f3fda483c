/**
 * PostgreSQL over TLS as RDS serves it (issue 22, item 4): a cluster of the test's own with
 * `ssl=on`, a server certificate (SAN localhost, 127.0.0.1) issued by a CA made here with openssl,
 * and pg_hba accepting TLS connections only (`hostssl`). Connections are made as the product makes
 * them (infra/pgConnection.ts) with PGSSLMODE/PGSSLROOTCERT as libpq reads them.
 *
 * Self-contained: a free port, a temporary directory, the cluster stopped in `after`; no local
 * stack needed. The server also listens on 127.0.0.2 (a loopback address the certificate does
 * not name) for the host-name checks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Client, ClientConfig } from 'pg';
import { applyLocalStackEnv, PORTS, stackUp } from '../../infra/localStack/localStack';
import { pgClient, pgPool, PgConnectionError } from '../../infra/pgConnection';
import { asRoot, serverUid, startTestCluster, type TestCluster } from '../support/pgCluster';

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${(r.stderr || r.stdout).trim()}`);
}

/** A CA (`<name>.crt`, `<name>.key`) in `dir`. */
function makeCa(dir: string, name: string): string {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=cdc test ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return join(dir, `${name}.crt`);
}

/** The server's certificate and key (`server.crt`, `server.key`) in `dir`, issued by the CA `ca` (`<ca>.crt`, `<ca>.key`). */
function makeServerCertificate(dir: string, ca: string): void {
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-CAserial',
      'ca.srl',
      '-out',
      'server.crt',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  // The server refuses a key others can read; as root, the server (postgres) must own it.
  chmodSync(join(dir, 'server.key'), 0o600);
  if (asRoot) for (const f of ['server.key', 'server.crt']) chownSync(join(dir, f), serverUid(), 0);
}

describe('PostgreSQL over TLS: PGSSLMODE and PGSSLROOTCERT as libpq reads them (a cluster with a CA of the test)', function () {
  this.timeout(120_000);
  let cluster: TestCluster;
  /** The CA files, and a HOME without ~/.postgresql (so libpq's defaults find nothing). */
  let pki: string;
  let rightCa: string;
  let wrongCa: string;

  before(async function () {
    this.timeout(90_000);
    pki = mkdtempSync(join(tmpdir(), 'cdc-tls-pki-'));
    rightCa = makeCa(pki, 'ca');
    wrongCa = makeCa(pki, 'other-ca');
    cluster = await startTestCluster({
      prefix: 'cdc-tls-pg-',
      // The server's certificate, in the server's directory (as root, owned by the server's user).
      prepare: (dir) => makeServerCertificate(dir, join(pki, 'ca')),
      settings: (dir) => [
        "-c listen_addresses='127.0.0.1,127.0.0.2'",
        '-c ssl=on',
        `-c ssl_cert_file=${join(dir, 'server.crt')}`,
        `-c ssl_key_file=${join(dir, 'server.key')}`,
        '-c wal_level=logical',
        '-c max_wal_senders=4',
        '-c max_replication_slots=4',
      ],
      hba: [
        'local all all trust',
        // The Secrets Manager test's role logs in with its password (the others: trust).
        'hostssl all cdc_secret_user 127.0.0.0/8 scram-sha-256',
        'hostssl all all 127.0.0.0/8 trust',
        'hostssl replication all 127.0.0.0/8 trust',
        '',
      ].join('\n'),
    });
  });

  after(() => {
    cluster?.stop();
    if (pki) rmSync(pki, { recursive: true, force: true });
  });

  /** A client made as the product makes them, with `env` as the TLS environment. */
  const client = (env: Record<string, string>, overrides: ClientConfig = {}): Client =>
    pgClient(
      { host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', ...overrides },
      { HOME: pki, ...env },
    );

  const sslInUse = async (c: Client) =>
    (await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]
      ?.ssl;

  it('verify-full with the CA that issued the server certificate connects, over TLS', async () => {
    const c = client({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa });
    await c.connect();
    try {
      assert.equal(await sslInUse(c), true);
    } finally {
      await c.end();
    }
  });

  it('verify-full with another CA is refused: one line naming the mode and the root certificate file', async () => {
    const c = client({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: wrongCa });
    await assert.rejects(c.connect(), (err: Error) => {
      assert.ok(err instanceof PgConnectionError, `our error, not pg's: ${err.stack}`);
      assert.match(
        err.message,
        new RegExp(
          `^PostgreSQL 127\\.0\\.0\\.1:${cluster.port} \\(PGSSLMODE=verify-full, PGSSLROOTCERT=${wrongCa.replace(/[.]/g, '\\.')}\\): ` +
            `the server's certificate is not signed by a CA in ${wrongCa.replace(/[.]/g, '\\.')}: .*Set PGSSLROOTCERT`,
        ),
      );
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
  });

  it('a pool says the same (the pools of the activities)', async () => {
    const pool = pgPool(
      { host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', max: 1 },
      { HOME: pki, PGSSLMODE: 'verify-ca', PGSSLROOTCERT: wrongCa },
    );
    try {
      await assert.rejects(
        pool.query('SELECT 1'),
        /PGSSLMODE=verify-ca, PGSSLROOTCERT=.*other-ca\.crt\): the server's certificate is not signed/,
      );
    } finally {
      await pool.end();
    }
    const good = pgPool(
      { host: '127.0.0.1', port: cluster.port, user: 'postgres', database: 'postgres', max: 1 },
      { HOME: pki, PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa },
    );
    try {
      const r = await good.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      assert.equal(r.rows[0]?.ssl, true);
    } finally {
      await good.end();
    }
  });

  it('require connects without a CA (encrypted, the certificate not checked)', async () => {
    const c = client({ PGSSLMODE: 'require' });
    await c.connect();
    try {
      assert.equal(await sslInUse(c), true);
    } finally {
      await c.end();
    }
  });

  it('verify-full to a host name the certificate does not carry is refused; verify-ca connects', async () => {
    const elsewhere = { host: '127.0.0.2' };
    await assert.rejects(
      client({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa }, elsewhere).connect(),
      (err: Error) => {
        assert.ok(err instanceof PgConnectionError, `our error: ${err.stack}`);
        assert.match(
          err.message,
          /PostgreSQL 127\.0\.0\.2:\d+ \(PGSSLMODE=verify-full, .*\): the server's certificate does not name 127\.0\.0\.2/,
        );
        assert.match(err.message, /PGSSLMODE=verify-ca to check the chain only/);
        return true;
      },
    );
    const c = client({ PGSSLMODE: 'verify-ca', PGSSLROOTCERT: rightCa }, elsewhere);
    await c.connect();
    try {
      assert.equal(await sslInUse(c), true);
    } finally {
      await c.end();
    }
  });

  it('disable against a server that accepts TLS only is refused, saying to turn TLS on', async () => {
    await assert.rejects(client({ PGSSLMODE: 'disable' }).connect(), (err: Error) => {
      assert.ok(err instanceof PgConnectionError, `our error: ${err.stack}`);
      assert.match(
        err.message,
        /\(PGSSLMODE=disable\): the server refused a connection without TLS: .*Set PGSSLMODE=verify-full/,
      );
      return true;
    });
  });

  it('a logical replication connection (capture’s) works over TLS with verify-full', async () => {
    const c = client({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa }, {
      replication: 'database',
    } as ClientConfig);
    await c.connect();
    try {
      const r = await c.query<{ systemid: string; dbname: string }>('IDENTIFY_SYSTEM');
      assert.match(r.rows[0]!.systemid, /^\d+$/);
      assert.equal(r.rows[0]!.dbname, 'postgres');
    } finally {
      await c.end();
    }
  });

  describe('passwords from Secrets Manager (the local stack’s moto)', () => {
    const secretId = `cdc-pgtls-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
    const saved = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
    let sm: SecretsManagerClient;
    const secret = (password: string) =>
      JSON.stringify({
        username: 'cdc_secret_user',
        password,
        host: '127.0.0.1',
        port: cluster.port,
        dbname: 'postgres',
      });
    const admin = async (sql: string) => {
      const c = client({ PGSSLMODE: 'disable' }, { host: cluster.dir });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };

    before(async function () {
      this.timeout(120_000);
      await stackUp();
      applyLocalStackEnv(); // region and credentials of the emulators, as the other integration tests
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = `http://127.0.0.1:${PORTS.moto}`;
      sm = new SecretsManagerClient({
        region: process.env.AWS_REGION ?? 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      await admin(`CREATE ROLE cdc_secret_user LOGIN PASSWORD 'first-${secretId}'`);
      await sm.send(new CreateSecretCommand({ Name: secretId, SecretString: secret(`first-${secretId}`) }));
    });

    after(async () => {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
      else process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = saved;
      await sm
        ?.send(new DeleteSecretCommand({ SecretId: secretId, ForceDeleteWithoutRecovery: true }))
        .catch(() => undefined);
      sm?.destroy();
    });

    /** As the worker connects with CDC_PG_SECRET_ID: user, host, port and database all from the secret. */
    const fromSecret = () =>
      pgClient(
        {},
        { HOME: pki, PGSSLMODE: 'verify-full', PGSSLROOTCERT: rightCa, CDC_PG_SECRET_ID: secretId },
      );

    it('connects as the secret’s user, to its host, port and database, over verify-full', async () => {
      const c = fromSecret();
      await c.connect();
      try {
        const r = await c.query<{ user: string; db: string; ssl: boolean }>(
          'SELECT current_user AS user, current_database() AS db, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
        );
        assert.deepEqual(r.rows[0], { user: 'cdc_secret_user', db: 'postgres', ssl: true });
      } finally {
        await c.end();
      }
    });

    it('a secret that cannot be read is said in one line naming it', async () => {
      const c = pgClient(
        {},
        {
          HOME: pki,
          PGSSLMODE: 'verify-full',
          PGSSLROOTCERT: rightCa,
          CDC_PG_SECRET_ID: `${secretId}-missing`,
        },
      );
      await assert.rejects(
        c.connect(),
        new RegExp(
          `^PgConnectionError: PostgreSQL credentials: cannot read secret ${secretId}-missing \\(CDC_PG_SECRET_ID\\) from Secrets Manager: ResourceNotFoundException`,
        ),
      );
    });

    it('after a rotation, the refused password is said in one line (no password in it) and the next connection fetches the new one', async () => {
      await admin(`ALTER ROLE cdc_secret_user PASSWORD 'second-${secretId}'`);
      await sm.send(
        new PutSecretValueCommand({ SecretId: secretId, SecretString: secret(`second-${secretId}`) }),
      );
      // The process still holds the first password (fetched less than 10 minutes ago).
      await assert.rejects(fromSecret().connect(), (err: Error) => {
        assert.ok(err instanceof PgConnectionError, `our error: ${err.stack}`);
        assert.match(
          err.message,
          new RegExp(
            `authentication refused with the password of secret ${secretId} \\(fetched again for the next connection\\)`,
          ),
        );
        assert.ok(!err.message.includes(`first-${secretId}`), 'no password in the message');
        return true;
      });
      const c = fromSecret();
      await c.connect();
      try {
        assert.equal(
          (await c.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u,
          'cdc_secret_user',
        );
      } finally {
        await c.end();
      }
    });
  });
});
