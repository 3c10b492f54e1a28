import { describe, expect, it } from 'vitest';
import { onFreshPorts } from './etcd-server.ts';

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
