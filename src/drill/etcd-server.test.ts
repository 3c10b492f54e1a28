import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, onFreshPorts } from './etcd-server.ts';

describe('freePort', () => {
  it('gives ports below the ephemeral range that a server can bind, a different one each time', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(low);
    }
    expect(new Set(ports).size).toBeGreaterThan(15);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('onFreshPorts', () => {
  const taken = new Error('etcd exited with 1: listen tcp 127.0.0.1:44945: bind: address already in use');

  it('starts again on fresh ports when a port was taken between freePort() and the bind', async () => {
    let calls = 0;
    const started = await onFreshPorts(() => (++calls < 3 ? Promise.reject(taken) : Promise.resolve('up')));
    expect({ started, calls }).toEqual({ started: 'up', calls: 3 });
  });

  it('gives up after three attempts, and never repeats any other failure', async () => {
    let calls = 0;
    await expect(onFreshPorts(() => (calls++, Promise.reject(taken)))).rejects.toBe(taken);
    expect(calls).toBe(3);
    calls = 0;
    const other = new Error('etcd did not become ready within about 10 s');
    await expect(onFreshPorts(() => (calls++, Promise.reject(other)))).rejects.toBe(other);
    expect(calls).toBe(1);
  });
});
