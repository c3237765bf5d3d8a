import { clusterUrl } from '../helpers.js';
import { clusterSupported, startRedisCluster, type RedisClusterProcess } from '../redis-cluster.js';

declare global {
  // eslint-disable-next-line no-var
  var __streamjobsRedisCluster: RedisClusterProcess | undefined;
}

/**
 * For the jest project `cluster`: one 3-master Redis Cluster for the whole run
 * (or the one REDIS_CLUSTER_URL names, `redis-cluster://host:port,...`), whose URL the project's test files get
 * as REDIS_URL (cluster-env.ts). Test files isolate themselves by key prefix.
 */
export default async function clusterGlobalSetup(): Promise<void> {
  if (process.env.REDIS_CLUSTER_URL) return;
  if (!clusterSupported()) {
    throw new Error(
      'The jest project "cluster" needs redis-server >= 7 and redis-cli on the PATH to start a Redis Cluster, ' +
        'or REDIS_CLUSTER_URL=redis-cluster://host:port,host:port,... naming the masters of one; ' +
        'run only the single-node tests with --selectProjects single.',
    );
  }
  const cluster = await startRedisCluster(3);
  globalThis.__streamjobsRedisCluster = cluster;
  process.env.REDIS_CLUSTER_URL = clusterUrl(cluster.nodes);
}
