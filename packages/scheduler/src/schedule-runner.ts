import {
  decodeSchedule,
  materialise,
  planRound,
  releaseBuffered,
  toRecord,
  type Logger,
  type QueueContext,
} from '@streamjobs/core';

export interface ScheduleRoundResult {
  /** Jobs created for occurrences (held-back ones included). */
  created: number;
  /** Occurrences passed over by catch-up policies and bounds. */
  missed: number;
  skipped: number;
  /** Held-back occurrences started because their predecessor finished. */
  released: number;
  /** A backlog or a changed schedule needs another round at once. */
  again: boolean;
  /** Nominal time of the earliest next occurrence, if any. */
  nextDueAt?: number;
  /** The leader's term ended: a fenced script said so. */
  fenced: boolean;
}

/**
 * The leader's work on repeat schedules, in a round where one is due: materialise
 * the due occurrences of every due schedule, then release held-back (`buffer`)
 * occurrences whose predecessor finished (`releaseOnly` does just the latter).
 *
 * Guarantees: each occurrence becomes at most one job (deterministic id, and
 * the schedule's next run advances in the same fenced, versioned script). An
 * occurrence is live unless it fell due while no leader watched: up to
 * `gapEnd`, when the leader's term began after such a gap; then the
 * schedule's `catchUp` policy decides whether it runs. The leader wakes at
 * each schedule's next nominal time, so live occurrences start within a few
 * ms of it. Nothing runs while no instance leads.
 */
export class ScheduleRunner {
  constructor(
    private readonly ctx: QueueContext,
    private readonly options: { batchSize: number },
    private readonly logger: Logger,
  ) {}

  /** Starts held-back occurrences whose predecessor finished; undefined when the term ended. */
  async releaseOnly(leaderValue: string): Promise<number | undefined> {
    const released = await releaseBuffered(this.ctx, leaderValue);
    return released < 0 ? undefined : released;
  }

  async runOnce(leaderValue: string, now: number, gapEnd: number | undefined): Promise<ScheduleRoundResult> {
    const result: ScheduleRoundResult = { created: 0, missed: 0, skipped: 0, released: 0, again: false, fenced: false };
    const { connection, keys } = this.ctx;
    const due = (await connection.call<unknown[]>(['ZRANGEBYSCORE', keys.schedulesDue, '-inf', now, 'LIMIT', 0, this.options.batchSize])).map(String);
    for (const id of due) {
      const flat = await connection.call<unknown[]>(['HGETALL', keys.schedule(id)]);
      if (flat.length === 0) continue;
      const schedule = decodeSchedule(id, toRecord(flat));
      if (schedule.nextRunAt === undefined) continue;
      // a backlog being worked off, or the gap before this term: occurrences up to there passed unwatched
      const backlogUntil = Math.max(schedule.backlogUntil ?? -Infinity, gapEnd ?? -Infinity);
      const plan = planRound(
        {
          spec: schedule.spec,
          anchor: schedule.anchor,
          next: schedule.nextRunAt,
          runs: schedule.runs,
          ...(Number.isFinite(backlogUntil) ? { backlogUntil } : {}),
        },
        now,
        false,
      );
      const reply = await materialise(this.ctx, leaderValue, { scheduleId: id, version: schedule.version, ...plan });
      if (reply.status === 'not-leader') return { ...result, fenced: true };
      if (reply.status === 'changed' || !plan.caughtUp) result.again = true;
      if (reply.status !== 'done') continue;
      result.created += reply.created;
      result.skipped += reply.skipped;
      result.missed += plan.missed;
      if (plan.missed > 0) {
        this.logger.info({ queue: keys.queue, schedule: id, missed: plan.missed }, 'schedule occurrences missed');
      }
    }
    if (due.length === this.options.batchSize) result.again = true;
    const released = await this.releaseOnly(leaderValue);
    if (released === undefined) return { ...result, fenced: true };
    result.released = released;
    const [, score] = await connection.call<unknown[]>(['ZRANGE', keys.schedulesDue, 0, 0, 'WITHSCORES']);
    if (score !== undefined) result.nextDueAt = Number(score);
    return result;
  }
}
