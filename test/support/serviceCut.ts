import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A service outage of one test's own: a TCP proxy on loopback in front of a local stack service,
 * which the test cuts (connections refused, open ones reset, as when the service is down) and
 * restores. Unlike stopping the shared service, nothing else on the stack notices, and nothing the
 * service holds is lost (moto keeps nothing across a restart).
 */
export interface ServiceCut {
  /** `http://127.0.0.1:<port>`: what the test's clients use instead of the service's own endpoint. */
  endpoint: string;
  /** The service is down for the clients of `endpoint`. */
  down(): Promise<void>;
  /** Back up, on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function serviceCut(targetPort: number): Promise<ServiceCut> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('error', () => undefined);
          sock.on('close', () => {
            sockets.delete(sock);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const down = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const sock of sockets) sock.destroy();
    await closed;
  };
  await listen();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    down,
    up: async () => {
      if (!server) await listen();
    },
    close: down,
  };
}
