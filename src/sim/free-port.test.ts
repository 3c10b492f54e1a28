import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';

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
