import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('unschedule', import.meta.url);

/** Removes a schedule; returns its held-back and recent occurrence job ids, or undefined if none existed. */
export async function removeSchedule(
  ctx: QueueContext,
  id: string,
): Promise<{ heldBack: string[]; recent: string[] } | undefined> {
  const reply = (
    await script.run<unknown[]>(
      ctx.connection,
      [ctx.keys.schedule(id), ctx.keys.schedulesDue, ctx.keys.scheduleIds, ctx.keys.bufferedSchedules],
      [id],
    )
  ).map(String);
  if (reply[0] !== '1') return undefined;
  const split = reply.indexOf('|');
  return { heldBack: reply.slice(1, split), recent: reply.slice(split + 1) };
}
