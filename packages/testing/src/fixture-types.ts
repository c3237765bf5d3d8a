/** Config of fixtures/worker-process.ts. */
export interface WorkerFixtureConfig {
  url: string;
  prefix: string;
  queue: string;
  /** Records go to `<recordKey>:starts` (hash), `:done` (hash), `:order` (list of `id|pid|ms`). */
  recordKey: string;
  concurrency?: number;
  stallTimeout?: number;
  heartbeatInterval?: number;
  maxStalls?: number;
  closeTimeout?: number;
  scheduler?: boolean | { lockTtl?: number; pollInterval?: number };
}

/** What the fixture worker's handler does with a job. */
export interface FixtureJobData {
  /** Run this long (aborts early if the signal fires). */
  sleepMs?: number;
  /** SIGKILL the worker's own process when the job starts. */
  crash?: boolean;
  /** Throw on attempts 1..failTimes. */
  failTimes?: number;
  [key: string]: unknown;
}
