import {
  JobCanceledError,
  JobTimeoutError,
  StreamJobsError,
  UnrecoverableError,
  backoffDelay,
  toActiveJob,
  toJson,
  type AttemptOutcome,
  type FinishReply,
  type Job,
  type JobRecord,
  type HeldJob,
  type QueueContext,
} from '@streamjobs/core';
import { createJobContext } from './job-context.js';
import type { RunningJob, RunningJobs } from './running-jobs.js';
import type { Handler, JobContext } from './types.js';

export interface RunResult {
  reply: FinishReply;
  outcome: AttemptOutcome;
  result?: unknown;
  error?: Error;
}

export interface JobRunnerOptions {
  consumer: string;
  maxResultBytes: number;
  maxCheckpointBytes: number;
}

/** Records an attempt's outcome (in the worker's next settle round). */
export type RecordOutcome = (job: HeldJob, outcome: AttemptOutcome) => Promise<FinishReply>;

/**
 * Runs one attempt of one job: the handler with its signal and timeout, then
 * the outcome recorded by the settle script. The recorded outcome is the
 * source of truth: when the worker has lost the job in the meantime the
 * script changes nothing and the reply is `lost`.
 */
export class JobRunner {
  constructor(
    private readonly ctx: QueueContext,
    private readonly jobs: RunningJobs,
    private readonly handler: Handler,
    private readonly record: RecordOutcome,
    private readonly options: JobRunnerOptions,
  ) {}

  /**
   * `stallError` set: the job stalled more often than allowed (the reclaim
   * script marked it); it fails now, for good, without running.
   */
  async run(job: Job, running: RunningJob, saved: JobRecord, stallError?: string): Promise<RunResult> {
    if (stallError !== undefined) {
      const error = new StreamJobsError('ERR_STALLED', stallError);
      const outcome: AttemptOutcome = { outcome: 'failed', error: stallError, stack: '', retention: job.opts.removeOnFail };
      return { reply: await this.record(running, outcome), outcome, error };
    }
    const jobContext = createJobContext({
      ctx: this.ctx,
      consumer: this.options.consumer,
      running,
      jobs: this.jobs,
      saved,
      maxCheckpointBytes: this.options.maxCheckpointBytes,
    });
    const { settled, attempt } = this.runHandler(job, running, jobContext);
    const outcome = await this.outcomeOf(job, settled);
    if (running.canceled) {
      // the job is canceled already: whatever the handler ends with is discarded, and said so
      void this.outcomeOf(job, attempt).then(({ outcome: late }) => this.recordDiscarded(running, late));
      return { reply: 'canceled', outcome: outcome.outcome, error: running.canceled };
    }
    if (running.lost) return { reply: 'lost', ...outcome };
    const reply = await this.record(running, outcome.outcome);
    return { reply, ...outcome };
  }

  private async outcomeOf(job: Job, attempt: Promise<unknown>): Promise<{ outcome: AttemptOutcome; result?: unknown; error?: Error }> {
    try {
      const result = await attempt;
      const resultJson = result === undefined ? '' : toJson('job result', result, this.options.maxResultBytes);
      return { outcome: { outcome: 'completed', resultJson, retention: job.opts.removeOnComplete }, result };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (error instanceof JobCanceledError) {
        return { outcome: { outcome: 'canceled', reason: error.reason, by: error.by }, error };
      }
      return { outcome: this.failure(job, error), error };
    }
  }

  private async recordDiscarded(running: RunningJob, late: AttemptOutcome): Promise<void> {
    // the worker may be closed by then: the job stays canceled, only the event is missing
    await this.record(running, late).catch(() => undefined);
  }

  private runHandler(
    job: Job,
    running: RunningJob,
    jobContext: JobContext,
  ): { settled: Promise<unknown>; attempt: Promise<unknown> } {
    const timeout = job.opts.timeout;
    let timer: NodeJS.Timeout | undefined;
    const attempt = Promise.resolve().then(() => {
      if (running.aborted) throw running.abortReason; // canceled after delivery, before start: never started
      // the timeout counts from the handler's start
      if (timeout) timer = setTimeout(() => running.abort(new JobTimeoutError(timeout)), timeout);
      return this.handler(toActiveJob(job), jobContext);
    });
    // Settles when the handler does, or when the attempt is aborted (timeout,
    // lost job, cancel, hand-back): a handler that ignores its signal cannot
    // hold the slot.
    const settled = new Promise((resolve, reject) => {
      running.onAbort(reject);
      attempt.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        running.onAbort(undefined);
      });
    });
    return { settled, attempt };
  }

  private failure(job: Job, error: Error): AttemptOutcome {
    const attemptsMade = job.attemptsMade + 1;
    const final = error instanceof UnrecoverableError || attemptsMade >= job.opts.attempts;
    const base = {
      outcome: 'failed' as const,
      error: error.message || error.name,
      stack: error.stack ?? '',
      retention: job.opts.removeOnFail,
    };
    if (final) return base;
    const delay = backoffDelay(job.opts.backoff, attemptsMade);
    return { ...base, retryAt: delay > 0 ? Date.now() + delay : 0 };
  }

}
