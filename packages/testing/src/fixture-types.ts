/** Config of fixtures/worker-process.ts. */
export interface WorkerFixtureConfig {
  url: string;
  prefix: string;
  queue: string;
  /**
   * Records go to `<recordKey>:starts` (hash), `:done` (hash), `:order` (list of `id|pid|ms`),
   * and, for jobs flagged `waitForAbort`/`ignoreSignal`, `:aborts` (hash: id -> `ms|reason class|reason|by`, `ms` epoch time with µs digits).
   */
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
  /**
   * Wait until the signal aborts (at most `sleepMs` when given, then finish
   * normally); record the abort in `<recordKey>:aborts` and throw its reason.
   */
  waitForAbort?: boolean;
  /** Run the full `sleepMs` whatever the signal does, then finish normally; an abort is recorded, not obeyed. */
  ignoreSignal?: boolean;
  [key: string]: unknown;
}
