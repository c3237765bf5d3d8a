import { JobCanceledError, LeaseLostError, type HeldJob } from '@streamjobs/core';

/**
 * One job this worker runs. Its AbortSignal is made only when the handler
 * asks for it (most never do, and one per job costs): `abort()` records the
 * reason, aborts the signal if there is one, and tells the runner.
 */
export class RunningJob implements HeldJob {
  readonly id: string;
  readonly tier: number;
  readonly entryId: string;
  readonly startedAt: number;
  readonly scheduleId: string | undefined;
  /** Set once the worker learns it no longer owns the job. */
  lost = false;
  /** Set once the worker learns the job was canceled while it ran it. */
  canceled?: JobCanceledError;
  /** Why the attempt was aborted (timeout, lost, canceled, closing), once it was. */
  abortReason?: unknown;
  private controller?: AbortController;
  private abortListener?: ((reason: unknown) => void) | undefined;
  private timer?: NodeJS.Timeout | undefined;

  constructor(job: HeldJob) {
    this.id = job.id;
    this.tier = job.tier;
    this.entryId = job.entryId;
    this.startedAt = job.startedAt;
    this.scheduleId = job.scheduleId;
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.abortListener?.(reason);
  }

  /** Calls `listener` on abort (at once if already aborted). */
  onAbort(listener: (reason: unknown) => void): void {
    this.abortListener = listener;
    if (this.aborted) listener(this.abortReason);
  }

  /** The attempt's timeout timer, cleared when the attempt ends. */
  setTimer(timer: NodeJS.Timeout): void {
    this.timer = timer;
  }

  /** The handler settled or was abandoned: no timeout or abort listener is left behind. */
  endAttempt(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abortListener = undefined;
  }
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
    const running = new RunningJob(job);
    this.jobs.set(job.id, running);
    return running;
  }

  get(id: string): RunningJob | undefined {
    return this.jobs.get(id);
  }

  release(id: string): void {
    if (this.jobs.delete(id)) this.onRelease?.();
  }

  /** Every job held here, lost or not. */
  all(): RunningJob[] {
    return [...this.jobs.values()];
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
    job.abort(error);
  }

  /** Fences a job off: its signal aborts and its outcome will be discarded. */
  markLost(id: string, reason: Error = new LeaseLostError(id)): void {
    const job = this.jobs.get(id);
    if (!job || job.lost) return;
    job.lost = true;
    job.abort(reason);
  }
}
