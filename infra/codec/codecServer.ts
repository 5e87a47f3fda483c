/**
 * A codec server: lets the Temporal Web UI and the `temporal` CLI show encrypted payloads in the
 * clear, without the key ever leaving this process.
 *
 * Temporal's codec-server protocol: `POST /encode` and `POST /decode` (also under a path prefix,
 * e.g. `/default/decode`) with a JSON body `{ "payloads": [{ "metadata": { "<key>": "<base64>" },
 * "data": "<base64>" }] }`, answered in the same shape. The Web UI calls it from the browser, so
 * the server answers CORS preflights for the UI's origins (with credentials, and the headers
 * `Authorization`, `Content-Type`, `X-Namespace`). With a token or a JWKS (codecAuth.ts), every
 * request but a preflight or `GET /health` needs `Authorization: Bearer <token or JWT>` (401/403
 * with a short reason otherwise, 503 when the JWKS cannot be fetched). A request without
 * `payloads` (what `temporal workflow query` sends for a query without arguments) is an empty list.
 *
 * Whoever reaches it decrypts every payload, so it refuses to start (`CodecServerRefusal`, one
 * line) on a non-loopback address without a token or JWKS, and with the origin `*` without one.
 * The origin `*` is answered `Access-Control-Allow-Origin: *` without credentials: it never
 * reflects an arbitrary origin with `Access-Control-Allow-Credentials: true`. With
 * `CDC_CODEC_TLS_CERT` / `CDC_CODEC_TLS_KEY` it serves HTTPS (and nothing over plain HTTP).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { codecAuthSettings, createCodecAuthorizer, type JwtAuthSettings } from './codecAuth';
import { isLoopbackHost } from './loopback';

export { isLoopbackHost };

export const DEFAULT_CODEC_PORT = 18233;
export const DEFAULT_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A configuration the codec server refuses to start with (one line, naming the variable to set). */
export class CodecServerRefusal extends Error {
  override name = 'CodecServerRefusal';
}

/**
 * Throws a `CodecServerRefusal` for a configuration that lets others decrypt: a non-loopback
 * address without a token (or JWKS), or the origin `*` (any web page the operator opens) without one.
 */
export function assertSafeCodecSettings(s: {
  host: string;
  origins: readonly string[];
  token?: string;
  jwt?: JwtAuthSettings;
  /** A non-loopback address reachable only through a port published on the host's loopback (a container). */
  allowUnauthenticated?: boolean;
}): void {
  if (s.token || s.jwt) return;
  if (!isLoopbackHost(s.host) && !s.allowUnauthenticated)
    throw new CodecServerRefusal(
      `codec server: refusing to listen on ${s.host} without a token (anyone who reaches it decrypts every payload); ` +
        'set CDC_CODEC_TOKEN or CDC_CODEC_JWKS_URL, or CDC_CODEC_HOST=127.0.0.1',
    );
  if (s.origins.includes('*'))
    throw new CodecServerRefusal(
      'codec server: refusing CDC_CODEC_ORIGINS=* without a token (any web page could decrypt through it); ' +
        'set CDC_CODEC_TOKEN or CDC_CODEC_JWKS_URL, or list the Web UI origins',
    );
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins allowed to call from a browser (`*`: any, without credentials; needs a token). Default: the local Web UI. */
  origins?: readonly string[];
  /** When set, requests need `Authorization: Bearer <token>` (or a JWT, with `jwt`). */
  token?: string;
  /** When set, requests need a JWT signed by a key of the JWKS (or the token, with `token`); codecAuth.ts. */
  jwt?: JwtAuthSettings;
  /** `X-Namespace` values answered (403 for others). Default: any. */
  namespaces?: string[];
  /**
   * Listen on a non-loopback address without a token (CDC_CODEC_ALLOW_UNAUTHENTICATED=true): only
   * where nothing but this machine reaches it, e.g. a container whose port is published on 127.0.0.1.
   */
  allowUnauthenticated?: boolean;
  /** Request log (default: none). */
  log?: (line: string) => void;
}

/** A certificate (chain) and its private key, PEM: the server speaks HTTPS only. */
export interface CodecTls {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface RunningCodecServer {
  server: Server;
  /** e.g. `http://127.0.0.1:18233`, `https://…` with TLS */
  url: string;
  close(): Promise<void>;
}

/** TLS settings: CDC_CODEC_TLS_CERT and CDC_CODEC_TLS_KEY, both or neither (PEM files, read now). */
const tlsEnvSchema = z
  .object({
    CDC_CODEC_TLS_CERT: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() ? v.trim() : undefined),
      z.string().optional(),
    ),
    CDC_CODEC_TLS_KEY: z.preprocess(
      (v) => (typeof v === 'string' && v.trim() ? v.trim() : undefined),
      z.string().optional(),
    ),
  })
  .superRefine((e, ctx) => {
    if ((e.CDC_CODEC_TLS_CERT === undefined) !== (e.CDC_CODEC_TLS_KEY === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [e.CDC_CODEC_TLS_CERT === undefined ? 'CDC_CODEC_TLS_CERT' : 'CDC_CODEC_TLS_KEY'],
        message: 'is needed too: TLS takes a certificate file and its key file',
      });
  });

function tlsFromEnv(
  env: NodeJS.ProcessEnv,
): (CodecTls & { cert: Buffer; key: Buffer; certFile: string; validTo: string }) | undefined {
  const parsed = tlsEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CodecServerRefusal(`codec server: ${issue.path.join('.')} ${issue.message}`);
  }
  const { CDC_CODEC_TLS_CERT: certFile, CDC_CODEC_TLS_KEY: keyFile } = parsed.data;
  if (certFile === undefined || keyFile === undefined) return undefined;
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new CodecServerRefusal(`codec server: ${name}=${file} cannot be read (${code})`);
    }
  };
  const cert = read('CDC_CODEC_TLS_CERT', certFile);
  const key = read('CDC_CODEC_TLS_KEY', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new CodecServerRefusal(`codec server: CDC_CODEC_TLS_CERT=${certFile} is not a PEM certificate`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new CodecServerRefusal(
      `codec server: CDC_CODEC_TLS_KEY=${keyFile} is not a PEM private key (unencrypted)`,
    );
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new CodecServerRefusal(
      `codec server: CDC_CODEC_TLS_KEY=${keyFile} is not the key of CDC_CODEC_TLS_CERT=${certFile}`,
    );
  if (new Date(x509.validTo).getTime() < Date.now())
    throw new CodecServerRefusal(`codec server: CDC_CODEC_TLS_CERT=${certFile} expired on ${x509.validTo}`);
  return { cert, key, certFile, validTo: x509.validTo };
}

/**
 * The codec server's settings from the environment: CDC_CODEC_HOST (default 127.0.0.1),
 * CDC_CODEC_PORT, CDC_CODEC_ORIGINS (comma-separated), CDC_CODEC_TOKEN, the JWT settings
 * (CDC_CODEC_JWKS_URL, CDC_CODEC_JWT_*, CDC_CODEC_NAMESPACES: codecAuth.ts), CDC_CODEC_TLS_CERT
 * and CDC_CODEC_TLS_KEY (PEM files: HTTPS), CDC_CODEC_ALLOW_UNAUTHENTICATED (`true`: a non-loopback
 * address without a token, for a container published on loopback). Throws a one-line error for a
 * bad or unsafe combination (assertSafeCodecSettings).
 */
export function codecServerSettings(
  env: NodeJS.ProcessEnv = process.env,
  defaultOrigins: readonly string[] = DEFAULT_UI_ORIGINS,
): {
  host: string;
  port: number;
  origins: string[];
  token?: string;
  jwt?: JwtAuthSettings;
  namespaces?: string[];
  tls?: CodecTls & { cert: Buffer; key: Buffer; certFile: string; validTo: string };
  allowUnauthenticated?: true;
} {
  const host = (env.CDC_CODEC_HOST ?? '').trim() || '127.0.0.1';
  const rawPort = env.CDC_CODEC_PORT ?? '';
  const port = rawPort === '' ? DEFAULT_CODEC_PORT : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`CDC_CODEC_PORT=${rawPort} is not a TCP port`);
  const origins = (env.CDC_CODEC_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  const { token, jwt, namespaces } = codecAuthSettings(env);
  const tls = tlsFromEnv(env);
  const rawAllow = (env.CDC_CODEC_ALLOW_UNAUTHENTICATED ?? '').trim().toLowerCase();
  if (!['', 'true', 'false'].includes(rawAllow))
    throw new CodecServerRefusal(`CDC_CODEC_ALLOW_UNAUTHENTICATED=${rawAllow} is not true or false`);
  const settings = {
    host,
    port,
    origins: origins.length ? origins : [...defaultOrigins],
    ...(token ? { token } : {}),
    ...(jwt ? { jwt } : {}),
    ...(namespaces ? { namespaces } : {}),
    ...(tls ? { tls } : {}),
    ...(rawAllow === 'true' ? { allowUnauthenticated: true as const } : {}),
  };
  assertSafeCodecSettings(settings);
  return settings;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
// `payloads` may be left out (protobuf JSON of an empty list: a query without arguments); other fields are refused.
const requestSchema = z
  .object({
    payloads: z
      .array(
        z.object({
          metadata: z.record(z.string(), base64).nullish(),
          data: base64.nullish(),
        }),
      )
      .nullish()
      .transform((p) => p ?? []),
  })
  .strict();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** For the log only. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const fromJson = (p: z.infer<typeof requestSchema>['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
  ),
  data: Buffer.from(p.data ?? '', 'base64'),
});

// A decoded empty payload's data can come back as a plain array (protobuf's default), not a Uint8Array.
const b64 = (b: Uint8Array | number[]) => Buffer.from(b).toString('base64');
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data ?? new Uint8Array()),
});

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The host name of a Host header (`127.0.0.1:18233`, `[::1]:18233`, `localhost`). */
function hostnameOf(header: string | undefined): string {
  const h = (header ?? '').trim();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  return h.replace(/:\d+$/, '');
}

/** The request handler (exported for embedding in another server). */
export function codecRequestHandler(opts: CodecServerOptions) {
  const origins = new Set((opts.origins ?? DEFAULT_UI_ORIGINS).map((o) => o.replace(/\/+$/, '')));
  const log = opts.log ?? (() => {});
  const authenticated = Boolean(opts.token || opts.jwt);
  const authorize = createCodecAuthorizer({
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.jwt ? { jwt: opts.jwt } : {}),
    ...(opts.namespaces ? { namespaces: opts.namespaces } : {}),
  });
  // The X-Namespace header, for the log: printable, bounded.
  const namespaceOf = (req: IncomingMessage) => {
    const v = req.headers['x-namespace'];
    return typeof v === 'string' && v ? v.replace(/[^\x21-\x7e]/g, '?').slice(0, 100) : undefined;
  };

  // A listed origin is reflected, with credentials; `*` is answered `*`, never with credentials.
  const cors = (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    } else if (origins.has('*')) {
      res.setHeader('Access-Control-Allow-Origin', '*');
    }
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
    const namespace = namespaceOf(req);
    cors(req, res);
    try {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-Namespace',
          'Access-Control-Max-Age': '600',
        });
        res.end();
        return;
      }
      if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' });
      const op = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
      if (!op) throw new HttpError(404, `no route ${req.method} ${path || '/'}; use POST /encode or /decode`);
      if (req.method !== 'POST') throw new HttpError(405, `${op} takes POST`);
      // Without a token, only requests addressed to this machine by name: a page on another
      // origin that rebinds its own host name to 127.0.0.1 (DNS rebinding) sends its own Host.
      if (!authenticated && !isLoopbackHost(hostnameOf(req.headers.host)))
        throw new HttpError(
          403,
          'without a token the codec server answers only requests to a loopback host name',
        );
      const decision = await authorize({ authorization: req.headers.authorization, namespace });
      if (!decision.ok) {
        if (decision.status === 401)
          res.setHeader(
            'WWW-Authenticate',
            req.headers.authorization
              ? `Bearer error="invalid_token", error_description="${decision.reason}"`
              : 'Bearer',
          );
        throw new HttpError(decision.status, decision.reason, decision.detail);
      }
      let json: unknown;
      try {
        json = JSON.parse(await readBody(req));
      } catch (err) {
        if (err instanceof HttpError) throw err;
        throw new HttpError(400, 'body is not JSON');
      }
      const parsed = requestSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const at = issue.path.length ? ` at ${issue.path.join('.')}` : '';
        throw new HttpError(
          400,
          `expected {"payloads":[{"metadata":{…},"data":"<base64>"}]}: ${issue.message}${at}`,
        );
      }
      const payloads = parsed.data.payloads.map(fromJson);
      const out = op === 'encode' ? await opts.codec.encode(payloads) : await opts.codec.decode(payloads);
      log(`${op} ${payloads.length} payload(s) namespace=${namespace ?? '-'} by=${decision.by}`);
      send(res, 200, { payloads: out.map(toJson) });
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 400; // a payload that does not decode
      const message = err instanceof Error ? err.message : String(err);
      const detail = err instanceof HttpError && err.detail ? ` (${err.detail})` : '';
      log(`${req.method} ${path}: ${status} ${message}${detail} namespace=${namespace ?? '-'}`);
      send(res, status, { error: message });
    }
  };
}

/**
 * Starts a codec server on `host:port` (default 127.0.0.1, port 0: any free one), HTTPS with
 * `tls`. Rejects with a `CodecServerRefusal` on a non-loopback address or with the origin `*`,
 * unless a token or a JWKS is set.
 */
export async function startCodecServer(
  opts: CodecServerOptions & { host?: string; port?: number; tls?: CodecTls },
): Promise<RunningCodecServer> {
  const host = opts.host ?? '127.0.0.1';
  assertSafeCodecSettings({
    host,
    origins: opts.origins ?? DEFAULT_UI_ORIGINS,
    token: opts.token,
    jwt: opts.jwt,
    allowUnauthenticated: opts.allowUnauthenticated,
  });
  const handler = codecRequestHandler(opts);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res).catch(() => res.destroy());
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, onRequest)
    : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
