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

/** Outcomes per round at most; the rest go in the next. */
const MAX_BATCH = 500;
const MAX_ROUNDS_IN_FLIGHT = 2;
/** How often a worker of a paused queue asks again whether it may claim (ms). */
const PAUSED_POLL_MS = 500;

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
 * It never claims more than the free slots (counting what rounds in flight
 * will free and claim), so the concurrency limit holds, and it records
 * outcomes in the order they were submitted.
 */
export class Settler {
  private readonly pending: PendingOutcome[] = [];
  private readonly wake = new WakeableSleep();
  private blockingRead: Promise<unknown> | undefined;
  private closed = false;
  /** Outcomes sent in rounds still in flight (their jobs still hold slots). */
  private recording = 0;
  /** Jobs asked for by rounds still in flight. */
  private claiming = 0;

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
   * Up to two rounds are in flight at once, so the worker runs handlers while
   * Redis runs the previous round; Redis executes them in order.
   */
  async run(
    start: (job: FetchedJob) => void,
    state: { fetching(): boolean; done(): boolean },
    onError: (err: Error) => void,
  ): Promise<void> {
    const rounds = new Set<Promise<void>>();
    let idleAfter: readonly string[] | undefined; // the last round found nothing to do
    let errorWait = 100;
    let pauseUntil = 0; // after an error: no round before then
    let claimAfter = 0; // the queue is paused: rounds only record outcomes until then
    while (!state.done() || this.pending.length > 0 || rounds.size > 0) {
      const batchSize = Math.min(this.pending.length, MAX_BATCH);
      // slots free once this round and those in flight are recorded, minus what those claim
      const free = state.fetching() && Date.now() >= claimAfter
        ? this.options.concurrency - (this.running.size - this.recording - batchSize) - this.claiming
        : 0;
      const hasWork = batchSize > 0 || (free > 0 && idleAfter === undefined);
      if (!hasWork || rounds.size >= MAX_ROUNDS_IN_FLIGHT || Date.now() < pauseUntil) {
        if (rounds.size > 0) {
          await Promise.race([...rounds, this.wake.untilWoken()]);
        } else if (idleAfter && state.fetching() && Date.now() >= pauseUntil) {
          await this.waitForWork(idleAfter);
          idleAfter = undefined;
        } else {
          const until = Math.max(pauseUntil, claimAfter);
          await this.wake.sleep(Math.max(1, Math.min(1_000, until - Date.now())));
        }
        continue;
      }
      const batch = this.pending.splice(0, batchSize);
      const claim = Math.max(0, free);
      this.recording += batch.length;
      this.claiming += claim;
      const round = settle(this.ctx, this.consumer, batch, claim).then(
        (reply) => {
          errorWait = 100;
          batch.forEach((pending, index) => pending.resolve(reply.replies[index]!));
          for (const job of reply.jobs) start(job);
          // nothing was waiting when this round claimed: block until something is (its outcomes are recorded)
          idleAfter = reply.lastIds;
          if (reply.paused) claimAfter = Date.now() + PAUSED_POLL_MS;
        },
        (err: unknown) => {
          this.giveBack(batch, err);
          if (!state.done()) onError(err as Error);
          pauseUntil = Date.now() + errorWait;
          errorWait = Math.min(errorWait * 2, 5_000);
        },
      );
      const settled = round.finally(() => {
        this.recording -= batch.length;
        this.claiming -= claim;
        rounds.delete(settled);
      });
      rounds.add(settled);
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
