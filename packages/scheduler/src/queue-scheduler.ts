import { promoteDue, type Logger, type QueueContext } from '@streamjobs/core';
import type { Leadership } from './leadership.js';
import { ScheduleRunner, type ScheduleRoundResult } from './schedule-runner.js';

export interface RunOnceResult {
  /** Jobs moved from the delayed set into their streams. */
  promoted: number;
  /** What the round did with repeat schedules (undefined when none was due or not leading). */
  schedules?: ScheduleRoundResult;
  /** Occurrences held back by `buffer` that were started (also counted in `schedules`). */
  released: number;
  /** Server time of the round (ms); undefined when not leading. */
  now?: number;
  /** Server time (ms) at which something is due next: a delayed job or a schedule; 0 for at once. */
  nextDueAt?: number;
  /** The schedules part of the round failed after `promoted` jobs were promoted. */
  error?: Error;
}

/**
 * The scheduler work of one queue, done only while this instance leads it, in
 * rounds: promote due delayed jobs and retries into their tier streams, then
 * materialise due schedule occurrences (see ScheduleRunner) and release
 * held-back ones. A round says when something is due next, so the leader can
 * sleep until then (or until a notice says something is due sooner).
 *
 * Guarantees: a due job is promoted once (the promote script removes it from
 * the delayed set and adds it to its stream atomically, and only for the
 * current term's lock value). It does not promise anything while no instance
 * leads: due jobs then wait until one does. Occurrences that fell due before
 * this term began, while no leader watched, are a backlog for the schedules'
 * `catchUp` policies; later ones are live.
 */
export class QueueScheduler {
  private readonly schedules: ScheduleRunner;
  /** The term the last round ran in, and the end of the unwatched gap before it (if there was one). */
  private term: { value: string; gapEnd: number | undefined } | undefined;

  constructor(
    private readonly ctx: QueueContext,
    private readonly leadership: Leadership,
    private readonly options: { batchSize: number; gapToleranceMs: number },
    private readonly logger: Logger,
  ) {
    this.schedules = new ScheduleRunner(ctx, { batchSize: 100 }, logger);
  }

  /** One round. `release`: also start held-back occurrences whose predecessor finished. */
  async runOnce(release: boolean): Promise<RunOnceResult> {
    if (!this.leadership.isLeader) return { promoted: 0, released: 0 };
    const leaderValue = this.leadership.value!;
    let promoted = 0;
    for (;;) {
      const result = await promoteDue(this.ctx, leaderValue, this.options.batchSize);
      if (result.promoted < 0) return this.fenced(promoted);
      // from the round's first call: later calls see the time the first one recorded
      const gapEnd = this.gapEndOfTerm(leaderValue, result.now, result.previousRound);
      promoted += result.promoted;
      if (result.promoted === this.options.batchSize) continue;
      const done = { promoted, released: 0, now: result.now };
      const scheduleDue = result.nextScheduleAt !== undefined && result.nextScheduleAt <= result.now;
      if (!scheduleDue && !release) return { ...done, nextDueAt: nextDueAt(result.nextDueAt, result.nextScheduleAt) };
      let schedules: ScheduleRoundResult | undefined;
      try {
        if (scheduleDue) {
          schedules = await this.schedules.runOnce(leaderValue, result.now, gapEnd);
          if (schedules.fenced) return this.fenced(promoted);
        } else {
          const released = await this.schedules.releaseOnly(leaderValue);
          if (released === undefined) return this.fenced(promoted);
          done.released = released;
        }
      } catch (err) {
        // the promotions stand (they were written): report them with the error
        return { ...done, error: err as Error };
      }
      if (!schedules) return { ...done, nextDueAt: nextDueAt(result.nextDueAt, result.nextScheduleAt) };
      return {
        ...done,
        released: schedules.released,
        schedules,
        nextDueAt: schedules.again ? 0 : nextDueAt(result.nextDueAt, schedules.nextDueAt),
      };
    }
  }

  /**
   * The first round of a term decides whether the term began after a gap: the
   * last time a leader watched (its last round, or its resignation) is longer
   * ago than the tolerance. Then every occurrence due up to this round passed
   * unwatched; later rounds of the term were watched by this leader.
   */
  private gapEndOfTerm(leaderValue: string, now: number, previousRound: number): number | undefined {
    if (this.term?.value !== leaderValue) {
      const afterGap = previousRound === 0 || now - previousRound > this.options.gapToleranceMs;
      this.term = { value: leaderValue, gapEnd: afterGap ? now : undefined };
    }
    return this.term.gapEnd;
  }

  private fenced(promoted: number): RunOnceResult {
    this.logger.warn({ queue: this.ctx.keys.queue }, 'leader term ended; its writes are fenced off');
    this.leadership.markLost();
    return { promoted, released: 0 };
  }
}

/** The earliest of the times known, if any. */
function nextDueAt(...times: (number | undefined)[]): number | undefined {
  const known = times.filter((time): time is number => time !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
}
