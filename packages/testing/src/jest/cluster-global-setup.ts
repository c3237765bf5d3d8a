import { clusterUrl } from '../helpers.js';
import { startRedisCluster, type RedisClusterProcess } from '../redis-cluster.js';

declare global {
  // eslint-disable-next-line no-var
  var __streamjobsRedisCluster: RedisClusterProcess | undefined;
}

/**
 * For the jest project `cluster`: one 3-master Redis Cluster for the whole run
 * (or the one REDIS_CLUSTER_URL names), whose URL the project's test files get
 * as REDIS_URL (cluster-env.ts). Test files isolate themselves by key prefix.
 */
export default async function clusterGlobalSetup(): Promise<void> {
  if (process.env.REDIS_CLUSTER_URL) return;
  const cluster = await startRedisCluster(3);
  globalThis.__streamjobsRedisCluster = cluster;
  process.env.REDIS_CLUSTER_URL = clusterUrl(cluster.nodes);
}
