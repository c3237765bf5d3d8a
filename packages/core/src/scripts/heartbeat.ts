import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import type { HeldJob } from './finish.js';
import { LuaScript } from './script.js';

const heartbeatScript = LuaScript.fromFile('heartbeat', import.meta.url);

export function heldArgs(jobs: readonly HeldJob[]): (string | number)[] {
  return jobs.flatMap((job) => [job.tier, job.entryId, job.id]);
}

/** Refreshes the entries of `jobs`; returns the ids `consumer` no longer owns. */
export async function heartbeat(ctx: QueueContext, consumer: string, jobs: readonly HeldJob[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const lost = await heartbeatScript.run<string[]>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    ...heldArgs(jobs),
  ]);
  return lost.map(String);
}
