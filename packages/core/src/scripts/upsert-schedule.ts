import { publishCommand, type QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('upsert-schedule', import.meta.url);

export type UpsertReply = 'unchanged' | 'created' | 'changed';

/** Defines or changes a schedule; `first` is its next occurrence from `now`. */
export async function upsertSchedule(
  ctx: QueueContext,
  id: string,
  definition: { specJson: string; templateJson: string; first: number | undefined; now: number },
): Promise<UpsertReply> {
  const reply = Number(
    await script.run(ctx.connection, [ctx.keys.schedule(id), ctx.keys.schedulesDue, ctx.keys.scheduleIds], [
      id,
      definition.specJson,
      definition.templateJson,
      definition.first ?? -1,
      definition.now,
      publishCommand(ctx),
      ctx.keys.dueChannel,
    ]),
  );
  return reply === 0 ? 'unchanged' : reply === 1 ? 'created' : 'changed';
}
