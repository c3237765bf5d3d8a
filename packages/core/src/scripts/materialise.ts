import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('materialise', import.meta.url);

export type MaterialiseReply =
  | { status: 'done'; created: number; skipped: number; buffered: number }
  | { status: 'not-leader' | 'changed' };

/** Applies one round's plan for a schedule, if still leader and the schedule unchanged. */
export async function materialise(
  ctx: QueueContext,
  leaderValue: string,
  plan: {
    scheduleId: string;
    version: string;
    run: readonly number[];
    missed: number;
    next: number | undefined;
    backlogUntil?: number;
  },
): Promise<MaterialiseReply> {
  const reply = (
    await script.run<number[]>(ctx.connection, [ctx.keys.schedule(plan.scheduleId), ctx.keys.schedulesDue, ctx.keys.leader], [
      ctx.keys.base,
      leaderValue,
      plan.scheduleId,
      plan.version,
      plan.next ?? -1,
      plan.missed,
      ctx.maxEvents,
      plan.backlogUntil ?? 0,
      ...plan.run,
    ])
  ).map(Number);
  if (reply[0] === -1) return { status: 'not-leader' };
  if (reply[0] === -2) return { status: 'changed' };
  return { status: 'done', created: reply[0] ?? 0, skipped: reply[1] ?? 0, buffered: reply[2] ?? 0 };
}
