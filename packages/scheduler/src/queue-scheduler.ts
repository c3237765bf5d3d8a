import {
  promoteDue,
  type QueueContext,
  type Logger,
} from '@streamjobs/core';
import type { Leadership } from './leadership.js';
import { ScheduleRunner, type ScheduleRoundResult } from './schedule-runner.js';

export interface RunOnceResult {
  /** Jobs moved from the delayed set into their streams. */
  promoted: number;
  /** What the round did with repeat schedules (undefined while not leading). */
  schedules?: ScheduleRoundResult;
  /** Milliseconds until there is something to do again. */
  idleMs: number;
  /** The schedules part of the round failed after `promoted` jobs were promoted. */
  error?: Error;
}

/**
 * The scheduler work of one queue, done only while this instance leads it:
 * promote due delayed jobs and retries into their tier streams, then
 * materialise due schedule occurrences (see ScheduleRunner).
 *
 * Guarantees: a due job is promoted once (the promote script removes it from
 * the delayed set and adds it to its stream atomically, and only for the
 * current term's lock value). It starts at most `pollIntervalMs` after its due
 * time while a leader runs. It does not promise anything while no instance
 * leads: due jobs then wait until one does.
 */
export class QueueScheduler {
  private readonly schedules: ScheduleRunner;

  constructor(
    private readonly ctx: QueueContext,
    private readonly leadership: Leadership,
    private readonly options: { pollIntervalMs: number; batchSize: number; lockTtlMs: number },
    private readonly logger: Logger,
  ) {
    // A leader round longer ago than this means no leader watched in between.
    // Above a few poll intervals (a live leader's rounds may lag), and below
    // the shortest gap a dead leader leaves: its lock had at least 2/3 of
    // lockTtl left, as it renews every third.
    const gapToleranceMs = Math.min(Math.max(1_500, 5 * options.pollIntervalMs), options.lockTtlMs / 2);
    this.schedules = new ScheduleRunner(ctx, { gapToleranceMs, batchSize: 100 }, logger);
  }

  async runOnce(): Promise<RunOnceResult> {
    const now = Date.now();
    if (!this.leadership.isLeader) return { promoted: 0, idleMs: this.leadership.msUntilNextClaim(now) };
    const leaderValue = this.leadership.value!;
    let promoted = 0;
    let firstRound: { now: number; previousRound: number } | undefined;
    for (;;) {
      const result = await promoteDue(this.ctx, leaderValue, this.options.batchSize);
      if (result.promoted < 0) return this.fenced(promoted);
      firstRound ??= { now: result.now, previousRound: result.previousRound };
      promoted += result.promoted;
      if (result.promoted < this.options.batchSize) {
        let schedules: ScheduleRoundResult;
        try {
          schedules = await this.schedules.runOnce(leaderValue, result.now, firstRound.previousRound);
        } catch (err) {
          // the promotions stand (they were written): report them with the error
          return { promoted, idleMs: this.options.pollIntervalMs, error: err as Error };
        }
        if (schedules.fenced) return this.fenced(promoted);
        const untilDue = Math.min(
          result.nextDueAt === undefined ? Infinity : result.nextDueAt - result.now,
          schedules.nextDueAt === undefined ? Infinity : schedules.nextDueAt - result.now,
          schedules.again ? 0 : Infinity,
        );
        const idleMs = Math.min(this.options.pollIntervalMs, untilDue, this.leadership.msUntilNextClaim());
        return { promoted, schedules, idleMs: Math.max(0, idleMs) };
      }
    }
  }

  private fenced(promoted: number): RunOnceResult {
    this.logger.warn({ queue: this.ctx.keys.queue }, 'leader term ended; its writes are fenced off');
    this.leadership.markLost();
    return { promoted, idleMs: 0 };
  }
}
