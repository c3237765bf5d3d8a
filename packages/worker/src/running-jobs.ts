import { JobCanceledError, LeaseLostError, type HeldJob } from '@streamjobs/core';

export interface RunningJob extends HeldJob {
  controller: AbortController;
  /** Set once the worker learns it no longer owns the job. */
  lost: boolean;
  /** Set once the worker learns the job was canceled while it ran it. */
  canceled?: JobCanceledError;
}

/**
 * The jobs this worker holds, by id. A job stays here from fetch until its
 * outcome is recorded (or it is handed back); `size` is what the concurrency
 * limit counts.
 */
export class RunningJobs {
  private readonly jobs = new Map<string, RunningJob>();
  private onRelease: (() => void) | undefined;

  get size(): number {
    return this.jobs.size;
  }

  /** Called whenever a slot frees up. */
  onSlotFreed(listener: () => void): void {
    this.onRelease = listener;
  }

  add(job: HeldJob): RunningJob {
    const running: RunningJob = { ...job, controller: new AbortController(), lost: false };
    this.jobs.set(job.id, running);
    return running;
  }

  get(id: string): RunningJob | undefined {
    return this.jobs.get(id);
  }

  release(id: string): void {
    if (this.jobs.delete(id)) this.onRelease?.();
  }

  /** Jobs still believed owned and running: what heartbeats refresh and hand-back returns. */
  owned(): RunningJob[] {
    return [...this.jobs.values()].filter((job) => !job.lost && !job.canceled);
  }

  /** The job was canceled: its signal aborts with `error`; its late outcome is reported as discarded. */
  markCanceled(id: string, error: JobCanceledError): void {
    const job = this.jobs.get(id);
    if (!job || job.lost || job.canceled) return;
    job.canceled = error;
    job.controller.abort(error);
  }

  /** Fences a job off: its signal aborts and its outcome will be discarded. */
  markLost(id: string, reason: Error = new LeaseLostError(id)): void {
    const job = this.jobs.get(id);
    if (!job || job.lost) return;
    job.lost = true;
    job.controller.abort(reason);
  }
}
