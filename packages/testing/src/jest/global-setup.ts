import { provideRedis, type ProvidedRedis } from '../redis-server.js';

declare global {
  // eslint-disable-next-line no-var
  var __streamjobsRedis: ProvidedRedis | undefined;
}

/** Provides one Redis for the whole run; test files isolate themselves by key prefix. */
export default async function globalSetup(): Promise<void> {
  const redis = await provideRedis();
  globalThis.__streamjobsRedis = redis;
  process.env.REDIS_URL = redis.url;
  process.env.STREAMJOBS_TEST_REDIS_SOURCE = redis.source;
}
