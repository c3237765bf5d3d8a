import type { ActiveJob } from '@streamjobs/core';

/** What a handler gets besides its job. */
export interface JobContext {
  /**
   * Aborts when the job must stop: its `timeout` passed, the worker lost the
   * job to another worker, or the worker is closing and hands it back. Pass
   * it to `fetch` and check it between steps; the reason says which.
   */
  signal: AbortSignal;
  /**
   * Saves `state` (JSON) as the job's checkpoint: every later attempt (retry,
   * reclaim after a crash, hand-back) starts with `job.checkpoint` set to the
   * last one saved. Counts as a heartbeat. Rejects with `PayloadTooLargeError`
   * over `maxCheckpointBytes` (the previous checkpoint stays), and with
   * `LeaseLostError` once this worker no longer owns the job.
   */
  checkpoint(state: unknown): Promise<void>;
  /**
   * Runs `fn` once per job and saves its result (JSON); later attempts get the
   * saved result without running `fn` again. Name each iteration of a loop
   * (`step(\`batch:${i}\`, ...)`). `fn` may still run twice if the worker dies
   * between its end and the save: make it idempotent.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  /** Reports progress (JSON), visible through `getJob` and a `job:progress` event. */
  progress(value: unknown): Promise<void>;
}

export type Handler<Data = any, Result = unknown> = (job: ActiveJob<Data>, ctx: JobContext) => Promise<Result> | Result;
