import { WakeableSleep, type Logger, type QueueContext, type RedisConnection } from '@streamjobs/core';
import { Leadership } from './leadership.js';
import { QueueScheduler, type RunOnceResult } from './queue-scheduler.js';

export interface QueueLoopOptions {
  instanceId: string;
  lockTtlMs: number;
  /** Longest a leader sleeps between two rounds: the backstop for a notice it missed (ms). */
  pollIntervalMs: number;
  /** How soon a round or claim that failed is tried again (ms). */
  retryAfterErrorMs: number;
}

/** What a loop tells its Scheduler. */
export interface QueueLoopEvents {
  elected(term: string): void;
  lost(): void;
  round(result: RunOnceResult): void;
  error(err: Error): void;
}

/**
 * One scheduler instance's part in one queue: claim or renew the leadership
 * when due and, while leading, run rounds of the leader's work only when
 * something is due. Between rounds the leader sleeps until the earliest due
 * delayed job or schedule occurrence it knows of; whoever makes work due
 * sooner (an add with a delay, a retry, a schedule upsert, an ended
 * occurrence of a `buffer` schedule) announces it on the queue's `due`
 * channel, and the leader wakes for it. Followers touch only the lock, when
 * the current term would expire or the leader announces its resignation.
 *
 * Missed notices (the subscriber connection was down) are covered by a round
 * after each reconnection, and at the latest by `pollIntervalMs`.
 */
export class QueueLoop {
  readonly queue: string;
  readonly leadership: Leadership;
  private readonly work: QueueScheduler;
  private readonly sleep = new WakeableSleep();
  /** When the next round is due (local ms); notices bring it forward. */
  private roundAt = 0;
  /** A notice said held-back occurrences may start: the next round releases them. */
  private releaseDue = true;
  /** Server clock minus local clock, from the last round: turns a notice's due time into a local one. */
  private serverOffset = 0;
  private readonly dueChannel: string;
  private readonly leaderChannel: string;
  private subscribedToDue = false;
  private subscribedToLeader = false;
  private closed = false;
  private done: Promise<void> = Promise.resolve();
  private readonly onDue = (message: string) => this.dueNotice(message);
  private readonly onLeader = () => {
    this.leadership.claimSoon();
    this.sleep.wake();
  };

  constructor(
    ctx: QueueContext,
    private readonly notices: RedisConnection,
    private readonly options: QueueLoopOptions,
    private readonly events: QueueLoopEvents,
    logger: Logger,
  ) {
    this.queue = ctx.keys.queue;
    this.leadership = new Leadership(ctx.connection, ctx.keys, options.instanceId, options.lockTtlMs);
    // The tolerance sits above the time a successor takes after a resignation (it is
    // told at once) and below the shortest gap a dead leader leaves: its lock had at
    // least half of lockTtl left, as it renews every half.
    this.work = new QueueScheduler(ctx, this.leadership, { batchSize: 1_000, gapToleranceMs: options.lockTtlMs / 4 }, logger);
    this.dueChannel = ctx.keys.dueChannel;
    this.leaderChannel = ctx.keys.leaderChannel;
  }

  start(): void {
    this.done = this.run();
  }

  /** Stops the loop (a round in flight finishes first), then resigns a leadership held. */
  async stop(): Promise<void> {
    this.closed = true;
    this.sleep.wake();
    await this.done;
    await this.leadership.resign();
  }

  /** The subscriber reconnected: notices may have been missed meanwhile. */
  reconnected(): void {
    this.roundAt = 0;
    this.releaseDue = true;
    this.leadership.claimSoon();
    this.sleep.wake();
  }

  private async run(): Promise<void> {
    await Promise.resolve(); // let the constructor finish before the first round
    while (!this.closed) {
      let sleepMs = this.options.retryAfterErrorMs;
      try {
        await this.step();
        sleepMs = this.msUntilDue();
      } catch (err) {
        if (this.closed) break;
        this.events.error(err as Error);
      }
      await this.sleep.sleep(sleepMs);
    }
  }

  private async step(): Promise<void> {
    if (!this.subscribedToLeader) this.subscribedToLeader = await this.trySubscribe(this.leaderChannel, this.onLeader);
    const change = await this.leadership.tick();
    if (change === 'elected') {
      this.events.elected(this.leadership.value!);
      this.roundAt = 0;
      this.releaseDue = true;
    }
    if (change === 'lost') await this.loseTerm();
    if (!this.leadership.isLeader) return;
    // subscribed before the round: whatever falls due after the round read the delayed set is announced
    if (!this.subscribedToDue) {
      this.subscribedToDue = await this.trySubscribe(this.dueChannel, this.onDue);
      this.roundAt = 0;
    }
    if (Date.now() >= this.roundAt) await this.round();
    // without notices, the leader looks again every retryAfterErrorMs
    if (!this.subscribedToDue) this.roundAt = Math.min(this.roundAt, Date.now() + this.options.retryAfterErrorMs);
  }

  /** Subscribes, or reports why not (and the loop carries on without the notices, polling instead). */
  private async trySubscribe(channel: string, listener: (message: string) => void): Promise<boolean> {
    try {
      await this.notices.subscribe(channel, listener);
      return true;
    } catch (err) {
      this.events.error(err as Error);
      return false;
    }
  }

  private async round(): Promise<void> {
    const release = this.releaseDue;
    this.releaseDue = false;
    // notices arriving during the round bring this forward again
    this.roundAt = Date.now() + this.options.pollIntervalMs;
    const result = await this.work.runOnce(release);
    if (!this.leadership.isLeader) await this.loseTerm(); // fenced: a script said the term ended
    this.events.round(result);
    if (result.error) {
      this.releaseDue ||= release;
      this.roundAt = Math.min(this.roundAt, Date.now() + this.options.retryAfterErrorMs);
      throw result.error;
    }
    if (result.now === undefined) return;
    const localNow = Date.now();
    this.serverOffset = result.now - localNow;
    // the time left by the server's clock, counted from the reply
    if (result.nextDueAt !== undefined) this.roundAt = Math.min(this.roundAt, localNow + Math.max(0, result.nextDueAt - result.now));
  }

  private async loseTerm(): Promise<void> {
    this.events.lost();
    this.roundAt = Infinity;
    if (!this.subscribedToDue) return;
    this.subscribedToDue = false;
    await this.notices.unsubscribe(this.dueChannel, this.onDue);
  }

  private dueNotice(message: string): void {
    if (this.closed || !this.leadership.isLeader) return;
    let at: number;
    if (message === 'release') {
      this.releaseDue = true;
      at = Date.now();
    } else {
      at = Number(message) - this.serverOffset;
      if (!Number.isFinite(at)) return;
    }
    if (at >= this.roundAt) return;
    this.roundAt = at;
    this.sleep.wake();
  }

  private msUntilDue(): number {
    const wakeAt = this.leadership.isLeader ? Math.min(this.roundAt, this.leadership.claimDueAt) : this.leadership.claimDueAt;
    return Math.max(0, wakeAt - Date.now());
  }
}
