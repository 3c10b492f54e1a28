// What a CLI command may touch of the outside world; tests pass a capturing one.

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Replace the current line (a terminal's progress line); absent when stdout is not a TTY. */
  rewrite?(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/**
 * A reader that went away (`fulcrum history | head`) is not an error of the command: stop
 * writing to that stream instead of dying with an EPIPE stack trace. Called once by run.ts.
 */
export function tolerateClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

export const processIo: CliIo = {
  out: (t) => void (process.stdout.writable && process.stdout.write(t.endsWith('\n') ? t : `${t}\n`)),
  err: (t) => void (process.stderr.writable && process.stderr.write(t.endsWith('\n') ? t : `${t}\n`)),
  env: process.env,
  cwd: process.cwd(),
  ...(process.stdout.isTTY === true
    ? { rewrite: (t: string) => void process.stdout.write(`\r\x1b[2K${t}`) }
    : {}),
};

/** Exit codes shared by every verb (DESIGN.md): 0 clean, 1 could not run, 2 found problems. */
export const EXIT = { OK: 0, FAILED: 1, PROBLEMS: 2 } as const;

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function wantsColor(io: CliIo): boolean {
  if (io.env['NO_COLOR'] !== undefined && io.env['NO_COLOR'] !== '') return false;
  const force = io.env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0') return true;
  return io.out === processIo.out && process.stdout.isTTY === true;
}
