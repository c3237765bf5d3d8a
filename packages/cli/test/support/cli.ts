import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from '@jest/globals';

/** The real bin, as built by `pnpm build` (which the test command runs first). */
const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time of the whole process (ms). */
  elapsedMs: number;
}

/**
 * Runs `streamjobs ...args` in a child process. `env` adds to (or, with
 * undefined values, removes from) the test's environment.
 */
export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "pnpm build" first`);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        if (err && code === null) reject(new Error(`streamjobs ${args.join(' ')} did not exit: ${err.message}; stderr: ${stderr}`));
        else resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
      },
    );
  });
}

/** A CLI bound to one Redis and one key prefix. */
export function cliFor(redis: string, prefix: string) {
  const target = ['--redis', redis, '--prefix', prefix];
  return {
    run: (...args: string[]) => runCli([...args, ...target]),
    /** Runs with `--json`, expects exit code 0, and parses stdout. */
    async json<T = any>(...args: string[]): Promise<T> {
      const result = await runCli([...args, ...target, '--json']);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      return JSON.parse(result.stdout) as T;
    },
    /** Runs without `--json`, expects exit code 0, and returns stdout. */
    async text(...args: string[]): Promise<string> {
      const result = await runCli([...args, ...target]);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      return result.stdout;
    },
  };
}

/** A table's rows as arrays of cells (columns are two or more spaces apart); the header row first. */
export function tableRows(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.trim().split(/ {2,}/));
}
