import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import type { HeldJob } from './settle.js';
import { heldArgs } from './heartbeat.js';
import { LuaScript } from './script.js';

const handbackScript = LuaScript.fromFile('handback', import.meta.url);

function runHandback(ctx: QueueContext, consumer: string, mode: 'listed' | 'unlisted', jobs: readonly HeldJob[]): Promise<number> {
  return handbackScript.run<number>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    ctx.maxEvents,
    mode,
    ...heldArgs(jobs),
  ]);
}

/** Gives `jobs` back to the queue for other workers; returns how many were still owned. */
export async function handBack(ctx: QueueContext, consumer: string, jobs: readonly HeldJob[]): Promise<number> {
  if (jobs.length === 0) return 0;
  return runHandback(ctx, consumer, 'listed', jobs);
}

/**
 * Gives back every job whose entry is pending for `consumer` except `held`:
 * the jobs a call whose reply was lost claimed for it. Only while none of its
 * calls is in flight (one could be claiming), with `held` every job it runs or
 * is about to start. Returns how many were handed back.
 */
export function handBackUnheld(ctx: QueueContext, consumer: string, held: readonly HeldJob[]): Promise<number> {
  return runHandback(ctx, consumer, 'unlisted', held);
}
