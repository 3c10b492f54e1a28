// Free loopback ports for servers that tests and benches start, stop and start again.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The first port of the kernel's ephemeral range (source ports of outgoing connections, port 0). */
const EPHEMERAL_LOW = ((): number => {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
})();
const QUIET_LOW = 10_000;
/** Ports given out by this process: each is let go before the next is drawn. */
const handedOut = new Set<number>();

/**
 * A port free now on 127.0.0.1 for a server a test starts, stops and starts again on the same
 * address (an etcd member, a fleet instance), or a bench's backends and listeners. Drawn below the ephemeral range: there, any
 * outgoing connection of any process may take it as its source port while the server is
 * stopped, and the restart fails with "address already in use" (an etcd member restarted in a
 * suite that ran beside another copy of itself). Falls back to the kernel's choice when the
 * range below is too small. Never the same port twice in one process.
 */
export async function freePort(): Promise<number> {
  const span = EPHEMERAL_LOW - QUIET_LOW;
  for (let i = 0; span > 1000 && i < 50; i++) {
    const port = QUIET_LOW + Math.floor(Math.random() * span);
    if (!handedOut.has(port) && (await listenOnce(port))) {
      handedOut.add(port);
      return port;
    }
  }
  return (await listenOnce(0)) as number;
}

/** Bind `port` (0: any) and let it go: the port bound, or false when it was taken. */
function listenOnce(port: number): Promise<number | false> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' && port !== 0 ? resolve(false) : reject(err),
    );
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
