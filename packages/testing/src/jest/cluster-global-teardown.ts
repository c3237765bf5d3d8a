export default async function clusterGlobalTeardown(): Promise<void> {
  await globalThis.__streamjobsRedisCluster?.stop();
}
