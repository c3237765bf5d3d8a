import { spawn, spawnSync } from 'node:child_process';
import { createClient } from 'redis';
import { freePort, startRedisServer, type RedisServerProcess } from './redis-server.js';

/** A Redis Cluster of our own on loopback: masters only, no replicas. */
export interface RedisClusterProcess {
  /** `redis://127.0.0.1:<port>` of every master, in start order. */
  nodes: string[];
  servers: RedisServerProcess[];
  /** Kills every node and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts `masters` redis-server processes in cluster mode (each on free ports
 * with a directory of its own), joins them with `redis-cli --cluster create`
 * (the slots split evenly) and waits until every node says `cluster_state:ok`.
 * Needs Redis >= 7 (`cluster-port` picks the bus port; the library's sharded
 * pub/sub needs 7 anyway).
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  const servers: RedisServerProcess[] = [];
  const stop = async () => void (await Promise.all(servers.map((server) => server.stop())));
  try {
    for (let i = 0; i < masters; i++) {
      servers.push(
        await startRedisServer([
          '--cluster-enabled', 'yes',
          '--cluster-port', String(await freePort()),
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', '5000',
        ]),
      );
    }
    await createCluster(servers.map((server) => `127.0.0.1:${server.port}`));
    await Promise.all(servers.map((server) => waitForClusterOk(server.url)));
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: servers.map((server) => server.url), servers, stop };
}

/** Whether the redis-server on the PATH can run the test cluster (>= 7: `cluster-port`, sharded pub/sub). */
export function clusterSupported(): boolean {
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const major = Number(/v=(\d+)\./.exec(version)?.[1] ?? 0);
  return major >= 7;
}

function createCluster(addresses: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    cli.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    cli.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    cli.on('error', reject);
    cli.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited ${code}: ${output}`))));
  });
}

/** Polls CLUSTER INFO until the node has every slot covered and agreed (`cluster_state:ok`). */
async function waitForClusterOk(url: string, timeoutMs = 30_000): Promise<void> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = String(await client.sendCommand(['CLUSTER', 'INFO']));
      if (info.includes('cluster_state:ok')) return;
      if (Date.now() > deadline) throw new Error(`cluster node ${url} not ok within ${timeoutMs} ms: ${info}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    client.destroy();
  }
}
