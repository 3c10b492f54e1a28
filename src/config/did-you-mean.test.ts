import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from './did-you-mean.ts';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent transpositions as one edit', () => {
    expect(editDistance('weight', 'weight')).toBe(0);
    expect(editDistance('wight', 'weight')).toBe(1);
    expect(editDistance('weightt', 'weight')).toBe(1);
    expect(editDistance('waight', 'weight')).toBe(1);
    expect(editDistance('wieght', 'weight')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('didYouMean', () => {
  const keys = ['policy', 'hash', 'backends', 'healthCheck', 'outlierDetection', 'slowStart'];

  it('suggests the closest key', () => {
    expect(didYouMean('helthCheck', keys)).toBe('healthCheck');
    expect(didYouMean('backend', keys)).toBe('backends');
    expect(didYouMean('polcy', keys)).toBe('policy');
  });

  it('matches case differences regardless of length', () => {
    expect(didYouMean('healthcheck', keys)).toBe('healthCheck');
    expect(didYouMean('HASH', keys)).toBe('hash');
  });

  it('suggests nothing when nothing is close', () => {
    expect(didYouMean('timeout', keys)).toBeUndefined();
    expect(didYouMean('xy', keys)).toBeUndefined();
    expect(didYouMean('anything', [])).toBeUndefined();
  });
});
