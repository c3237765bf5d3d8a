import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A Node process running one of the fixtures, with its stdout lines. */
export interface FixtureProcess {
  pid: number;
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line (seen so far or later) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnScriptOptions {
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  args?: string[];
  /** `pipe` to write to the process's stdin (`child.stdin`). Default: ignored. */
  stdin?: 'pipe' | 'ignore';
}

const tsxImport = '--import=tsx';

/**
 * Spawns `node` on a TypeScript fixture of this package (resolved through the
 * workspace packages' sources), passing `config` as JSON in STREAMJOBS_FIXTURE.
 */
export function spawnFixture(fixture: string, config: unknown, env: NodeJS.ProcessEnv = {}): FixtureProcess {
  const script = fileURLToPath(new URL(`./fixtures/${fixture}.ts`, import.meta.url));
  return spawnScript(script, { env: { ...env, STREAMJOBS_FIXTURE: JSON.stringify(config) } });
}

/**
 * Spawns `node` on any TypeScript file (an example, a script), with the
 * workspace packages resolved to their sources, and collects its stdout lines.
 */
export function spawnScript(script: string, { env = {}, args = [], stdin = 'ignore' }: SpawnScriptOptions = {}): FixtureProcess {
  const child = spawn(process.execPath, [tsxImport, '--conditions=source', script, ...args], {
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid!,
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 30_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${script} printed no line matching ${pattern} in ${timeoutMs} ms; stderr: ${stderr}`)),
          timeoutMs,
        );
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`${script} exited (${code ?? signal}) before printing ${pattern}; stderr: ${stderr}`));
        });
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
