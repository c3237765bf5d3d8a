import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import type { HeldJob } from './settle.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('save-state', import.meta.url);

export type SavedState =
  | { what: 'checkpoint'; json: string }
  | { what: 'step'; name: string; json: string }
  | { what: 'progress'; json: string };

export type SaveReply = 'saved' | 'lost' | 'canceled';

/** Saves a running job's checkpoint, step result or progress, if `consumer` still owns it. */
export async function saveState(ctx: QueueContext, consumer: string, job: HeldJob, state: SavedState): Promise<SaveReply> {
  const reply = Number(
    await script.run(ctx.connection, [ctx.keys.job(job.id), ctx.keys.checkpoint(job.id), ctx.keys.lane(job.tier)], [
      ctx.keys.base,
      CONSUMER_GROUP,
      consumer,
      job.entryId,
      job.id,
      state.what,
      state.what === 'step' ? state.name : '',
      state.json,
      ctx.maxEvents,
    ]),
  );
  return reply === 1 ? 'saved' : reply === 2 ? 'canceled' : 'lost';
}
