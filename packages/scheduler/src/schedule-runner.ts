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
 * The leader's work on repeat schedules, once per round: materialise the due
 * occurrences of every due schedule, then release held-back (`buffer`)
 * occurrences whose predecessor finished.
 *
 * Guarantees: each occurrence becomes at most one job (deterministic id, and
 * the schedule's next run advances in the same fenced, versioned script). An
 * occurrence is live when the previous leader round was recent
 * (`gapToleranceMs`); otherwise it passed while no leader watched, and the
 * schedule's `catchUp` policy decides whether it runs. Live occurrences start
 * within about one `pollInterval` of their nominal time. Nothing runs while
 * no instance leads.
 */
export class ScheduleRunner {
  constructor(
    private readonly ctx: QueueContext,
    private readonly options: { gapToleranceMs: number; batchSize: number },
    private readonly logger: Logger,
  ) {}

  async runOnce(leaderValue: string, now: number, previousRound: number): Promise<ScheduleRoundResult> {
    const result: ScheduleRoundResult = { created: 0, missed: 0, skipped: 0, released: 0, again: false, fenced: false };
    const afterGap = previousRound === 0 || now - previousRound > this.options.gapToleranceMs;
    const { connection, keys } = this.ctx;
    const due = (await connection.call<unknown[]>(['ZRANGEBYSCORE', keys.schedulesDue, '-inf', now, 'LIMIT', 0, this.options.batchSize])).map(String);
    for (const id of due) {
      const flat = await connection.call<unknown[]>(['HGETALL', keys.schedule(id)]);
      if (flat.length === 0) continue;
      const schedule = decodeSchedule(id, toRecord(flat));
      if (schedule.nextRunAt === undefined) continue;
      const plan = planRound(
        {
          spec: schedule.spec,
          anchor: schedule.anchor,
          next: schedule.nextRunAt,
          runs: schedule.runs,
          ...(schedule.backlogUntil === undefined ? {} : { backlogUntil: schedule.backlogUntil }),
        },
        now,
        afterGap,
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
    const released = await releaseBuffered(this.ctx, leaderValue);
    if (released < 0) return { ...result, fenced: true };
    result.released = released;
    const [, score] = await connection.call<unknown[]>(['ZRANGE', keys.schedulesDue, 0, 0, 'WITHSCORES']);
    if (score !== undefined) result.nextDueAt = Number(score);
    return result;
  }
}
