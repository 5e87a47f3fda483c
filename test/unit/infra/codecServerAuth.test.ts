import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import {
  codecServerSettings,
  startCodecServer,
  type RunningCodecServer,
} from '../../../infra/codec/codecServer';
import { createKeyring } from '../../../infra/codec/keyring';
import { EncryptionCodec } from '../../../infra/codec/payloadCodec';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/waitFor';

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}
const CLOUD_UI = 'https://cloud.temporal.io';
const ISSUER = 'https://idp.test.example/';
const AUDIENCE = 'https://saas-api.tmprl.cloud';
const EMAIL_CLAIM = 'https://saas-api.tmprl.cloud/user/email';
const KID = 'test-key-1';
const toJson = (p: {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/** A JWKS served over HTTP on a free loopback port, counting its requests. */
async function serveJwks(
  jwks: unknown,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(jwks));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('codec server: JWT against a JWKS, and TLS', function () {
  this.timeout(60_000);
  const codec = new EncryptionCodec(createKeyring([{ id: 'k1', key: randomBytes(32) }]));
  const marker = `marker-${randomBytes(4).toString('hex')}`;
  const plain = defaultPayloadConverter.toPayload({ email: `${marker}@example.com` });
  let encrypted: JsonPayload;
  let signingKey: KeyLike;
  let otherKey: KeyLike;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let server: RunningCodecServer;
  const logs: string[] = [];

  const sign = (
    claims: JWTPayload = {},
    o: { key?: KeyLike; kid?: string; iss?: string; aud?: string; exp?: number | string } = {},
  ) =>
    new SignJWT({ [EMAIL_CLAIM]: 'ops@example.com', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? KID })
      .setSubject('user-123')
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(o.exp ?? '5m')
      .sign(o.key ?? signingKey);

  const decode = (target: RunningCodecServer, authorization?: string, headers: Record<string, string> = {}) =>
    fetch(`${target.url}/decode`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-Namespace': 'orders',
        Origin: CLOUD_UI,
        ...(authorization ? { Authorization: authorization } : {}),
        ...headers,
      },
      body: JSON.stringify({ payloads: [encrypted] }),
    });

  before(async () => {
    [encrypted] = (await codec.encode([plain])).map(toJson);
    const pair = await generateKeyPair('ES256');
    signingKey = pair.privateKey;
    otherKey = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
    jwks = await serveJwks({ keys: [jwk] });
    server = await startCodecServer({
      codec,
      origins: [CLOUD_UI],
      jwt: {
        jwksUrl: jwks.url,
        issuer: ISSUER,
        audience: [AUDIENCE],
        allowedEmails: ['ops@example.com', '@sre.example.com'],
        emailClaims: [EMAIL_CLAIM, 'email'],
      },
      log: (line) => logs.push(line),
    });
  });
  after(async () => {
    await server?.close();
    await jwks?.close();
  });

  it('a valid token decodes the payload (with the CORS grant of the UI origin)', async () => {
    const res = await decode(server, `Bearer ${await sign()}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('access-control-allow-origin'), CLOUD_UI);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const body = (await res.json()) as { payloads: JsonPayload[] };
    assert.deepEqual(body.payloads, [toJson(plain)]);
    assert.ok(Buffer.from(body.payloads[0].data, 'base64').toString().includes(marker));
    assert.ok(jwks.hits() >= 1, 'the JWKS was fetched');
    // A user of an allowed domain too.
    const sre = await decode(server, `Bearer ${await sign({ [EMAIL_CLAIM]: 'ann@sre.example.com' })}`);
    assert.equal(sre.status, 200);
  });

  it('refuses: no token, expired, wrong issuer, wrong audience, another key, an unknown key id, alg none, not a JWT', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', kid: KID })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: now + 300, [EMAIL_CLAIM]: 'ops@example.com' }),
    ).toString('base64url')}.`;
    const cases: [string, string | undefined, RegExp][] = [
      ['no token', undefined, /missing bearer token/],
      ['not bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, /missing bearer token/],
      ['expired', `Bearer ${await sign({}, { exp: now - 600 })}`, /expired/],
      ['wrong issuer', `Bearer ${await sign({}, { iss: 'https://other-idp.example/' })}`, /issuer/],
      ['wrong audience', `Bearer ${await sign({}, { aud: 'https://someone-else.example' })}`, /audience/],
      ['another key', `Bearer ${await sign({}, { key: otherKey })}`, /signature/],
      ['unknown kid', `Bearer ${await sign({}, { key: otherKey, kid: 'nope' })}`, /no key of the JWKS/],
      ['alg none', `Bearer ${unsigned}`, /algorithm|malformed/],
      ['not a JWT', 'Bearer s3cret', /malformed/],
    ];
    for (const [what, auth, reason] of cases) {
      const res = await decode(server, auth);
      assert.equal(res.status, 401, what);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/, what);
      assert.equal(
        res.headers.get('access-control-allow-origin'),
        CLOUD_UI,
        `${what}: the UI can read the refusal`,
      );
      const { error } = (await res.json()) as { error: string };
      assert.match(error, reason, what);
      assert.ok(error.length < 120, `${what}: a short reason, got ${error}`);
    }
  });

  it('403 for a valid token of a user not allowed, or without an email', async () => {
    for (const claims of [{ [EMAIL_CLAIM]: 'mallory@example.net' }, { [EMAIL_CLAIM]: undefined }]) {
      const res = await decode(server, `Bearer ${await sign(claims)}`);
      assert.equal(res.status, 403);
      assert.match(((await res.json()) as { error: string }).error, /not allowed/);
    }
  });

  it('refusals are logged with their reason, never with the token or payload content', async () => {
    const token = await sign({}, { exp: Math.floor(Date.now() / 1000) - 600 });
    await (await decode(server, `Bearer ${token}`)).text();
    const line = logs.find((l) => l.includes('401') && l.includes('expired'));
    assert.ok(line, logs.join('\n'));
    assert.match(line, /namespace=orders/);
    const all = logs.join('\n');
    assert.ok(!all.includes(token) && !all.includes(token.split('.')[1]), 'no token in the log');
    assert.ok(!all.includes(marker) && !all.includes(encrypted.data), 'no payload content in the log');
    assert.ok(!all.includes('ops@example.com'), 'no email in the log');
    assert.ok(
      logs.some((l) => /^decode 1 payload\(s\) namespace=orders by=user-123$/.test(l)),
      all,
    );
  });

  it('with a static token and a JWKS, either one passes; the namespace claim and CDC_CODEC_NAMESPACES limit namespaces', async () => {
    const both = await startCodecServer({
      codec,
      origins: [CLOUD_UI],
      token: 's3cret',
      namespaces: ['orders', 'inventory'],
      jwt: {
        jwksUrl: jwks.url,
        audience: [AUDIENCE],
        emailClaims: [EMAIL_CLAIM],
        namespaceClaim: 'permissions',
      },
    });
    try {
      assert.equal((await decode(both, 'Bearer s3cret')).status, 200);
      assert.equal((await decode(both, 'Bearer wrong')).status, 401);
      const granted = await sign({ permissions: ['orders:read'] });
      assert.equal((await decode(both, `Bearer ${granted}`)).status, 200);
      const res = await decode(both, `Bearer ${granted}`, { 'X-Namespace': 'inventory' });
      assert.equal(res.status, 403, 'the claim does not grant inventory');
      assert.match(((await res.json()) as { error: string }).error, /namespace/);
      const other = await decode(both, 'Bearer s3cret', { 'X-Namespace': 'billing' });
      assert.equal(other.status, 403, 'a namespace this server does not serve');
    } finally {
      await both.close();
    }
  });

  it('503 when the JWKS cannot be fetched (and says so, not "invalid token")', async () => {
    const closedPort = await freePort();
    const s = await startCodecServer({
      codec,
      jwt: { jwksUrl: `http://127.0.0.1:${closedPort}/jwks.json`, emailClaims: ['email'] },
    });
    try {
      const res = await decode(s, `Bearer ${await sign()}`);
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { error: string }).error, /JWKS/);
    } finally {
      await s.close();
    }
  });

  describe('TLS (CDC_CODEC_TLS_CERT / CDC_CODEC_TLS_KEY)', () => {
    let dir: string;
    let ca: Buffer;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'codec-tls-'));
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      ssl(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '1',
        '-subj',
        '/CN=codec test CA',
      );
      ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      ssl(
        'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext',
      ); // prettier-ignore
      ca = readFileSync(join(dir, 'ca.crt'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const call = (
      url: string,
      opts: { ca?: Buffer; authorization?: string; plain?: boolean } = {},
    ): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const u = new URL(`${url}/decode`);
        const req = (opts.plain ? httpRequest : httpsRequest)(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: 'POST',
            headers: {
              'Content-Type': 'application/json',
              ...(opts.authorization ? { Authorization: opts.authorization } : {}),
            },
            ...(opts.ca ? { ca: opts.ca } : {}),
          },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ payloads: [encrypted] }));
      });

    it('serves https with the certificate: decodes with the CA trusted, refuses an untrusted client and plain http', async () => {
      const settings = codecServerSettings({
        CDC_CODEC_PORT: '0',
        CDC_CODEC_TOKEN: 's3cret',
        CDC_CODEC_TLS_CERT: join(dir, 'server.crt'),
        CDC_CODEC_TLS_KEY: join(dir, 'server.key'),
      });
      const tlsServer = await startCodecServer({ codec, ...settings });
      try {
        assert.match(tlsServer.url, /^https:\/\/127\.0\.0\.1:\d+$/);
        const ok = await call(tlsServer.url, { ca, authorization: 'Bearer s3cret' });
        assert.equal(ok.status, 200, ok.body);
        assert.ok(ok.body.includes(toJson(plain).data));
        await assert.rejects(
          () => call(tlsServer.url, { authorization: 'Bearer s3cret' }),
          /self[- ]signed|unable to verify|certificate/i,
        );
        const plainUrl = tlsServer.url.replace(/^https:/, 'http:');
        const refused = await call(plainUrl, { plain: true, authorization: 'Bearer s3cret' }).then(
          (r) => r.status,
          () => 'refused' as const,
        );
        assert.notEqual(refused, 200, 'plain http does not get an answer with payloads');
      } finally {
        await tlsServer.close();
      }
    });

    it('one line naming the variable for half a TLS configuration or an unreadable file', () => {
      assert.throws(
        () => codecServerSettings({ CDC_CODEC_TLS_CERT: join(dir, 'server.crt') }),
        /CDC_CODEC_TLS_KEY/,
      );
      assert.throws(
        () => codecServerSettings({ CDC_CODEC_TLS_KEY: join(dir, 'server.key') }),
        /CDC_CODEC_TLS_CERT/,
      );
      assert.throws(
        () =>
          codecServerSettings({
            CDC_CODEC_TLS_CERT: join(dir, 'missing.crt'),
            CDC_CODEC_TLS_KEY: join(dir, 'server.key'),
          }),
        (err: Error) => /CDC_CODEC_TLS_CERT/.test(err.message) && !err.message.includes('\n'),
      );
      assert.throws(
        () =>
          codecServerSettings({
            CDC_CODEC_TLS_CERT: join(dir, 'server.key'),
            CDC_CODEC_TLS_KEY: join(dir, 'server.key'),
          }),
        /CDC_CODEC_TLS_CERT.*certificate/,
      );
    });

    it('the process (workers/codecServer.ts) with TLS and a JWKS: https, a valid token decodes; bad config exits 1 with one line', async () => {
      const port = await freePort();
      const env = {
        ...process.env,
        CDC_PAYLOAD_KEYS: '',
        CDC_PAYLOAD_KEY_FILE: '',
        CDC_CODEC_HOST: '127.0.0.1',
        CDC_CODEC_PORT: String(port),
        CDC_CODEC_TOKEN: '',
        CDC_CODEC_ORIGINS: CLOUD_UI,
        CDC_CODEC_TLS_CERT: join(dir, 'server.crt'),
        CDC_CODEC_TLS_KEY: join(dir, 'server.key'),
        CDC_CODEC_JWKS_URL: jwks.url,
        CDC_CODEC_JWT_ISSUER: ISSUER,
        CDC_CODEC_JWT_AUDIENCE: AUDIENCE,
        CDC_CODEC_JWT_ALLOWED_EMAILS: 'ops@example.com',
      };
      const keyB64 = randomBytes(32).toString('base64');
      const processCodec = new EncryptionCodec(
        createKeyring([{ id: 'p1', key: Buffer.from(keyB64, 'base64') }]),
      );
      const [enc] = (await processCodec.encode([plain])).map(toJson);
      const script = join(__dirname, '..', '..', '..', 'workers', 'codecServer.ts');
      let out = '';
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], {
        env: { ...env, CDC_PAYLOAD_KEYS: `p1:${keyB64}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      try {
        await waitFor(
          'the codec server process to listen on https and fetch the JWKS',
          async () =>
            out.includes(`codec server on https://127.0.0.1:${port}`) &&
            out.includes(`JWKS ${jwks.url}: 1 key(s)`)
              ? true
              : undefined,
          { lastSeen: () => out },
        );
        const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpsRequest(
            {
              host: '127.0.0.1',
              port,
              path: '/decode',
              method: 'POST',
              ca,
              headers: { 'Content-Type': 'application/json', Authorization: '' },
            },
            (r) => {
              let body = '';
              r.on('data', (c: Buffer) => (body += c.toString()));
              r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
            },
          );
          req.on('error', reject);
          void sign().then((token) => {
            req.setHeader('Authorization', `Bearer ${token}`);
            req.end(JSON.stringify({ payloads: [enc] }));
          });
        });
        assert.equal(res.status, 200, res.body);
        assert.ok(res.body.includes(toJson(plain).data));
        assert.match(out, /auth: JWT \(JWKS http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json; issuer /);
        assert.match(out, /tls: .*server\.crt, valid to /);
      } finally {
        child.kill('SIGTERM');
      }
      const bad = await new Promise<{ code: number | null; out: string }>((resolve) => {
        let text = '';
        const p = spawn(process.execPath, ['--import', 'tsx', script], {
          env: { ...env, CDC_PAYLOAD_KEYS: `p1:${keyB64}`, CDC_CODEC_JWKS_URL: '', CDC_CODEC_TLS_KEY: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        p.stderr.on('data', (c: Buffer) => (text += c.toString()));
        p.on('exit', (code) => resolve({ code, out: text }));
      });
      assert.equal(bad.code, 1, bad.out);
      assert.equal(bad.out.trim().split('\n').length, 1, bad.out);
      assert.match(bad.out, /CDC_CODEC_/);
    });
  });
});
