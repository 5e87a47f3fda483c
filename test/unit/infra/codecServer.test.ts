import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  codecServerSettings,
  startCodecServer,
  type RunningCodecServer,
} from '../../../infra/codec/codecServer';
import { createKeyring } from '../../../infra/codec/keyring';
import { EncryptionCodec } from '../../../infra/codec/payloadCodec';

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}
const UI = 'http://127.0.0.1:8233';
const fromB64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe('codec server (HTTP)', () => {
  const codec = new EncryptionCodec(createKeyring([{ id: 'k1', key: randomBytes(32) }]));
  const marker = `marker-${randomBytes(4).toString('hex')}`;
  const plain = defaultPayloadConverter.toPayload({ email: `${marker}@example.com` });
  const plainJson: JsonPayload = {
    metadata: { encoding: Buffer.from(plain.metadata?.encoding ?? []).toString('base64') },
    data: Buffer.from(plain.data ?? []).toString('base64'),
  };
  let open: RunningCodecServer;
  let locked: RunningCodecServer;

  before(async () => {
    open = await startCodecServer({ codec });
    locked = await startCodecServer({ codec, token: 's3cret', origins: ['https://cloud.temporal.io'] });
  });
  after(async () => {
    await open?.close();
    await locked?.close();
  });

  const post = (
    server: RunningCodecServer,
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: UI, ...headers },
      body: JSON.stringify(body),
    });

  it('/encode then /decode gives the original payload back; the encoded one hides the marker', async () => {
    const enc = await post(open, '/encode', { payloads: [plainJson] });
    assert.equal(enc.status, 200);
    const encoded = (await enc.json()) as { payloads: JsonPayload[] };
    assert.equal(fromB64(encoded.payloads[0].metadata.encoding), 'binary/encrypted');
    assert.equal(fromB64(encoded.payloads[0].metadata['encryption-key-id']), 'k1');
    assert.ok(!fromB64(encoded.payloads[0].data).includes(marker));
    const dec = await post(open, '/decode', encoded);
    assert.equal(dec.status, 200);
    assert.equal(dec.headers.get('access-control-allow-origin'), UI);
    const decoded = (await dec.json()) as { payloads: JsonPayload[] };
    assert.deepEqual(decoded.payloads, [plainJson]);
    assert.ok(fromB64(decoded.payloads[0].data).includes(marker));
  });

  it('decodes under a path prefix and passes plain payloads through', async () => {
    const res = await post(open, '/default/decode', { payloads: [plainJson] });
    assert.deepEqual(((await res.json()) as { payloads: JsonPayload[] }).payloads, [plainJson]);
  });

  it('answers the CORS preflight of the Web UI (credentials, Authorization, Content-Type, X-Namespace)', async () => {
    const res = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://localhost:8233',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,x-namespace',
      },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8233');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'content-type', 'x-namespace']) assert.ok(allowed.includes(h), h);
  });

  it('gives no CORS grant to other origins', async () => {
    const res = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  it('with a token: 401 without or with a wrong bearer token, 200 with it; preflight needs none', async () => {
    const none = await post(
      locked,
      '/decode',
      { payloads: [plainJson] },
      { Origin: 'https://cloud.temporal.io' },
    );
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('access-control-allow-origin'), 'https://cloud.temporal.io');
    assert.equal(
      (await post(locked, '/decode', { payloads: [] }, { Authorization: 'Bearer nope' })).status,
      401,
    );
    assert.equal((await post(locked, '/encode', { payloads: [] }, { Authorization: 's3cret' })).status, 401);
    const ok = await post(locked, '/decode', { payloads: [plainJson] }, { Authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 200);
    const pre = await fetch(`${locked.url}/decode`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://cloud.temporal.io', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(pre.status, 204);
  });

  it('400 for a malformed body or a payload that does not decode; 404/405 elsewhere', async () => {
    assert.equal((await post(open, '/decode', { nope: 1 })).status, 400);
    const bad = await fetch(`${open.url}/decode`, { method: 'POST', body: '{' });
    assert.equal(bad.status, 400);
    const [enc] = await codec.encode([plain]);
    const other = await startCodecServer({
      codec: new EncryptionCodec(createKeyring([{ id: 'k2', key: randomBytes(32) }])),
    });
    try {
      const res = await post(other, '/decode', {
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(enc.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
            ),
            data: Buffer.from(enc.data ?? []).toString('base64'),
          },
        ],
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /no key "k1"/);
    } finally {
      await other.close();
    }
    assert.equal((await fetch(`${open.url}/nothing`, { method: 'POST', body: '{}' })).status, 404);
    assert.equal((await fetch(`${open.url}/decode`)).status, 405);
    assert.equal((await fetch(`${open.url}/health`)).status, 200);
  });

  it('a request without payloads is an empty list (`temporal workflow query` without arguments); what is there is still validated', async () => {
    for (const path of ['/decode', '/encode', '/default/decode']) {
      const res = await post(open, path, {});
      assert.equal(res.status, 200, path);
      assert.deepEqual(await res.json(), { payloads: [] });
    }
    assert.deepEqual(await (await post(open, '/decode', { payloads: [] })).json(), { payloads: [] });
    assert.equal((await post(open, '/decode', { payloads: 'x' })).status, 400);
    assert.equal((await post(open, '/decode', { payloads: [{ data: '!!' }] })).status, 400);
    assert.equal((await post(open, '/decode', { payload: [plainJson] })).status, 400, 'an unknown field');
    assert.equal((await post(open, '/decode', [])).status, 400);
    // The token is still required for an empty request.
    assert.equal((await post(locked, '/decode', {})).status, 401);
  });

  it('without a token, answers only requests to a loopback host name (no DNS rebinding)', async () => {
    const status = (server: RunningCodecServer, host: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const url = new URL(`${server.url}/decode`);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Host: host, ...headers },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ payloads: [] }));
      });
    const port = new URL(open.url).port;
    assert.equal(await status(open, `127.0.0.1:${port}`), 200);
    assert.equal(await status(open, `localhost:${port}`), 200);
    assert.equal(await status(open, `[::1]:${port}`), 200);
    assert.equal(await status(open, `evil.example.com:${port}`), 403, 'a rebound name is refused');
    // With a token the token decides, whatever the Host.
    assert.equal(
      await status(locked, `codec.example.com`, { Authorization: 'Bearer s3cret' }),
      200,
      'a token server behind a proxy',
    );
  });

  it('refuses to start on a non-loopback address without a token (one line naming CDC_CODEC_TOKEN)', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.5', 'codec.example']) {
      await assert.rejects(
        () => startCodecServer({ codec, host }),
        (err: Error) => {
          assert.match(err.message, /CDC_CODEC_TOKEN/);
          assert.match(err.message, new RegExp(host.replace(/[.]/g, '\\.')));
          assert.ok(!err.message.includes('\n'), err.message);
          return true;
        },
        host,
      );
      assert.throws(() => codecServerSettings({ CDC_CODEC_HOST: host }), /CDC_CODEC_TOKEN/, host);
    }
    // Loopback without a token, and any address with one, start.
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      assert.equal(codecServerSettings({ CDC_CODEC_HOST: host }).host, host);
      if (host === '127.0.0.2') continue; // not configured on every machine
      const s = await startCodecServer({ codec, host });
      await s.close();
    }
    const anyHost = await startCodecServer({ codec, host: '0.0.0.0', token: 't' });
    await anyHost.close();
    // A container's 0.0.0.0, published on the host's loopback only (docker-compose.yml), says so explicitly.
    const container = await startCodecServer({ codec, host: '0.0.0.0', allowUnauthenticated: true });
    await container.close();
    assert.equal(
      codecServerSettings({ CDC_CODEC_HOST: '0.0.0.0', CDC_CODEC_ALLOW_UNAUTHENTICATED: 'true' }).host,
      '0.0.0.0',
    );
    assert.throws(
      () => codecServerSettings({ CDC_CODEC_HOST: '0.0.0.0', CDC_CODEC_ALLOW_UNAUTHENTICATED: 'yes' }),
      /not true or false/,
    );
    await assert.rejects(
      () => startCodecServer({ codec, origins: ['*'], allowUnauthenticated: true }),
      /CDC_CODEC_ORIGINS=\*/,
    );
    assert.equal(codecServerSettings({ CDC_CODEC_HOST: '0.0.0.0', CDC_CODEC_TOKEN: 't' }).host, '0.0.0.0');
  });

  it('the codec server process (workers/codecServer.ts) on 0.0.0.0 without a token exits 1 with one line', async () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '..', '..', '..', 'workers', 'codecServer.ts')],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          CDC_PAYLOAD_KEYS: `k1:${randomBytes(32).toString('base64')}`,
          CDC_PAYLOAD_KEY_FILE: '',
          CDC_CODEC_HOST: '0.0.0.0',
          CDC_CODEC_PORT: '18299', // refused before it listens
          CDC_CODEC_TOKEN: '',
        },
      },
    );
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.match(run.stderr, /refusing to listen on 0\.0\.0\.0 without a token.*CDC_CODEC_TOKEN/);
  });

  it('CDC_CODEC_ORIGINS=* answers `*` without credentials, never reflecting an origin; needs a token', async () => {
    await assert.rejects(() => startCodecServer({ codec, origins: ['*'] }), /CDC_CODEC_TOKEN/);
    assert.throws(() => codecServerSettings({ CDC_CODEC_ORIGINS: '*' }), /CDC_CODEC_TOKEN/);
    const star = await startCodecServer({ codec, origins: ['*', UI], token: 't' });
    try {
      const pre = await fetch(`${star.url}/decode`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      assert.equal(pre.headers.get('access-control-allow-credentials'), null);
      const res = await post(
        star,
        '/decode',
        { payloads: [] },
        { Origin: 'https://evil.example', Authorization: 'Bearer t' },
      );
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.equal(res.headers.get('access-control-allow-credentials'), null);
      // An origin listed by name keeps its credentialed grant.
      const ui = await post(star, '/decode', { payloads: [] }, { Authorization: 'Bearer t' });
      assert.equal(ui.headers.get('access-control-allow-origin'), UI);
      assert.equal(ui.headers.get('access-control-allow-credentials'), 'true');
    } finally {
      await star.close();
    }
  });

  it('settings from the environment', () => {
    assert.deepEqual(codecServerSettings({}), {
      host: '127.0.0.1',
      port: 18233,
      origins: ['http://127.0.0.1:8233', 'http://localhost:8233'],
    });
    assert.deepEqual(
      codecServerSettings({
        CDC_CODEC_PORT: '9999',
        CDC_CODEC_ORIGINS: 'https://a.example/, https://b.example',
        CDC_CODEC_TOKEN: 't',
      }),
      { host: '127.0.0.1', port: 9999, origins: ['https://a.example', 'https://b.example'], token: 't' },
    );
    assert.throws(() => codecServerSettings({ CDC_CODEC_PORT: 'x' }), /CDC_CODEC_PORT=x/);
  });
});
