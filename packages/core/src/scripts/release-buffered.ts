import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('release-buffered', import.meta.url);

/** Starts held-back occurrences whose predecessor finished; -1 when not leader. */
export async function releaseBuffered(ctx: QueueContext, leaderValue: string): Promise<number> {
  return Number(
    await script.run(ctx.connection, [ctx.keys.bufferedSchedules, ctx.keys.leader], [ctx.keys.base, leaderValue]),
  );
}
