import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('promote', import.meta.url);

export interface PromoteResult {
  /** Jobs moved into their streams; -1 when the caller is no longer leader. */
  promoted: number;
  /** Due time of the earliest job still delayed, if any. */
  nextDueAt?: number;
  /** Server time of the call (ms). */
  now: number;
  /** Server time a leader last watched the queue (its previous round, or its resignation; ms), 0 if none ever ran. */
  previousRound: number;
  /** Nominal time of the earliest schedule's next occurrence, if any schedule is active. */
  nextScheduleAt?: number;
}

/** Promotes up to `limit` due jobs, if `leaderValue` still holds the lock. */
export async function promoteDue(ctx: QueueContext, leaderValue: string, limit: number): Promise<PromoteResult> {
  const [promoted, nextDueAt, now, previousRound, nextScheduleAt] = await script.run<number[]>(
    ctx.connection,
    [ctx.keys.delayed, ctx.keys.leader, ctx.keys.leaderSeen, ctx.keys.schedulesDue],
    [ctx.keys.base, leaderValue, limit],
  );
  const result: PromoteResult = { promoted: Number(promoted), now: Number(now), previousRound: Number(previousRound) };
  if (Number(nextDueAt) >= 0) result.nextDueAt = Number(nextDueAt);
  if (Number(nextScheduleAt) >= 0) result.nextScheduleAt = Number(nextScheduleAt);
  return result;
}
