/**
 * PostgreSQL passwords from AWS Secrets Manager (`CDC_PG_SECRET_ID`) or an RDS IAM token
 * (`CDC_PG_IAM_AUTH=on`), cached process-wide, used by infra/pgConnection.ts.
 */
import { z } from 'zod';
import { ConfigurationError } from '../../domain/core/errors';
import { PgConnectionError } from './connectErrors';

/** A fetched secret is used this long, then fetched again (a rotation is also caught by an authentication failure). */
export const SECRET_MAX_AGE_MS = 10 * 60_000;
/** An IAM token is valid 15 minutes; a new one is signed after 10. */
export const IAM_TOKEN_MAX_AGE_MS = 10 * 60_000;

export type PgAuth =
  { kind: 'env' } | { kind: 'secret'; secretId: string } | { kind: 'iam'; region?: string };

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
export function forgetCredentials(auth: PgAuth): void {
  if (auth.kind === 'secret') secrets.delete(auth.secretId);
  if (auth.kind === 'iam') iamTokens.clear();
}
