/**
 * The live wallboard (issue 14, part 3): a small HTTP server on loopback that keeps a board
 * (`domain/wallboard/board.ts`) fed from its own SQS queues, which the EventBridge rules fill next
 * to the consumers' (`wallboard/queueFeed.ts`), and pushes it to browsers with Server-Sent Events.
 *
 * Routes (GET): `/` the page, `/events` SSE (a full snapshot on connect, then updates; a heartbeat
 * comment every 15 s), `/board.json` the snapshot, `/healthz` the feed's state (503 while a
 * queue's receives fail).
 *
 * Runnable on its own (`npm run wallboard`): connects like the other scripts (the standard
 * variables, else the local stack) and serves on `CDC_WALLBOARD_PORT` (default 18080). It reads
 * queues of its own (a second target on each EventBridge rule, `<queue>-board`), so the consumers'
 * queues still get every event; it takes the messages off its own queues: run one board per bus
 * (docs/wallboard.md).
 */
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ConfigurationError } from '../domain/core/errors';
import { Board, PendingChanges, type BoardLimits } from '../domain/wallboard/board';
import { awsClients } from '../infra/aws';
import type { PipelineConfig } from '../infra/config';
import { eventRouting } from '../infra/provisioning';
import { startQueueFeed, type FeedOptions, type QueueFeed } from './queueFeed';

export const DEFAULT_WALLBOARD_PORT = 18080;
const HEARTBEAT_MS = 15_000;
/** Updates are coalesced for this long, so a burst of batches becomes one message per client. */
const FLUSH_DELAY_MS = 20;
/** A client that does not read (its buffer grows past this) is dropped; it reconnects and gets a snapshot. */
const MAX_CLIENT_BUFFER = 1 << 20;
const MAX_CLIENTS = 100;
/** The browser waits this long before reconnecting (the SSE `retry` field). */
const RECONNECT_MS = 1_000;

/** `CDC_WALLBOARD_PORT`: a port, 0 for any free one, or `off`; default 18080. undefined: off. */
export function wallboardPort(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = (env.CDC_WALLBOARD_PORT ?? '').trim();
  if (raw === '') return DEFAULT_WALLBOARD_PORT;
  if (raw.toLowerCase() === 'off') return undefined;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65_535)
    throw new ConfigurationError(
      `invalid CDC_WALLBOARD_PORT '${raw}': a port (0-65535, 0 = any free one) or off`,
    );
  return port;
}

/**
 * The queues the wallboard reads: its own (`boardQueues`, each rule's second target), never the
 * consumers' queues: inventory (and reservations), orders, alerts, users.
 */
export function wallboardQueues(bus: string): string[] {
  const { boardQueues } = eventRouting(bus);
  return [boardQueues.inventory, boardQueues.wallboardOrders, boardQueues.alerts, boardQueues.wallboardUsers];
}

export interface WallboardOptions {
  config: PipelineConfig;
  /** Default `CDC_WALLBOARD_PORT` or 18080; 0: any free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  limits?: Partial<BoardLimits>;
  feed?: Partial<FeedOptions>;
  log?: (line: string) => void;
}

export interface Wallboard {
  url: string;
  board: Board;
  /** The feed's state per queue and the number of connected browsers. */
  health(): { ok: boolean; clients: number; queues: ReturnType<QueueFeed['status']> };
  stop(): Promise<void>;
}

let page: string | undefined;
const pageHtml = () => (page ??= readFileSync(join(__dirname, 'page.html'), 'utf8'));

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS })
    .end(`${JSON.stringify(body)}\n`);
}

const sseMessage = (event: string, data: unknown, id?: number) =>
  `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

export async function startWallboard(opts: WallboardOptions): Promise<Wallboard> {
  const { config } = opts;
  const log = opts.log ?? ((line: string) => console.error(`wallboard: ${line}`));
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? wallboardPort() ?? DEFAULT_WALLBOARD_PORT;
  const board = new Board(opts.limits);
  const queues = wallboardQueues(config.eventBus);
  const meta = { bus: config.eventBus, queues };
  const clients = new Set<ServerResponse>();
  const pending = new PendingChanges();
  let flushTimer: NodeJS.Timeout | undefined;
  pageHtml(); // read before listening: a missing page is a start-up error, not a 500 later

  const broadcast = (chunk: string) => {
    for (const res of clients) {
      res.write(chunk);
      if (res.writableLength > MAX_CLIENT_BUFFER) {
        log('dropping a browser that does not keep up (it reconnects and gets a snapshot)');
        clients.delete(res);
        res.destroy();
      }
    }
  };

  const flush = () => {
    flushTimer = undefined;
    if (!pending.dirty) return;
    const update = board.update(pending);
    pending.clear();
    if (clients.size) broadcast(sseMessage('update', update, update.revision));
  };

  const feed = startQueueFeed({
    sqs: awsClients().sqs,
    board,
    queues,
    log,
    ...(opts.feed ? { options: opts.feed } : {}),
    onApplied: (results) => {
      for (const r of results) pending.add(r.touched);
      flushTimer ??= setTimeout(flush, FLUSH_DELAY_MS);
    },
  });

  const heartbeat = setInterval(() => broadcast(`: heartbeat ${new Date().toISOString()}\n\n`), HEARTBEAT_MS);
  heartbeat.unref();

  const health = () => {
    const status = feed.status();
    return { ok: status.every((q) => !q.failing), clients: clients.size, queues: status };
  };

  const events = (req: IncomingMessage, res: ServerResponse) => {
    if (clients.size >= MAX_CLIENTS) {
      sendJson(res, 503, { error: `at most ${MAX_CLIENTS} browsers` });
      return;
    }
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true, HEARTBEAT_MS);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // a proxy in front must not buffer the stream
      ...SECURITY_HEADERS,
    });
    const snapshot = board.snapshot();
    res.write(`retry: ${RECONNECT_MS}\n\n`);
    res.write(sseMessage('snapshot', { ...snapshot, meta }, snapshot.revision));
    clients.add(res);
    const gone = () => clients.delete(res);
    req.once('close', gone);
    res.once('close', gone);
    res.once('error', gone);
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'GET only' });
      return;
    }
    switch (path) {
      case '/':
      case '/index.html':
        res
          .writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            // Inline script and style only; the page loads nothing else and talks only to this server.
            'content-security-policy':
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
            ...SECURITY_HEADERS,
          })
          .end(pageHtml());
        return;
      case '/events':
        events(req, res);
        return;
      case '/board.json':
        sendJson(res, 200, { ...board.snapshot(), meta });
        return;
      case '/healthz': {
        const h = health();
        sendJson(res, h.ok ? 200 : 503, h);
        return;
      }
      default:
        sendJson(res, 404, { error: 'not found', routes: ['/', '/events', '/board.json', '/healthz'] });
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    clearInterval(heartbeat);
    await feed.stop();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${host}:${address.port}/`;

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      clearInterval(heartbeat);
      await feed.stop();
      if (flushTimer) clearTimeout(flushTimer);
      for (const res of clients) res.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })());

  return { url, board, health, stop };
}

/** `npm run wallboard`: the wallboard alone, for the pipeline the environment configures. */
async function main(): Promise<void> {
  const { useEnvironment } = await import('../infra/localStack/environment');
  const { loadConfig } = await import('../infra/config');
  const { destroyAwsClients } = await import('../infra/aws');
  await useEnvironment({ summary: false });
  const config = loadConfig();
  const wallboard = await startWallboard({ config });
  console.log(`Wallboard: ${wallboard.url} (bus ${config.eventBus}; Ctrl-C stops it)`);
  const shutdown = () => {
    void wallboard.stop().then(() => destroyAwsClients());
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? `wallboard: ${err.name}: ${err.message}` : err);
    process.exit(1);
  });
}
