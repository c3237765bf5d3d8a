import type { ActiveJob } from '@streamjobs/core';

/** What a handler gets besides its job. */
export interface JobContext {
  /**
   * Aborts when the job must stop: its `timeout` passed, the worker lost the
   * job to another worker, or the worker is closing and hands it back. Pass
   * it to `fetch` and check it between steps; the reason says which.
   */
  signal: AbortSignal;
}

export type Handler<Data = any, Result = unknown> = (job: ActiveJob<Data>, ctx: JobContext) => Promise<Result> | Result;
