import {
  ConnectionError,
  JobTimeoutError,
  UnrecoverableError,
  backoffDelay,
  finishJob,
  toActiveJob,
  toJson,
  type AttemptOutcome,
  type FinishReply,
  type Job,
  type Logger,
  type QueueContext,
} from '@streamjobs/core';
import type { RunningJob } from './running-jobs.js';
import type { Handler } from './types.js';

export interface RunResult {
  reply: FinishReply;
  outcome: AttemptOutcome;
  result?: unknown;
  error?: Error;
}

export interface JobRunnerOptions {
  consumer: string;
  maxResultBytes: number;
  /** How long to keep retrying an outcome write while Redis is unreachable (ms). */
  finishRetryWindow: number;
}

/**
 * Runs one attempt of one job: the handler with its signal and timeout, then
 * the outcome recorded by the finish script. The recorded outcome is the
 * source of truth: when the worker has lost the job in the meantime the
 * script changes nothing and the reply is `lost`.
 */
export class JobRunner {
  constructor(
    private readonly ctx: QueueContext,
    private readonly handler: Handler,
    private readonly options: JobRunnerOptions,
    private readonly logger: Logger,
  ) {}

  async run(job: Job, running: RunningJob): Promise<RunResult> {
    let outcome: AttemptOutcome;
    let result: unknown;
    let error: Error | undefined;
    try {
      result = await this.runHandler(job, running);
      const resultJson = result === undefined ? '' : toJson('job result', result, this.options.maxResultBytes);
      outcome = { outcome: 'completed', resultJson, retention: job.opts.removeOnComplete };
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
      outcome = this.failure(job, error);
    }
    if (running.lost) return { reply: 'lost', outcome, result, ...(error ? { error } : {}) };
    const reply = await this.finish(running, outcome);
    return { reply, outcome, result, ...(error ? { error } : {}) };
  }

  private runHandler(job: Job, running: RunningJob): Promise<unknown> {
    const signal = running.controller.signal;
    const attempt = Promise.resolve().then(() => this.handler(toActiveJob(job), { signal }));
    const timeout = job.opts.timeout;
    // Settles when the handler does, or when the signal aborts (timeout, lost
    // job, hand-back): a handler that ignores its signal cannot hold the slot.
    return new Promise((resolve, reject) => {
      const timer = timeout ? setTimeout(() => running.controller.abort(new JobTimeoutError(timeout)), timeout) : undefined;
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      attempt.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      });
    });
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

  /**
   * Records the outcome, retrying while Redis is unreachable: the script is
   * idempotent per delivery (a second run finds the job no longer active and
   * answers `lost`), and if we give up the entry is reclaimed and rerun.
   */
  private async finish(running: RunningJob, outcome: AttemptOutcome): Promise<FinishReply> {
    const giveUpAt = Date.now() + this.options.finishRetryWindow;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
      try {
        return await finishJob(this.ctx, this.options.consumer, running, outcome);
      } catch (err) {
        if (!(err instanceof ConnectionError) || Date.now() + wait > giveUpAt) throw err;
        this.logger.warn({ err, jobId: running.id }, 'recording a job outcome failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}
