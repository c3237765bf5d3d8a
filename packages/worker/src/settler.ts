import {
  ClosedError,
  ConnectionError,
  WakeableSleep,
  handBackUnheld,
  settle,
  type AttemptOutcome,
  type FetchedJob,
  type FinishReply,
  type HeldJob,
  type QueueContext,
  type RedisConnection,
  type SettleReply,
} from '@streamjobs/core';
import type { RunningJobs } from './running-jobs.js';

/** Outcomes per round at most; the rest go in the next. */
const MAX_BATCH = 500;
const MAX_ROUNDS_IN_FLIGHT = 2;
/** A closing worker's wake stream outlives a claim Redis runs late by this much (ms). */
const WAKE_STREAM_TTL_MS = 60_000;
/** How often a worker of a paused queue asks again whether it may claim (ms). */
const PAUSED_POLL_MS = 500;

interface PendingOutcome {
  job: HeldJob;
  outcome: AttemptOutcome;
  /** While Redis is unreachable, keep retrying until then (ms; set when first sent, 0 before). */
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
  /** The idle blocking read and the claim behind it, while outstanding. */
  private blockingRead: Promise<SettleReply | undefined> | undefined;
  private closed = false;
  /** Outcomes sent in rounds still in flight (their jobs still hold slots). */
  private recording = 0;
  /** Jobs asked for by rounds still in flight. */
  private claiming = 0;
  private readonly claimPerRound: number;
  /** The queue's context on the blocking connection: for the claim sent behind the idle read. */
  private readonly blockingCtx: QueueContext;
  /** Claimed jobs of replies that arrived together, one reply's group each, not started yet. */
  private readonly groups: FetchedJob[][] = [];
  /** Jobs in `groups`: claimed, so they count against the concurrency. */
  private queued = 0;
  /** A group started recently: the next waits until its outcomes' round was written. */
  private startedThisTurn = false;
  /**
   * A call that may have claimed jobs failed: Redis may have run it and its
   * reply been lost, leaving jobs pending for this worker that it never
   * learned of. They are handed back once no call is in flight.
   */
  private replyLost = false;

  constructor(
    private readonly ctx: QueueContext,
    private readonly blocking: RedisConnection,
    private readonly consumer: string,
    private readonly running: RunningJobs,
    private readonly options: SettlerOptions,
  ) {
    this.claimPerRound = Math.ceil(options.concurrency / MAX_ROUNDS_IN_FLIGHT);
    this.blockingCtx = { ...ctx, connection: blocking };
  }

  /** Queues an attempt's outcome for the next round; resolves with what was recorded. */
  submit(job: HeldJob, outcome: AttemptOutcome): Promise<FinishReply> {
    if (this.closed) return Promise.reject(new ClosedError('Worker'));
    return new Promise((resolve, reject) => {
      this.pending.push({ job, outcome, giveUpAt: 0, resolve, reject });
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
    /** A call failed: reported, and no round before a wait that doubles with each failure in a row. */
    const failed = (err: unknown) => {
      if (!state.done()) onError(err as Error);
      pauseUntil = Date.now() + errorWait;
      errorWait = Math.min(errorWait * 2, 5_000);
    };
    while (!state.done() || this.pending.length > 0 || rounds.size > 0) {
      if (this.replyLost && rounds.size === 0 && !this.blockingRead && Date.now() >= pauseUntil) {
        await this.handBackUnknownClaims().catch(failed);
        continue;
      }
      // While claiming, a round records at most a share of the slots' outcomes and
      // claims at most as many: rounds stay that size and alternate, so the worker
      // runs one round's jobs while Redis records and claims another's. Merged into
      // one big round they would convoy: each side idle while the other works.
      const batchSize = Math.min(this.pending.length, state.fetching() ? this.claimPerRound : MAX_BATCH);
      // slots free once this round and those in flight are recorded, minus what those claim
      const free = state.fetching() && Date.now() >= claimAfter
        ? this.options.concurrency - (this.running.size + this.queued - this.recording - batchSize) - this.claiming
        : 0;
      // at most a share of the slots per round (see above)
      const claim = Math.max(0, Math.min(free, this.claimPerRound));
      const hasWork = batchSize > 0 || (free > 0 && idleAfter === undefined);
      if (!hasWork || rounds.size >= MAX_ROUNDS_IN_FLIGHT || Date.now() < pauseUntil) {
        gathered = false;
        if (rounds.size > 0) {
          await Promise.race([...rounds, this.wake.untilWoken()]);
        } else if (idleAfter && state.fetching() && Date.now() >= pauseUntil) {
          const claimed = await this.waitForWork(idleAfter, claim, start);
          // nothing arrived (or the wait was cut short): block again, or claim in a round of the loop
          idleAfter = claimed?.lastIds;
          if (claimed?.paused) claimAfter = Date.now() + PAUSED_POLL_MS;
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
      const sentAt = Date.now(); // one clock reading per round, not per outcome
      for (const pending of batch) if (pending.giveUpAt === 0) pending.giveUpAt = sentAt + this.options.retryWindowMs;
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
          if (claim > 0) this.replyLost = true;
          this.giveBack(batch, err);
          failed(err);
        },
      );
      const settled = round.finally(() => {
        this.recording -= batch.length;
        this.claiming -= claim;
        rounds.delete(settled);
      });
      rounds.add(settled);
    }
    // closing after a lost reply: what that call claimed goes back now, not after the stall timeout
    if (this.replyLost && !this.blockingRead) await this.handBackUnknownClaims().catch((err: Error) => onError(err));
  }

  /**
   * Starts a reply's jobs at once, unless another reply's jobs started in this
   * turn of the event loop: then they start after the round carrying those
   * jobs' outcomes was written (node-redis writes in the next check phase).
   * Replies of rounds Redis read together arrive together; started together,
   * their jobs' outcomes would go back in one write, be read together again,
   * and the worker and Redis would take turns idling instead of overlapping.
   */
  private queueStarts(jobs: FetchedJob[], start: (job: FetchedJob) => void): void {
    this.groups.push(jobs);
    this.queued += jobs.length;
    if (!this.startedThisTurn) this.startNextGroup(start);
  }

  private startNextGroup(start: (job: FetchedJob) => void): void {
    const group = this.groups.shift()!;
    this.queued -= group.length;
    this.startedThisTurn = true;
    for (const job of group) start(job);
    setImmediate(() =>
      setImmediate(() => {
        this.startedThisTurn = false;
        if (this.groups.length > 0) this.startNextGroup(start);
      }),
    );
  }

  /** Outcomes of a failed round go back for the next one while Redis may return; others fail. */
  private giveBack(batch: PendingOutcome[], err: unknown): void {
    const now = Date.now();
    const retry = batch.filter((pending) => err instanceof ConnectionError && pending.giveUpAt > now);
    for (const pending of batch) if (!retry.includes(pending)) pending.reject(err);
    this.pending.unshift(...retry);
  }

  /**
   * Blocks until an entry newer than `lastIds` arrives, an outcome is
   * submitted, or `blockMs` passes. The claim of up to `claim` jobs is sent
   * right behind the blocking read on its connection, so Redis runs it the
   * moment the read returns: a job added to an idle worker starts after one
   * trip from Redis, not two. Resolves with that claim's reply when it came
   * within the wait; jobs it claims later still start.
   */
  private async waitForWork(lastIds: readonly string[], claim: number, start: (job: FetchedJob) => void): Promise<SettleReply | undefined> {
    if (this.pending.length > 0) return undefined;
    if (!this.blockingRead) {
      const lanes = this.ctx.keys.lanes(this.ctx.tiers.length);
      const wakeKey = this.ctx.keys.wake(this.consumer);
      const read = this.blocking
        .call(['XREAD', 'COUNT', 1, 'BLOCK', this.options.blockMs, 'STREAMS', ...lanes, wakeKey, ...lastIds, '0-0'])
        .catch(() => undefined);
      this.claiming += claim;
      const claimed = settle(this.blockingCtx, this.consumer, [], claim, wakeKey).then(
        (reply) => {
          if (reply.jobs.length > 0) this.queueStarts(reply.jobs, start);
          return reply;
        },
        () => {
          this.replyLost = true; // the claim did not run, or it did and its reply is lost
          return undefined;
        },
      );
      this.blockingRead = Promise.all([read, claimed]).then(([, reply]) => {
        this.claiming -= claim;
        this.blockingRead = undefined;
        return reply;
      });
    }
    const reply = await Promise.race([this.blockingRead, this.wake.sleep(this.options.blockMs)]);
    this.wake.wake(); // ends the losing sleep's timer (or makes the next sleep a no-op)
    return reply ?? undefined;
  }

  /**
   * Hands back the jobs a call whose reply was lost claimed for this worker:
   * every job pending for it beyond those it runs or is about to start. Only
   * with no call in flight, so none that a reply still to come would start.
   */
  private async handBackUnknownClaims(): Promise<void> {
    const held: HeldJob[] = this.running.all();
    for (const group of this.groups) held.push(...group);
    await handBackUnheld(this.ctx, this.consumer, held);
    this.replyLost = false; // no call of ours ran meanwhile: nothing can have set it again
  }

  /**
   * Ends an idle blocking read without losing what the claim behind it took:
   * an entry on the wake stream ends the read, and the claim, seeing the
   * stream, claims nothing. Resolves once that claim replied (jobs it took
   * before still start), or after `timeoutMs` (Redis not answering); the
   * stream is then left to expire, so a claim still to come claims nothing.
   */
  async stopBlocking(timeoutMs: number): Promise<void> {
    const reading = this.blockingRead;
    if (!reading) return;
    const wakeKey = this.ctx.keys.wake(this.consumer);
    const { connection } = this.ctx;
    const woken = Promise.all([
      connection.call(['XADD', wakeKey, '*', 'closing', '1']),
      connection.call(['PEXPIRE', wakeKey, WAKE_STREAM_TTL_MS]),
    ]).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      Promise.all([woken, reading]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (answered) await connection.call(['DEL', wakeKey]).catch(() => undefined);
  }
}
