import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('retry-dead', import.meta.url);

export type RetryDeadReply = 'requeued' | 'not-dead' | 'unreadable';

/** Moves a dead-lettered job back into its stream with fresh attempts. */
export async function retryDead(ctx: QueueContext, jobId: string): Promise<RetryDeadReply> {
  const reply = Number(
    await script.run(ctx.connection, [ctx.keys.dead, ctx.keys.job(jobId)], [ctx.keys.base, jobId, ctx.maxEvents]),
  );
  return reply === 1 ? 'requeued' : reply === 0 ? 'not-dead' : 'unreadable';
}
