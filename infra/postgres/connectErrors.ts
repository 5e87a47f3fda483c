/** A PostgreSQL connection refused for TLS or authentication, said in one line. */
import type { ConnectionPlan } from '../pgConnection';
import { RDS_CA_BUNDLE_URL } from './tls';

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
export const AUTH_REFUSED = '28000';
export const BAD_PASSWORD = '28P01';

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
