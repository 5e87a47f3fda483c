/**
 * The one place that turns the environment into PostgreSQL connections (docs/deploy.md,
 * "PostgreSQL on RDS and Aurora"). Every pg Client and Pool of the product is made here:
 * `pgClient(overrides?)`, `pgPool(overrides?)`. Its parts are in infra/postgres/: the TLS decision
 * (`tls.ts`), passwords from Secrets Manager or IAM (`credentials.ts`), one-line errors
 * (`connectErrors.ts`).
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
import { Client, Pool, type ClientConfig, type PoolConfig } from 'pg';
import { z } from 'zod';
import { ConfigurationError } from '../domain/core/errors';
import { AUTH_REFUSED, BAD_PASSWORD, explainConnectError } from './postgres/connectErrors';
import { databaseSecret, forgetCredentials, iamToken, type PgAuth } from './postgres/credentials';
import {
  decideTls,
  RDS_CA_BUNDLE_URL,
  SSL_MODES,
  type ReadFile,
  type SslMode,
  type TlsDecision,
} from './postgres/tls';

export { PgConnectionError } from './postgres/connectErrors';

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
// The plan: TLS and credentials of one connection

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
