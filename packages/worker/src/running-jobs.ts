import { LeaseLostError, type HeldJob } from '@streamjobs/core';

export interface RunningJob extends HeldJob {
  controller: AbortController;
  /** Set once the worker learns it no longer owns the job. */
  lost: boolean;
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

  /** Jobs still believed owned: what heartbeats refresh and hand-back returns. */
  owned(): RunningJob[] {
    return [...this.jobs.values()].filter((job) => !job.lost);
  }

  /** Fences a job off: its signal aborts and its outcome will be discarded. */
  markLost(id: string, reason: Error = new LeaseLostError(id)): void {
    const job = this.jobs.get(id);
    if (!job || job.lost) return;
    job.lost = true;
    job.controller.abort(reason);
  }
}
