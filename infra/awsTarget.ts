import { ConfigurationError } from '../domain/core/errors';

/**
 * Whether this process may create AWS clients. A command reaches an AWS account only when told
 * where: AWS_ENDPOINT_URL[_<SERVICE>] set (by the user, or filled with the local stack's by
 * infra/localStack/environment.ts), or `CDC_TARGET=aws` (`cdc --target aws`), or `CDC_USE_AWS=true`
 * (an instance role). Credentials in the shell alone never send a command to a real account.
 */
export function awsTargetRefusal(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CDC_TARGET === 'aws' || env.CDC_USE_AWS === 'true') return undefined;
  if (Object.keys(env).some((n) => /^AWS_ENDPOINT_URL(_[A-Z0-9_]+)?$/.test(n) && (env[n] ?? '') !== ''))
    return undefined;
  return (
    'AWS: no target (no AWS_ENDPOINT_URL*, no CDC_TARGET=aws, and the local stack is not running; ' +
    'credentials in the shell choose nothing): start the local stack with npm run stack up, ' +
    'or say --target aws (CDC_TARGET=aws) for real AWS'
  );
}

/** Throws when nothing says where AWS is (see awsTargetRefusal). */
export function assertAwsTarget(): void {
  const refused = awsTargetRefusal();
  if (refused) throw new ConfigurationError(refused);
}
