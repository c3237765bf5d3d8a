/**
 * What the processes of the demo cluster share, read from the environment as
 * docker compose (docker-compose.yml) and `pnpm cluster` (main.ts) pass it:
 *
 * - `REDIS_URL` (default redis://127.0.0.1:6379) and `STREAMJOBS_PREFIX` (default `sj`);
 * - `WORKER_CONCURRENCY` (default 8): jobs each worker process runs at once;
 * - `PRODUCER_RATE` (default 10): jobs the producer adds per second.
 */
export const QUEUE = 'cluster';

/**
 * How long a worker that is told to stop (SIGTERM: `docker compose up
 * --scale worker=1`, or scaling down in `pnpm cluster`) waits for its running
 * jobs before it hands the rest back. Plain jobs take at most 250 ms and
 * finish; imports take longer and are handed back mid-way, to resume from
 * their checkpoint elsewhere. docker-compose.yml's `stop_grace_period` must
 * stay above it, or docker SIGKILLs the worker before it has handed back.
 */
export const WORKER_CLOSE_TIMEOUT_MS = 2_000;

export interface ClusterConfig {
  connection: { url: string };
  prefix: string;
  workerConcurrency: number;
  producerRate: number;
  records: RecordKeys;
}

/**
 * Redis keys where the workers and the producer keep count, for the progress
 * line of `pnpm cluster`, its test and `redis-cli`: what was added, run and
 * completed, per job id. Outside the queue's own keys: the library never reads them.
 */
export interface RecordKeys {
  /** hash: job id -> kind, set by the producer once `add()` resolved. */
  added: string;
  /** hash: job id -> times a handler started it. */
  runs: string;
  /** counter: handler starts beyond the first of their job (after a hand-back). */
  reruns: string;
  /** hash: job id -> times a worker saw it completed (must be 1). */
  completed: string;
  /** counter: completions beyond the first of their job (must stay 0). */
  completedTwice: string;
}

export function recordKeys(prefix: string): RecordKeys {
  const base = `${prefix}:cluster-records`;
  return {
    added: `${base}:added`,
    runs: `${base}:runs`,
    reruns: `${base}:reruns`,
    completed: `${base}:completed`,
    completedTwice: `${base}:completed-twice`,
  };
}

export function clusterConfig(env: NodeJS.ProcessEnv = process.env): ClusterConfig {
  const prefix = env.STREAMJOBS_PREFIX || 'sj';
  return {
    connection: { url: env.REDIS_URL || 'redis://127.0.0.1:6379' },
    prefix,
    workerConcurrency: positive('WORKER_CONCURRENCY', env.WORKER_CONCURRENCY, 8),
    producerRate: positive('PRODUCER_RATE', env.PRODUCER_RATE, 10),
    records: recordKeys(prefix),
  };
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}
