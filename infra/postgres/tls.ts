/**
 * TLS for PostgreSQL connections as libpq decides it (PGSSLMODE, PGSSLROOTCERT, PGSSLCERT,
 * PGSSLKEY): the pure decision `decideTls`, used by infra/pgConnection.ts.
 */
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { ConfigurationError } from '../../domain/core/errors';

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The RDS/Aurora CA bundle of every region (docs/deploy.md). */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';

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
