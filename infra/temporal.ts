import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import { ConfigurationError } from '../domain/core/errors';
import { dataConverter } from './codec/payloadCodec';

/**
 * The namespace to use: the one configured; unset, `default` only for a server on this machine (the
 * dev server). A server elsewhere (a self-hosted cluster, Temporal Cloud) needs its namespace named
 * (TEMPORAL_NAMESPACE or a temporal.toml profile): work never lands in `default` by omission.
 */
export function namespaceFor(address: string | undefined, namespace: string | undefined): string {
  if (namespace) return namespace;
  const host = (address ?? 'localhost:7233').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return 'default';
  throw new ConfigurationError(
    `Temporal at ${address}: name the namespace (TEMPORAL_NAMESPACE, or namespace in a temporal.toml profile); 'default' is assumed only for a server on this machine`,
  );
}

/** Temporal connection settings from Temporal's environment configuration (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key, profiles). */
function connectConfig() {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  return { connectionOptions, namespace: namespaceFor(connectionOptions.address, namespace) };
}

/**
 * The data converter of every client and worker: payloads (inputs, results, signals, queries,
 * memos) and failure messages encrypted with the keys of CDC_PAYLOAD_KEYS or CDC_PAYLOAD_KEY_FILE
 * (infra/codec). Throws a clear error when neither is set; the scripts set the local stack's key
 * file themselves (infra/localStack/environment.ts).
 */
export function temporalDataConverter(): DataConverter {
  return dataConverter();
}

export async function temporalClient(opts: { plainPayloads?: boolean } = {}): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig();
  // Before connecting: a missing key fails fast. Plain payloads are for benchmarks only.
  const converter = opts.plainPayloads ? undefined : temporalDataConverter();
  const connection = await Connection.connect(connectionOptions);
  return new Client({ connection, namespace, ...(converter ? { dataConverter: converter } : {}) });
}

export async function workerConnection(): Promise<{
  connection: NativeConnection;
  namespace: string;
  dataConverter: DataConverter;
}> {
  const { connectionOptions, namespace } = connectConfig();
  const converter = temporalDataConverter();
  return {
    connection: await NativeConnection.connect(connectionOptions),
    namespace,
    dataConverter: converter,
  };
}
