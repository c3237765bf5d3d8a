/**
 * Where the examples find Redis: `REDIS_URL` (default redis://127.0.0.1:6379),
 * and `STREAMJOBS_PREFIX` (default `sj`), the start of every key, so several
 * runs (and the examples' tests) can share one Redis without seeing each other.
 */
export const connection = { url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' };
export const prefix = process.env.STREAMJOBS_PREFIX || 'sj';
