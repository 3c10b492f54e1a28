import { queryObjects } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { ApplyLock } from './apply-lock.ts';

class Result {
  readonly payload = new Array<number>(16).fill(1);
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('ApplyLock', () => {
  it('runs one function at a time, in order, whether the one before failed or not', async () => {
    const lock = new ApplyLock();
    const log: string[] = [];
    let release: () => void = () => {};
    const first = lock.run(
      () =>
        new Promise<string>((r) => {
          log.push('first start');
          release = () => {
            log.push('first end');
            r('a');
          };
        }),
    );
    const second = lock.run(async () => {
      log.push('second');
      throw new Error('refused');
    });
    const third = lock.run(async () => {
      log.push('third');
      return 'c';
    });
    await tick();
    expect(log).toEqual(['first start']);
    release();
    await expect(first).resolves.toBe('a');
    await expect(second).rejects.toThrow('refused');
    await expect(third).resolves.toBe('c');
    expect(log).toEqual(['first start', 'first end', 'second', 'third']);
  });

  it('does not keep the last result alive once its caller dropped it', async () => {
    const live = (): number => queryObjects(Result, { format: 'count' }) as number;
    await tick();
    const before = live();
    const lock = new ApplyLock();
    expect(await lock.run(async () => new Result())).toBeInstanceOf(Result);
    await tick();
    expect(live() - before).toBe(0);
    // The lock still orders what comes next.
    await expect(lock.run(async () => 'next')).resolves.toBe('next');
  });
});
