import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('reclaim', import.meta.url);

export interface ReclaimOptions {
  /** Entries idle longer than this (ms) belong to a dead or stalled worker. */
  minIdleMs: number;
  /** Max entries to claim per tier in one call. */
  count: number;
  /** A job that stalls more often than this fails for good. */
  maxStalls: number;
}

export interface ReclaimResult {
  requeued: number;
  failed: number;
  unreadable: number;
}

/** Requeues (or fails) the jobs of workers that stopped heartbeating. */
export async function reclaimStalled(ctx: QueueContext, consumer: string, opts: ReclaimOptions): Promise<ReclaimResult> {
  const [requeued, failed, unreadable] = await script.run<number[]>(
    ctx.connection,
    ctx.keys.lanes(ctx.tiers.length),
    [ctx.keys.base, CONSUMER_GROUP, consumer, opts.minIdleMs, opts.count, opts.maxStalls, ctx.maxEvents],
  );
  return { requeued: Number(requeued), failed: Number(failed), unreadable: Number(unreadable) };
}
