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
  private readonly claimPerRound: number;
  /** Claimed jobs of replies that arrived together, one reply's group each, not started yet. */
  private readonly groups: FetchedJob[][] = [];
  /** Jobs in `groups`: claimed, so they count against the concurrency. */
  private queued = 0;

  constructor(
    private readonly ctx: QueueContext,
    private readonly blocking: RedisConnection,
    private readonly consumer: string,
    private readonly running: RunningJobs,
    private readonly options: SettlerOptions,
  ) {
    this.claimPerRound = Math.ceil(options.concurrency / MAX_ROUNDS_IN_FLIGHT);
  }

  /** Queues an attempt's outcome for the next round; resolves with what was recorded. */
  submit(job: HeldJob, outcome: AttemptOutcome): Promise<FinishReply> {
    if (this.closed) return Promise.reject(new ClosedError('Worker'));
    return new Promise((resolve, reject) => {
      this.pending.push({ job, outcome, giveUpAt: Date.now() + this.options.retryWindowMs, resolve, reject });
      this.wake.wake();
    });
  }

  /** Jobs claimed and about to start (within a few turns of the event loop). */
  get queuedStarts(): number {
    return this.queued;
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
    let gathered = false; // outcomes finishing in the current tick have joined the pending ones
    while (!state.done() || this.pending.length > 0 || rounds.size > 0) {
      // While claiming, a round records at most a share of the slots' outcomes and
      // claims at most as many: rounds stay that size and alternate, so the worker
      // runs one round's jobs while Redis records and claims another's. Merged into
      // one big round they would convoy: each side idle while the other works.
      const batchSize = Math.min(this.pending.length, state.fetching() ? this.claimPerRound : MAX_BATCH);
      // slots free once this round and those in flight are recorded, minus what those claim
      const free = state.fetching() && Date.now() >= claimAfter
        ? this.options.concurrency - (this.running.size + this.queued - this.recording - batchSize) - this.claiming
        : 0;
      const hasWork = batchSize > 0 || (free > 0 && idleAfter === undefined);
      if (!hasWork || rounds.size >= MAX_ROUNDS_IN_FLIGHT || Date.now() < pauseUntil) {
        gathered = false;
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
      if (!gathered) {
        // jobs finishing in this same tick (a round's worth of quick handlers) go in one round
        gathered = true;
        await new Promise<void>((resolve) => process.nextTick(resolve));
        continue;
      }
      const batch = this.pending.splice(0, batchSize);
      const claim = Math.max(0, Math.min(free, this.claimPerRound));
      this.recording += batch.length;
      this.claiming += claim;
      const round = settle(this.ctx, this.consumer, batch, claim).then(
        (reply) => {
          errorWait = 100;
          batch.forEach((pending, index) => pending.resolve(reply.replies[index]!));
          if (reply.jobs.length > 0) this.queueStarts(reply.jobs, start);
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

  /**
   * Starts each reply's jobs in a turn of the event loop of its own, the next
   * one only after the round carrying this one's outcomes was written. Replies
   * of rounds Redis read together arrive together; started together, their
   * jobs' outcomes would go back in one write, be read together again, and the
   * worker and Redis would take turns idling instead of overlapping.
   */
  private queueStarts(jobs: FetchedJob[], start: (job: FetchedJob) => void): void {
    this.groups.push(jobs);
    this.queued += jobs.length;
    if (this.groups.length > 1) return; // a start is scheduled already
    const startGroup = () => {
      const group = this.groups[0]!;
      this.queued -= group.length;
      for (const job of group) start(job);
      this.groups.shift();
      // node-redis writes in the next check phase: start the next group after that
      if (this.groups.length > 0) setImmediate(() => setImmediate(startGroup));
    };
    setImmediate(startGroup);
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
