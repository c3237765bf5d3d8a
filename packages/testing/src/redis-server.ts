import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';

/** A Redis the tests can use, and how to stop it (a no-op for one we did not start). */
export interface ProvidedRedis {
  url: string;
  /** Where it came from: the environment, a spawned binary, or a container. */
  source: 'REDIS_URL' | 'redis-server' | 'testcontainers';
  stop(): Promise<void>;
}

/** A redis-server process of our own, e.g. for tests that stop or restart Redis. */
export interface RedisServerProcess extends ProvidedRedis {
  port: number;
  dir: string;
  process: ChildProcess;
  /** Kills it at once (SIGKILL): no shutdown save. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function hasRedisServerBinary(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Waits until Redis at `url` answers PING, or throws after `timeoutMs`. */
export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1_000 } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      client.destroy();
      return;
    } catch (err) {
      lastError = err;
      client.destroy();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`Redis at ${url} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

export interface RedisServerOptions {
  /**
   * Run it in a process group of its own, so that Ctrl-C in a terminal (SIGINT
   * to the whole foreground group) leaves it running until the processes that
   * use it have closed (`pnpm cluster`); its owner must stop it.
   */
  ownProcessGroup?: boolean;
}

/**
 * Spawns `redis-server` on a free loopback port with a temporary directory.
 * `args` are extra config arguments (e.g. ['--appendonly', 'yes']).
 */
export async function startRedisServer(args: string[] = [], options: RedisServerOptions = {}): Promise<RedisServerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'streamjobs-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  const launch = () =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...args], {
      stdio: 'ignore',
      detached: options.ownProcessGroup ?? false,
    });
  const server: RedisServerProcess = {
    url,
    port,
    dir,
    source: 'redis-server',
    process: launch(),
    async kill() {
      await stopProcess(server.process, 'SIGKILL');
    },
    async restart() {
      await stopProcess(server.process, 'SIGKILL');
      server.process = launch();
      await waitForRedis(url);
    },
    async stop() {
      await stopProcess(server.process, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitForRedis(url);
  return server;
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * The Redis every test gets, in this order: `REDIS_URL`; else a `redis-server`
 * binary spawned on a free port; else a testcontainers Redis where Docker
 * runs; else an error saying how to get one.
 */
export async function provideRedis(): Promise<ProvidedRedis> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    await waitForRedis(fromEnv);
    return { url: fromEnv, source: 'REDIS_URL', stop: async () => undefined };
  }
  if (hasRedisServerBinary()) return startRedisServer();
  let dockerError: unknown;
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7').start();
    return { url: container.getConnectionUrl(), source: 'testcontainers', stop: async () => void (await container.stop()) };
  } catch (err) {
    dockerError = err;
  }
  throw new Error(
    'The tests need a Redis (>= 6.2) and found none. Do one of: set REDIS_URL=redis://host:port; ' +
      'install a redis-server binary on the PATH (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis); ' +
      `or run a Docker engine for testcontainers (it said: ${dockerError instanceof Error ? dockerError.message : String(dockerError)}).`,
  );
}
