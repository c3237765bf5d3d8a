import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('counts', import.meta.url);

export interface JobCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  canceled: number;
  /** Waiting jobs per tier name. */
  waitingByTier: Record<string, number>;
}

export async function countJobs(ctx: QueueContext): Promise<JobCounts> {
  const reply = (
    await script.run<number[]>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), [ctx.keys.base, CONSUMER_GROUP])
  ).map(Number);
  const [waiting = 0, active = 0, delayed = 0, completed = 0, failed = 0, canceled = 0] = reply;
  const waitingByTier = Object.fromEntries(ctx.tiers.map((tier, index) => [tier, reply[6 + index] ?? 0]));
  return { waiting, active, delayed, completed, failed, canceled, waitingByTier };
}
