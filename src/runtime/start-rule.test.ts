import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import type { ConfigVersion } from '../store/store.ts';
import { chooseStartText, type StartPreference } from './start-rule.ts';

const latest: ConfigVersion = {
  version: 7,
  sha256: 'x',
  author: 'oncall',
  message: 'drain b2',
  createdAt: 2_000_000,
  source: 'api',
  text: 'stored',
};

function choose(prefer: StartPreference, fileMtimeMs: number, fileText = 'file') {
  return chooseStartText({ file: 'f.yaml', fileText, fileMtimeMs, latest, prefer });
}

describe('chooseStartText', () => {
  it('runs the file on an empty store, and resumes the latest version when they agree', () => {
    expect(
      chooseStartText({
        file: 'f.yaml',
        fileText: 'file',
        fileMtimeMs: 0,
        latest: undefined,
        prefer: 'none',
      }),
    ).toEqual({
      text: 'file',
      resume: undefined,
      warning: undefined,
    });
    for (const p of ['newer', 'file', 'store', 'none'] as const)
      expect(choose(p, 0, 'stored')).toEqual({ text: 'stored', resume: latest, warning: undefined });
  });

  it('newer: the history wins when it was committed after the file was written, else the file', () => {
    const store = choose('newer', 1_000_000);
    expect(store.text).toBe('stored');
    expect(store.resume).toBe(latest);
    expect(store.warning).toMatch(
      /f\.yaml .* differs from store version 7 \(api by oncall .*running version 7/,
    );
    const tie = choose('newer', 2_000_000);
    expect(tie.resume).toBe(latest);
    const file = choose('newer', 3_000_000);
    expect(file).toMatchObject({ text: 'file', resume: undefined });
    expect(file.warning).toMatch(/running the file \(written after that version\), committed as version 8/);
  });

  it('file and store force the choice; none refuses naming both', () => {
    expect(choose('file', 0)).toMatchObject({ text: 'file', resume: undefined });
    expect(choose('store', 9_000_000)).toMatchObject({ text: 'stored', resume: latest });
    let err: unknown;
    try {
      choose('none', 9_000_000);
    } catch (e) {
      err = e;
    }
    expect(isFulcrumError(err) && err.code).toBe('FULCRUM_ERR_START_HISTORY_DIFFERS');
    expect(String((err as Error).message)).toMatch(
      /--prefer file .* version 8\) or --prefer store to run version 7/,
    );
  });
});
