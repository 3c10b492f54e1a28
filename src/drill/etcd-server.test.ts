import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, onFreshPorts } from './etcd-server.ts';

const RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
const low = existsSync(RANGE) ? Number(readFileSync(RANGE, 'utf8').trim().split(/\s+/)[0]) : 32_768;

describe('freePort', () => {
  // Linux with the default range (32768-60999), as CI runs; elsewhere freePort takes the kernel's choice.
  it.runIf(existsSync(RANGE) && low - 10_000 > 1000)(
    'gives ports below the ephemeral range that a server can bind, never one twice',
    async () => {
      const ports: number[] = [];
      for (let i = 0; i < 40; i++) ports.push(await freePort());
      for (const p of ports) {
        expect(p).toBeGreaterThanOrEqual(10_000);
        expect(p).toBeLessThan(low);
      }
      expect(new Set(ports).size).toBe(ports.length);
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', resolve));
      await new Promise((resolve) => server.close(resolve));
    },
  );
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
