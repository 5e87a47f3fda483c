/**
 * The codec server (infra/codec/codecServer.ts) as a process: `tsx workers/codecServer.ts`.
 *
 * Keys: CDC_PAYLOAD_KEYS or CDC_PAYLOAD_KEY_FILE; without either, the local stack's key file when
 * Temporal goes to the local stack (infra/localStack/environment.ts). Settings: CDC_CODEC_PORT (default
 * 18233), CDC_CODEC_HOST (default 127.0.0.1), CDC_CODEC_ORIGINS (comma-separated origins of the
 * Web UI, default the local one), CDC_CODEC_TOKEN (require `Authorization: Bearer <token>`),
 * CDC_CODEC_JWKS_URL with CDC_CODEC_JWT_ISSUER, CDC_CODEC_JWT_AUDIENCE, CDC_CODEC_JWT_ALLOWED_EMAILS,
 * CDC_CODEC_JWT_EMAIL_CLAIM, CDC_CODEC_JWT_NAMESPACE_CLAIM (a JWT such as the Temporal Cloud UI's
 * user token; infra/codec/codecAuth.ts), CDC_CODEC_NAMESPACES, CDC_CODEC_TLS_CERT and
 * CDC_CODEC_TLS_KEY (PEM files: HTTPS). A bad setting stops it with one line naming the variable.
 * The local stack runs it as its `codec` service (`npm run stack up`); docs/deploy.md has the
 * Temporal Cloud setup.
 */
import { describeCodecAuth, probeJwks } from '../infra/codec/codecAuth';
import { codecServerSettings, startCodecServer } from '../infra/codec/codecServer';
import { keyringFromEnv, PAYLOAD_KEY_FILE_VAR, PAYLOAD_KEYS_VAR } from '../infra/codec/keyring';
import { EncryptionCodec } from '../infra/codec/payloadCodec';
import { useEnvironment } from '../infra/localStack/environment';
import { PORTS } from '../infra/localStack/localStack';

async function main(): Promise<void> {
  if (!process.env[PAYLOAD_KEYS_VAR] && !process.env[PAYLOAD_KEY_FILE_VAR]) await useEnvironment();
  const keyring = keyringFromEnv();
  // Refuses (one line) a bad setting, and a non-loopback CDC_CODEC_HOST or CDC_CODEC_ORIGINS=*
  // without CDC_CODEC_TOKEN or CDC_CODEC_JWKS_URL.
  const settings = codecServerSettings(process.env, [
    `http://127.0.0.1:${PORTS.temporalUi}`,
    `http://localhost:${PORTS.temporalUi}`,
  ]);
  const { host, port, origins, token, jwt, namespaces, tls, allowUnauthenticated } = settings;
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const server = await startCodecServer({
    codec: new EncryptionCodec(keyring),
    host,
    port,
    origins,
    ...(token ? { token } : {}),
    ...(jwt ? { jwt } : {}),
    ...(namespaces ? { namespaces } : {}),
    ...(tls ? { tls } : {}),
    ...(allowUnauthenticated ? { allowUnauthenticated } : {}),
    log,
  });
  log(
    `codec server on ${server.url} (keys: ${[...keyring.keys.keys()].join(', ')}, encrypting with ${keyring.currentKeyId}; ` +
      `origins: ${origins.join(', ')}; auth: ${describeCodecAuth({ token, jwt, namespaces })}; ` +
      `tls: ${tls ? `${tls.certFile}, valid to ${tls.validTo}` : 'none'})`,
  );
  if (jwt) {
    const probe = await probeJwks(jwt.jwksUrl);
    log(
      'keys' in probe
        ? `JWKS ${jwt.jwksUrl}: ${probe.keys} key(s)`
        : `warning: JWKS ${jwt.jwksUrl} cannot be used now (${probe.error}); token requests get 503 until it can`,
    );
  }
  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
