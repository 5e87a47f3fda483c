/**
 * The one place that turns the environment into PostgreSQL connections (docs/deploy.md,
 * "PostgreSQL on RDS and Aurora"). Every pg Client and Pool of the product is made here:
 * `pgClient(overrides?)`, `pgPool(overrides?)`.
 *
 * - **TLS as libpq decides it** (`PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`): node-postgres
 *   reads `PGSSLMODE` itself but treats `require` as full verification against Node's CAs and
 *   ignores `PGSSLROOTCERT`, so the `ssl` option is always set here, explicitly (pg's own reading
 *   of the variable never applies). The decision is the pure `decideTls`.
 * - **Passwords**: `PGPASSWORD` (or ~/.pgpass, as pg reads them) by default; from AWS Secrets
 *   Manager with `CDC_PG_SECRET_ID` (the secret RDS manages, JSON `{username, password, host?,
 *   port?, dbname?}`, fetched on first use, again after `SECRET_MAX_AGE_MS` and after an
 *   authentication failure); or an RDS IAM authentication token with `CDC_PG_IAM_AUTH=on`
 *   (signed per host/port/user, kept `IAM_TOKEN_MAX_AGE_MS` of its 15 minutes; pg asks for it on
 *   each new connection). IAM authentication needs TLS: refused below `PGSSLMODE=require`.
 * - **Errors**: a TLS failure or a refused authentication becomes one line naming the server, the
 *   mode, the root certificate file and what to change (`PgConnectionError`, the original as
 *   `cause`, its `code` kept); other errors pass unchanged. No password or token in any message.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Client, Pool, type ClientConfig, type PoolConfig } from 'pg';
import { z } from 'zod';
import { ConfigurationError } from '../domain/core/errors';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The RDS/Aurora CA bundle of every region (docs/deploy.md). */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';
/** A fetched secret is used this long, then fetched again (a rotation is also caught by an authentication failure). */
export const SECRET_MAX_AGE_MS = 10 * 60_000;
/** An IAM token is valid 15 minutes; a new one is signed after 10. */
export const IAM_TOKEN_MAX_AGE_MS = 10 * 60_000;

// ---------------------------------------------------------------------------------------------
// The environment

/** An empty variable is an unset one. */
const optionalText = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

const pgEnvSchema = z.object({
  PGSSLMODE: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .enum(SSL_MODES, {
        error: (issue) =>
          `PGSSLMODE "${String(issue.input)}" is not one of ${SSL_MODES.join(', ')} (libpq's sslmode)`,
      })
      .optional(),
  ),
  PGSSLROOTCERT: optionalText,
  PGSSLCERT: optionalText,
  PGSSLKEY: optionalText,
  CDC_PG_SECRET_ID: optionalText,
  CDC_PG_IAM_AUTH: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .enum(['on', 'off'], {
        error: (issue) => `CDC_PG_IAM_AUTH "${String(issue.input)}" is not on or off`,
      })
      .default('off'),
  ),
});

/** What the environment says about TLS and credentials, validated. */
export interface PgEnv {
  sslmode?: SslMode;
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  secretId?: string;
  iamAuth: boolean;
}

/** Reads and validates the variables (a ConfigurationError naming each wrong one). */
export function parsePgEnv(env: NodeJS.ProcessEnv): PgEnv {
  const r = pgEnvSchema.safeParse(env);
  if (!r.success) throw new ConfigurationError(r.error.issues.map((i) => i.message).join('; '));
  const e = r.data;
  return {
    ...(e.PGSSLMODE ? { sslmode: e.PGSSLMODE } : {}),
    ...(e.PGSSLROOTCERT ? { sslrootcert: e.PGSSLROOTCERT } : {}),
    ...(e.PGSSLCERT ? { sslcert: e.PGSSLCERT } : {}),
    ...(e.PGSSLKEY ? { sslkey: e.PGSSLKEY } : {}),
    ...(e.CDC_PG_SECRET_ID ? { secretId: e.CDC_PG_SECRET_ID } : {}),
    iamAuth: e.CDC_PG_IAM_AUTH === 'on',
  };
}

// ---------------------------------------------------------------------------------------------
// TLS: the pure decision

export interface TlsInput {
  /** PGSSLMODE; unset: libpq's default (`prefer`, or `verify-full` with PGSSLROOTCERT=system). */
  sslmode?: SslMode | undefined;
  /** PGSSLROOTCERT: a file of PEM certificates, or `system` (Node's trusted roots). */
  sslrootcert?: string | undefined;
  sslcert?: string | undefined;
  sslkey?: string | undefined;
  /** The home directory (libpq's defaults live in ~/.postgresql). */
  home?: string | undefined;
  /** Where the connection goes: a path (a Unix-domain socket directory) never uses TLS. */
  host: string;
}

/** A file's bytes, or undefined when it does not exist. */
export type ReadFile = (path: string) => Buffer | undefined;

export interface TlsDecision {
  mode: SslMode;
  /** pg's `ssl` option: false (no TLS) or Node's TLS options. */
  ssl: false | ConnectionOptions;
  /** What is checked of the server's certificate. */
  verify: 'none' | 'chain' | 'chain+host';
  /** The root certificates the chain is checked against: a file, or `system`. */
  rootCert?: string;
}

/**
 * libpq's decision, for pg:
 *
 * | PGSSLMODE | TLS | server certificate |
 * |---|---|---|
 * | disable | no | – |
 * | allow, prefer (libpq's default) | **no** (libpq tries TLS first with prefer; pg cannot fall back from a refused TLS to plain, so these connect without TLS: set require or stronger where the server needs TLS) | – |
 * | require | yes | not checked; checked like verify-ca when a root certificate file exists (PGSSLROOTCERT, else ~/.postgresql/root.crt) |
 * | verify-ca | yes | chain checked against the root certificates; the host name is not |
 * | verify-full | yes | chain and host name (the name connected to, or the IP address) |
 *
 * PGSSLROOTCERT=system uses Node's trusted roots and needs verify-full (its default then; weaker
 * modes are refused, as libpq 16 does). A client certificate (PGSSLCERT, else
 * ~/.postgresql/postgresql.crt) is presented when its file exists, with its key (PGSSLKEY, else
 * ~/.postgresql/postgresql.key). A Unix-domain socket never uses TLS (libpq does not either).
 */
export function decideTls(input: TlsInput, readFile: ReadFile): TlsDecision {
  const system = input.sslrootcert === 'system';
  const mode: SslMode = input.sslmode ?? (system ? 'verify-full' : 'prefer');
  if (input.host.startsWith('/') || mode === 'disable' || mode === 'allow' || mode === 'prefer')
    return { mode, ssl: false, verify: 'none' };

  const postgresqlDir = input.home ? join(input.home, '.postgresql') : undefined;
  const client = clientCertificate(input, postgresqlDir, readFile);
  if (system) {
    if (mode !== 'verify-full')
      throw new ConfigurationError(
        `PGSSLROOTCERT=system needs PGSSLMODE=verify-full (libpq refuses weaker modes with the system's roots); PGSSLMODE is ${mode}`,
      );
    return { mode, ssl: { rejectUnauthorized: true, ...client }, verify: 'chain+host', rootCert: 'system' };
  }
  const rootPath = input.sslrootcert ?? (postgresqlDir ? join(postgresqlDir, 'root.crt') : undefined);
  const ca = rootPath ? readFile(rootPath) : undefined;
  if (!ca) {
    if (mode === 'require') return { mode, ssl: { rejectUnauthorized: false, ...client }, verify: 'none' };
    throw new ConfigurationError(
      `PGSSLMODE=${mode}: root certificate file "${rootPath ?? '~/.postgresql/root.crt'}" does not exist. ` +
        `Set PGSSLROOTCERT to the CA certificates that signed the server's (RDS/Aurora: ${RDS_CA_BUNDLE_URL}), ` +
        `PGSSLROOTCERT=system for the system's trusted roots, or PGSSLMODE=require not to check the certificate`,
    );
  }
  if (mode === 'verify-full')
    return {
      mode,
      ssl: { ca, rejectUnauthorized: true, ...client },
      verify: 'chain+host',
      rootCert: rootPath!,
    };
  // verify-ca, and require with a root certificate: the chain, not the name.
  return {
    mode,
    ssl: { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined, ...client },
    verify: 'chain',
    rootCert: rootPath!,
  };
}

function clientCertificate(
  input: TlsInput,
  postgresqlDir: string | undefined,
  readFile: ReadFile,
): { cert?: Buffer; key?: Buffer } {
  const certPath = input.sslcert ?? (postgresqlDir ? join(postgresqlDir, 'postgresql.crt') : undefined);
  const cert = certPath ? readFile(certPath) : undefined;
  if (!cert) return {};
  const keyPath = input.sslkey ?? (postgresqlDir ? join(postgresqlDir, 'postgresql.key') : undefined);
  const key = keyPath ? readFile(keyPath) : undefined;
  if (!key)
    throw new ConfigurationError(
      `client certificate "${certPath}" has no private key: "${keyPath ?? '~/.postgresql/postgresql.key'}" does not exist (set PGSSLKEY)`,
    );
  return { cert, key };
}

// ---------------------------------------------------------------------------------------------
// The plan: TLS and credentials of one connection

export type PgAuth =
  { kind: 'env' } | { kind: 'secret'; secretId: string } | { kind: 'iam'; region?: string };

export interface ConnectionPlan {
  tls: TlsDecision;
  auth: PgAuth;
  /** The server connected to (overrides, PGHOST, else pg's default `localhost`) and port, for messages. */
  host: string;
  port: string;
}

/** What a connection made with `overrides` in `env` does (pure but for `readFile`). */
export function connectionPlan(
  env: NodeJS.ProcessEnv,
  overrides: Pick<ClientConfig, 'host' | 'port'>,
  readFile: ReadFile,
  home: string | undefined,
): ConnectionPlan {
  const e = parsePgEnv(env);
  const host = overrides.host ?? (env.PGHOST || 'localhost');
  const port = String(overrides.port ?? (env.PGPORT || 5432));
  const tls = decideTls({ ...e, home, host }, readFile);
  if (e.iamAuth && e.secretId)
    throw new ConfigurationError(
      'CDC_PG_SECRET_ID and CDC_PG_IAM_AUTH=on are both set: a password comes from one of them, unset the other',
    );
  if (e.iamAuth && !tls.ssl)
    throw new ConfigurationError(
      `CDC_PG_IAM_AUTH=on needs TLS: PGSSLMODE is ${e.sslmode ?? 'unset (prefer: no TLS here)'}; ` +
        `set PGSSLMODE=verify-full with PGSSLROOTCERT=<RDS CA bundle, ${RDS_CA_BUNDLE_URL}> (or at least require)`,
    );
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const auth: PgAuth = e.secretId
    ? { kind: 'secret', secretId: e.secretId }
    : e.iamAuth
      ? { kind: 'iam', ...(region ? { region } : {}) }
      : { kind: 'env' };
  return { tls, auth, host, port };
}

/** One line for logs: where PostgreSQL connections go and how (no secret values). */
export function describePgConnection(env: NodeJS.ProcessEnv = process.env): string {
  const plan = connectionPlan(env, {}, readIfExists, env.HOME || homedir());
  const tls = plan.tls.ssl
    ? `TLS ${plan.tls.mode}${plan.tls.rootCert ? ` (root certificates ${plan.tls.rootCert})` : ''}`
    : `no TLS (PGSSLMODE=${plan.tls.mode})`;
  const auth =
    plan.auth.kind === 'secret'
      ? `, credentials from secret ${plan.auth.secretId}`
      : plan.auth.kind === 'iam'
        ? ', RDS IAM authentication'
        : '';
  return `PostgreSQL ${plan.host}:${plan.port}, ${tls}${auth}`;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A connection refused for TLS or authentication, said in one line (the original is `cause`). */
export class PgConnectionError extends Error {
  override readonly name = 'PgConnectionError';
  readonly code: string | undefined;
  constructor(message: string, cause: Error & { code?: string }) {
    super(message, { cause });
    this.code = cause.code;
  }
}

/** Node's codes of a certificate chain that does not verify. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);
/** SQLSTATE invalid_authorization_specification (pg_hba refused) and invalid_password. */
const AUTH_REFUSED = '28000';
const BAD_PASSWORD = '28P01';

/**
 * The error a failed connect should raise instead of `err`, or undefined to keep `err`: a TLS
 * failure, a server that refuses plain connections, or a refused password, in one line.
 */
export function explainConnectError(
  err: Error & { code?: string },
  plan: ConnectionPlan,
): PgConnectionError | undefined {
  const where = `PostgreSQL ${plan.host}:${plan.port} (PGSSLMODE=${plan.tls.mode}${
    plan.tls.rootCert ? `, PGSSLROOTCERT=${plan.tls.rootCert}` : ''
  })`;
  const code = err.code ?? '';
  const say = (what: string) => new PgConnectionError(`${where}: ${what}`, err);
  if (UNTRUSTED.has(code))
    return say(
      `the server's certificate is not signed by a CA in ${plan.tls.rootCert === 'system' ? "Node's trusted roots" : (plan.tls.rootCert ?? 'the root certificates')}: ${err.message} (${code}). ` +
        `Set PGSSLROOTCERT to the CA certificates of the server's certificate (RDS/Aurora: ${RDS_CA_BUNDLE_URL})`,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return say(
      `the server's certificate does not name ${plan.host}: ${err.message}. Connect by a name the certificate carries ` +
        `(the RDS/Aurora endpoint, not a CNAME of your own or an IP address), or use PGSSLMODE=verify-ca to check the chain only`,
    );
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')
    return say(`the server's certificate is not valid now: ${err.message} (${code})`);
  if (/The server does not support SSL connections/.test(err.message))
    return say('the server does not accept TLS, and this mode requires it');
  if (code === AUTH_REFUSED && /no encryption|SSL off/.test(err.message) && !plan.tls.ssl)
    return say(
      `the server refused a connection without TLS: ${err.message}. Set PGSSLMODE=verify-full with PGSSLROOTCERT ` +
        `(RDS for PostgreSQL 15+ refuses plain connections by default: rds.force_ssl=1)`,
    );
  if (code === BAD_PASSWORD || (code === AUTH_REFUSED && plan.auth.kind !== 'env')) {
    const how =
      plan.auth.kind === 'secret'
        ? `the password of secret ${plan.auth.secretId} (fetched again for the next connection)`
        : plan.auth.kind === 'iam'
          ? 'an RDS IAM token (check rds_iam is granted to the user and rds-db:connect is allowed to this role for it)'
          : 'PGPASSWORD';
    return say(`authentication refused with ${how}: ${err.message}`);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Credentials: Secrets Manager and RDS IAM tokens (process-wide caches)

const secretSchema = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.union([z.number().int(), z.string().regex(/^\d+$/)]).optional(),
  dbname: z.string().min(1).optional(),
});
export type DatabaseSecret = z.infer<typeof secretSchema>;

interface Cached<T> {
  value: Promise<T>;
  at: number;
}
const secrets = new Map<string, Cached<DatabaseSecret>>();
const iamTokens = new Map<string, Cached<string>>();

/** The secret's JSON, validated; the message never holds its value. */
export function parseDatabaseSecret(secretId: string, text: string | undefined): DatabaseSecret {
  let json: unknown;
  try {
    json = JSON.parse(text ?? '');
  } catch {
    throw new ConfigurationError(
      `secret ${secretId} is not JSON (expected RDS's {"username", "password", ...})`,
    );
  }
  const r = secretSchema.safeParse(json);
  if (!r.success)
    throw new ConfigurationError(
      `secret ${secretId} is not a database secret: ${r.error.issues.map((i) => i.path.join('.') || 'value').join(', ')} missing or invalid`,
    );
  return r.data;
}

async function fetchSecret(secretId: string): Promise<DatabaseSecret> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const out = await client
      .send(new GetSecretValueCommand({ SecretId: secretId }))
      .catch((err: Error & { code?: string }) => {
        throw new PgConnectionError(
          `PostgreSQL credentials: cannot read secret ${secretId} (CDC_PG_SECRET_ID) from Secrets Manager: ${err.name}: ${err.message}`,
          err,
        );
      });
    return parseDatabaseSecret(secretId, out.SecretString);
  } finally {
    client.destroy();
  }
}

/** The secret, fetched on first use and again when older than SECRET_MAX_AGE_MS or forgotten. */
export function databaseSecret(secretId: string, now = Date.now()): Promise<DatabaseSecret> {
  const hit = secrets.get(secretId);
  if (hit && now - hit.at < SECRET_MAX_AGE_MS) return hit.value;
  const value = fetchSecret(secretId);
  secrets.set(secretId, { value, at: now });
  value.catch(() => secrets.delete(secretId)); // a failed fetch is tried again next time
  return value;
}

async function signIamToken(
  host: string,
  port: number,
  user: string,
  region: string | undefined,
): Promise<string> {
  const { Signer } = await import('@aws-sdk/rds-signer');
  return new Signer({ hostname: host, port, username: user, ...(region ? { region } : {}) }).getAuthToken();
}

/** An IAM authentication token for host/port/user, signed again after IAM_TOKEN_MAX_AGE_MS. */
export function iamToken(
  host: string,
  port: number,
  user: string,
  region: string | undefined,
  now = Date.now(),
): Promise<string> {
  const key = `${host}:${port}:${user}`;
  const hit = iamTokens.get(key);
  if (hit && now - hit.at < IAM_TOKEN_MAX_AGE_MS) return hit.value;
  const value = signIamToken(host, port, user, region);
  iamTokens.set(key, { value, at: now });
  value.catch(() => iamTokens.delete(key));
  return value;
}

/** Forgets the cached credential of `auth` (after the server refused it). */
function forgetCredentials(auth: PgAuth): void {
  if (auth.kind === 'secret') secrets.delete(auth.secretId);
  if (auth.kind === 'iam') iamTokens.clear();
}

// ---------------------------------------------------------------------------------------------
// Clients and pools

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigurationError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** pg's resolved connection parameters (not in @types/pg). */
interface ConnectionParameters {
  user?: string;
  host: string;
  port: number;
  database?: string;
}

/**
 * pg settings for `overrides` in this environment: `ssl` always explicit, `password` the secret's
 * or an IAM token (an async function pg calls when the server asks) when so configured. Explicit
 * `overrides.ssl`/`password` win. With a secret, user/host/port/database are completed at connect
 * (`pgClient`/`pgPool` do it): use those rather than `new Client(pgClientConfig())`.
 */
export function pgClientConfig(
  overrides: ClientConfig = {},
  env: NodeJS.ProcessEnv = process.env,
): ClientConfig {
  return settings(overrides, env).config;
}

function settings<T extends ClientConfig>(
  overrides: T,
  env: NodeJS.ProcessEnv,
): { config: T; plan: ConnectionPlan } {
  const plan = connectionPlan(env, overrides, readIfExists, env.HOME || homedir());
  const config = { ...overrides, ssl: overrides.ssl ?? plan.tls.ssl, ...passwordOption(plan, overrides) };
  return { config, plan };
}

function passwordOption(plan: ConnectionPlan, overrides: ClientConfig): Pick<ClientConfig, 'password'> {
  if (overrides.password !== undefined) return {};
  const { auth } = plan;
  if (auth.kind === 'secret') return { password: async () => (await databaseSecret(auth.secretId)).password };
  if (auth.kind === 'iam')
    return {
      // pg calls it with its resolved parameters (a documented contract; @types/pg types it without).
      password: ((params: ConnectionParameters) =>
        iamToken(params.host, Number(params.port), params.user ?? '', auth.region)) as () => Promise<string>,
    };
  return {};
}

/**
 * A pg Client class for one plan: before connecting it completes the settings from the secret
 * (its username; its host, port and dbname where neither the code nor PG* say), and a failed
 * connect raises `explainConnectError`'s one line (and forgets a refused credential).
 */
function clientClass(plan: ConnectionPlan, overrides: ClientConfig, env: NodeJS.ProcessEnv): typeof Client {
  return class PgClient extends Client {
    override connect(): Promise<Client>;
    override connect(callback: (err: Error | null, c?: Client) => void): void;
    override connect(callback?: (err: Error | null, c?: Client) => void): Promise<Client> | void {
      let target = plan;
      const connected = (async () => {
        target = await this.completeFromSecret();
        try {
          return await super.connect();
        } catch (e) {
          const err = e as Error & { code?: string };
          const mine = explainConnectError(err, target);
          if (mine && (err.code === BAD_PASSWORD || err.code === AUTH_REFUSED)) forgetCredentials(plan.auth);
          throw mine ?? err;
        }
      })();
      if (!callback) return connected;
      connected.then(
        (c) => callback(null, c),
        (err: Error) => callback(err),
      );
    }

    /** With a secret: its username, and its host, port and dbname where neither the code nor PG* say. */
    private async completeFromSecret(): Promise<ConnectionPlan> {
      if (plan.auth.kind !== 'secret') return plan;
      const secret = await databaseSecret(plan.auth.secretId);
      const fields = this as unknown as ConnectionParameters;
      const params = (this as unknown as { connectionParameters: ConnectionParameters }).connectionParameters;
      const set = <K extends keyof ConnectionParameters>(k: K, v: ConnectionParameters[K]) => {
        fields[k] = v;
        params[k] = v;
      };
      const target = { ...plan };
      if (overrides.user === undefined) set('user', secret.username);
      if (overrides.host === undefined && !env.PGHOST && secret.host)
        set('host', (target.host = secret.host));
      if (overrides.port === undefined && !env.PGPORT && secret.port !== undefined) {
        set('port', Number(secret.port));
        target.port = String(secret.port);
      }
      if (overrides.database === undefined && !env.PGDATABASE && secret.dbname)
        set('database', secret.dbname);
      return target;
    }
  };
}

/** A new, unconnected PostgreSQL client: PG* and the settings above, `overrides` winning. */
export function pgClient(overrides: ClientConfig = {}, env: NodeJS.ProcessEnv = process.env): Client {
  const { config, plan } = settings(overrides, env);
  const PgClient = clientClass(plan, overrides, env);
  return new PgClient(config);
}

/** A PostgreSQL pool whose connections are `pgClient`'s. */
export function pgPool(overrides: PoolConfig = {}, env: NodeJS.ProcessEnv = process.env): Pool {
  const { config, plan } = settings(overrides, env);
  return new Pool({ ...config, Client: clientClass(plan, overrides, env) });
}
