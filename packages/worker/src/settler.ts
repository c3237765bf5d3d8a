import {
  ClosedError,
  ConnectionError,
  WakeableSleep,
  settle,
  type AttemptOutcome,
  type FetchedJob,
  type FinishReply,
  type HeldJob,
  type QueueContext,
  type RedisConnection,
} from '@streamjobs/core';
import type { RunningJobs } from './running-jobs.js';

interface PendingOutcome {
  job: HeldJob;
  outcome: AttemptOutcome;
  /** While Redis is unreachable, keep retrying until then (ms). */
  giveUpAt: number;
  resolve(reply: FinishReply): void;
  reject(err: unknown): void;
}

export interface SettlerOptions {
  concurrency: number;
  /** How long an idle worker blocks per read (ms). */
  blockMs: number;
  /** How long to keep retrying an outcome while Redis is unreachable (ms). */
  retryWindowMs: number;
}

/**
 * The worker's one loop of calls to Redis for its jobs: each round records
 * the outcomes that finished since the last round and claims jobs for the
 * slots free after them, in one `settle` call. A busy worker thus pays one
 * round trip per batch of jobs. When a round finds nothing to record and
 * nothing waiting, the loop blocks with XREAD (which claims nothing) on a
 * connection of its own until a new entry arrives or an outcome is submitted.
 *
 * It never claims more than the free slots, so the concurrency limit holds,
 * and it records outcomes in the order they were submitted.
 */
export class Settler {
  private readonly pending: PendingOutcome[] = [];
  private readonly wake = new WakeableSleep();
  private blockingRead: Promise<unknown> | undefined;
  private closed = false;

  constructor(
    private readonly ctx: QueueContext,
    private readonly blocking: RedisConnection,
    private readonly consumer: string,
    private readonly running: RunningJobs,
    private readonly options: SettlerOptions,
  ) {}

  /** Queues an attempt's outcome for the next round; resolves with what was recorded. */
  submit(job: HeldJob, outcome: AttemptOutcome): Promise<FinishReply> {
    if (this.closed) return Promise.reject(new ClosedError('Worker'));
    return new Promise((resolve, reject) => {
      this.pending.push({ job, outcome, giveUpAt: Date.now() + this.options.retryWindowMs, resolve, reject });
      this.wake.wake();
    });
  }

  /** After the last round: later submissions reject. */
  close(): void {
    this.closed = true;
  }

  /** Ends a sleep or a wait for work at once (a slot freed, closing). */
  nudge(): void {
    this.wake.wake();
  }

  /**
   * Runs rounds until `done()` says so and no outcome is pending. While
   * `fetching()` is false (closing) it records outcomes but claims nothing.
   */
  async run(
    start: (job: FetchedJob) => void,
    state: { fetching(): boolean; done(): boolean },
    onError: (err: Error) => void,
  ): Promise<void> {
    let errorWait = 100;
    while (!state.done() || this.pending.length > 0) {
      const batch = this.pending.splice(0, 500);
      const free = state.fetching() ? this.options.concurrency - this.running.size + batch.length : 0;
      if (batch.length === 0 && free <= 0) {
        await this.wake.sleep(1_000);
        continue;
      }
      let reply;
      try {
        reply = await settle(this.ctx, this.consumer, batch, free);
        errorWait = 100;
      } catch (err) {
        this.giveBack(batch, err);
        if (!state.done()) onError(err as Error);
        await this.wake.sleep(errorWait);
        errorWait = Math.min(errorWait * 2, 5_000);
        continue;
      }
      batch.forEach((pending, index) => pending.resolve(reply.replies[index]!));
      for (const job of reply.jobs) start(job);
      if (reply.lastIds && batch.length === 0) await this.waitForWork(reply.lastIds);
    }
  }

  /** Outcomes of a failed round go back for the next one while Redis may return; others fail. */
  private giveBack(batch: PendingOutcome[], err: unknown): void {
    const now = Date.now();
    const retry = batch.filter((pending) => err instanceof ConnectionError && pending.giveUpAt > now);
    for (const pending of batch) if (!retry.includes(pending)) pending.reject(err);
    this.pending.unshift(...retry);
  }

  /** Blocks until an entry newer than `lastIds` arrives, an outcome is submitted, or `blockMs` passes. */
  private async waitForWork(lastIds: readonly string[]): Promise<void> {
    if (this.pending.length > 0) return;
    const lanes = this.ctx.keys.lanes(this.ctx.tiers.length);
    this.blockingRead ??= this.blocking
      .call(['XREAD', 'COUNT', 1, 'BLOCK', this.options.blockMs, 'STREAMS', ...lanes, ...lastIds])
      .catch(() => undefined)
      .finally(() => {
        this.blockingRead = undefined;
      });
    await Promise.race([this.blockingRead, this.wake.sleep(this.options.blockMs)]);
    this.wake.wake(); // ends the losing sleep's timer (or makes the next sleep a no-op)
  }
}
