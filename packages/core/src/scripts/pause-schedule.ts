import { publishCommand, type QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('pause-schedule', import.meta.url);

export type PauseReply = 'changed' | 'unchanged' | 'conflict';

/** Pauses a schedule, or resumes it with `next` computed from now for schedule `version`. */
export async function pauseSchedule(
  ctx: QueueContext,
  id: string,
  action: { pause: true } | { pause: false; next: number | undefined; version: string },
): Promise<PauseReply> {
  const reply = Number(
    await script.run(ctx.connection, [ctx.keys.schedule(id), ctx.keys.schedulesDue], [
      id,
      action.pause ? 'pause' : 'resume',
      action.pause ? -1 : (action.next ?? -1),
      action.pause ? '' : action.version,
      publishCommand(ctx),
      ctx.keys.dueChannel,
    ]),
  );
  return reply === 1 ? 'changed' : reply === 0 ? 'unchanged' : 'conflict';
}
