// Ports on loopback "hosts" for the processes tests and benchmarks start (every test address is in 127.0.0.0/8).
import { createServer } from 'node:net';

/**
 * A TCP port the kernel considers free on `host` right now (bound to port 0, then released): for a listener a
 * test is about to start, or for an endpoint where nothing listens. Another process may take it meanwhile, so a
 * launcher that loses the race retries with new ports (see startServer in process-handle.ts, and cluster.ts).
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  if (!host.startsWith('127.')) return Promise.reject(new Error(`tests run on loopback only, not ${host}`));
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port assigned on ${host}`))));
    });
  });
}

/**
 * One free port per entry of `hosts` (repeat a host for several ports on it), all different from each other, so
 * that e.g. a client and a peer listener never get the same one. Gives up after 10 tries per port.
 */
export async function freePorts(hosts: readonly string[]): Promise<number[]> {
  const ports: number[] = [];
  for (const host of hosts) {
    let port = await freePort(host);
    for (let tries = 1; ports.includes(port); tries++) {
      if (tries >= 10) throw new Error(`no free port on ${host} distinct from ${ports.join(', ')}`);
      port = await freePort(host);
    }
    ports.push(port);
  }
  return ports;
}
