/**
 * A codec server: lets the Temporal Web UI and the `temporal` CLI show encrypted payloads in the
 * clear, without the key ever leaving this process.
 *
 * Temporal's codec-server protocol: `POST /encode` and `POST /decode` (also under a path prefix,
 * e.g. `/default/decode`) with a JSON body `{ "payloads": [{ "metadata": { "<key>": "<base64>" },
 * "data": "<base64>" }] }`, answered in the same shape. The Web UI calls it from the browser, so
 * the server answers CORS preflights for the UI's origins (with credentials, and the headers
 * `Authorization`, `Content-Type`, `X-Namespace`). With a token, every request but a preflight
 * or `GET /health` needs `Authorization: Bearer <token>` (401 otherwise). A request without
 * `payloads` (what `temporal workflow query` sends for a query without arguments) is an empty list.
 *
 * Whoever reaches it decrypts every payload, so it refuses to start (`CodecServerRefusal`, one
 * line) on a non-loopback address without a token, and with the origin `*` without a token. The
 * origin `*` is answered `Access-Control-Allow-Origin: *` without credentials: it never reflects
 * an arbitrary origin with `Access-Control-Allow-Credentials: true`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

export const DEFAULT_CODEC_PORT = 18233;
export const DEFAULT_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** A configuration the codec server refuses to start with (one line, naming the variable to set). */
export class CodecServerRefusal extends Error {
  override name = 'CodecServerRefusal';
}

/** Whether `host` only listens on this machine: 127.0.0.0/8, ::1 (also IPv4-mapped), `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return v4 !== null && v4.slice(1).every((o) => Number(o) <= 255) && v4[1] === '127';
}

/**
 * Throws a `CodecServerRefusal` for a configuration that lets others decrypt: a non-loopback
 * address without a token, or the origin `*` (any web page the operator opens) without a token.
 */
export function assertSafeCodecSettings(s: {
  host: string;
  origins: readonly string[];
  token?: string;
  /** A non-loopback address reachable only through a port published on the host's loopback (a container). */
  allowUnauthenticated?: boolean;
}): void {
  if (s.token) return;
  if (!isLoopbackHost(s.host) && !s.allowUnauthenticated)
    throw new CodecServerRefusal(
      `codec server: refusing to listen on ${s.host} without a token (anyone who reaches it decrypts every payload); ` +
        'set CDC_CODEC_TOKEN, or CDC_CODEC_HOST=127.0.0.1',
    );
  if (s.origins.includes('*'))
    throw new CodecServerRefusal(
      'codec server: refusing CDC_CODEC_ORIGINS=* without a token (any web page could decrypt through it); ' +
        'set CDC_CODEC_TOKEN, or list the Web UI origins',
    );
}

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins allowed to call from a browser (`*`: any, without credentials; needs a token). Default: the local Web UI. */
  origins?: readonly string[];
  /** When set, requests need `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * Listen on a non-loopback address without a token (CDC_CODEC_ALLOW_UNAUTHENTICATED=true): only
   * where nothing but this machine reaches it, e.g. a container whose port is published on 127.0.0.1.
   */
  allowUnauthenticated?: boolean;
  /** Request log (default: none). */
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  server: Server;
  /** e.g. `http://127.0.0.1:18233` */
  url: string;
  close(): Promise<void>;
}

/**
 * The codec server's settings from the environment: CDC_CODEC_HOST (default 127.0.0.1),
 * CDC_CODEC_PORT, CDC_CODEC_ORIGINS (comma-separated), CDC_CODEC_TOKEN,
 * CDC_CODEC_ALLOW_UNAUTHENTICATED (`true`: a non-loopback address without a token, for a container
 * published on loopback). Throws a `CodecServerRefusal` for an unsafe combination
 * (assertSafeCodecSettings).
 */
export function codecServerSettings(
  env: NodeJS.ProcessEnv = process.env,
  defaultOrigins: readonly string[] = DEFAULT_UI_ORIGINS,
): { host: string; port: number; origins: string[]; token?: string; allowUnauthenticated?: true } {
  const host = (env.CDC_CODEC_HOST ?? '').trim() || '127.0.0.1';
  const rawPort = env.CDC_CODEC_PORT ?? '';
  const port = rawPort === '' ? DEFAULT_CODEC_PORT : Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`CDC_CODEC_PORT=${rawPort} is not a TCP port`);
  const origins = (env.CDC_CODEC_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  const token = env.CDC_CODEC_TOKEN ?? '';
  const rawAllow = (env.CDC_CODEC_ALLOW_UNAUTHENTICATED ?? '').trim().toLowerCase();
  if (!['', 'true', 'false'].includes(rawAllow))
    throw new CodecServerRefusal(`CDC_CODEC_ALLOW_UNAUTHENTICATED=${rawAllow} is not true or false`);
  const settings = {
    host,
    port,
    origins: origins.length ? origins : [...defaultOrigins],
    ...(token ? { token } : {}),
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

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const given = Buffer.from(m[1].trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
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
      if (opts.token === undefined && !isLoopbackHost(hostnameOf(req.headers.host)))
        throw new HttpError(
          403,
          'without a token the codec server answers only requests to a loopback host name',
        );
      if (opts.token !== undefined && !tokenMatches(req.headers.authorization, opts.token)) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new HttpError(401, 'missing or wrong bearer token');
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
      log(`${op} ${payloads.length} payload(s) namespace=${String(req.headers['x-namespace'] ?? '-')}`);
      send(res, 200, { payloads: out.map(toJson) });
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 400; // a payload that does not decode
      const message = err instanceof Error ? err.message : String(err);
      log(`${req.method} ${path}: ${status} ${message}`);
      send(res, status, { error: message });
    }
  };
}

/**
 * Starts a codec server on `host:port` (default 127.0.0.1, port 0: any free one). Rejects with a
 * `CodecServerRefusal` on a non-loopback address or with the origin `*`, unless a token is set.
 */
export async function startCodecServer(
  opts: CodecServerOptions & { host?: string; port?: number },
): Promise<RunningCodecServer> {
  const host = opts.host ?? '127.0.0.1';
  assertSafeCodecSettings({
    host,
    origins: opts.origins ?? DEFAULT_UI_ORIGINS,
    token: opts.token,
    allowUnauthenticated: opts.allowUnauthenticated,
  });
  const handler = codecRequestHandler(opts);
  const server = createServer((req, res) => {
    handler(req, res).catch(() => res.destroy());
  });
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
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
