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
import { AttemptContext, type JobContextDeps } from './job-context.js';
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
  private readonly contextDeps: JobContextDeps;

  constructor(
    ctx: QueueContext,
    jobs: RunningJobs,
    private readonly handler: Handler,
    private readonly record: RecordOutcome,
    private readonly options: JobRunnerOptions,
  ) {
    this.contextDeps = { ctx, consumer: options.consumer, jobs, maxCheckpointBytes: options.maxCheckpointBytes };
  }

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
    const attempt = this.startHandler(job, running, new AttemptContext(this.contextDeps, running, saved));
    // outcomeOf inlined: one promise less per job on the hot path
    let result: RunResult;
    try {
      result = this.completedResult(job, await untilSettledOrAborted(attempt, running));
    } catch (err) {
      result = this.unsuccessfulResult(job, err);
    }
    running.endAttempt();
    if (running.canceled) {
      // the job is canceled already: whatever the handler ends with is discarded, and said so
      void this.outcomeOf(job, attempt).then((late) => this.recordDiscarded(running, late.outcome));
      return { reply: 'canceled', outcome: result.outcome, error: running.canceled };
    }
    result.reply = running.lost ? 'lost' : await this.record(running, result.outcome);
    return result;
  }

  /** The attempt's outcome, as a result whose `reply` the caller fills in. */
  private async outcomeOf(job: Job, attempt: Promise<unknown>): Promise<RunResult> {
    try {
      return this.completedResult(job, await attempt);
    } catch (err) {
      return this.unsuccessfulResult(job, err);
    }
  }

  /** Throws when the result cannot be stored (not JSON, too large): the attempt then failed. */
  private completedResult(job: Job, result: unknown): RunResult {
    const resultJson = result === undefined ? '' : toJson('job result', result, this.options.maxResultBytes);
    return { reply: 'lost', outcome: { outcome: 'completed', resultJson, retention: job.opts.removeOnComplete }, result };
  }

  private unsuccessfulResult(job: Job, err: unknown): RunResult {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error instanceof JobCanceledError) {
      return { reply: 'lost', outcome: { outcome: 'canceled', reason: error.reason, by: error.by }, error };
    }
    return { reply: 'lost', outcome: this.failure(job, error), error };
  }

  private async recordDiscarded(running: RunningJob, late: AttemptOutcome): Promise<void> {
    // the worker may be closed by then: the job stays canceled, only the event is missing
    await this.record(running, late).catch(() => undefined);
  }

  /** Starts the handler (unless the job was aborted before it started); its timeout counts from here. */
  private startHandler(job: Job, running: RunningJob, context: JobContext): Promise<unknown> {
    if (running.aborted) return Promise.reject(running.abortReason); // canceled after delivery: never started
    const timeout = job.opts.timeout;
    if (timeout) running.setTimer(setTimeout(() => running.abort(new JobTimeoutError(timeout)), timeout));
    try {
      return Promise.resolve(this.handler(toActiveJob(job), context));
    } catch (err) {
      return Promise.reject(err);
    }
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

/**
 * Settles when the handler does, or when the attempt is aborted (timeout,
 * lost job, cancel, hand-back): a handler that ignores its signal cannot hold
 * the slot.
 */
function untilSettledOrAborted(attempt: Promise<unknown>, running: RunningJob): Promise<unknown> {
  return new Promise((resolve, reject) => {
    running.onAbort(reject);
    attempt.then(resolve, reject);
  });
}
