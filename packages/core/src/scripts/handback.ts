import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import type { HeldJob } from './settle.js';
import { heldArgs } from './heartbeat.js';
import { LuaScript } from './script.js';

const handbackScript = LuaScript.fromFile('handback', import.meta.url);

/** Gives `jobs` back to the queue for other workers; returns how many were still owned. */
export async function handBack(ctx: QueueContext, consumer: string, jobs: readonly HeldJob[]): Promise<number> {
  if (jobs.length === 0) return 0;
  return handbackScript.run<number>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    ctx.maxEvents,
    ...heldArgs(jobs),
  ]);
}
