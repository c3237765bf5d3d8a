import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('reclaim', import.meta.url);

export interface ReclaimOptions {
  /** Entries idle longer than this (ms) belong to a dead or stalled worker. */
  minIdleMs: number;
  /** Max entries to claim per XAUTOCLAIM call (each looks at up to ten times as many). */
  count: number;
  /** A job that stalls more often than this fails for good. */
  maxStalls: number;
}

export interface ReclaimResult {
  requeued: number;
  failed: number;
  unreadable: number;
}

/** One step of a walk over the pending entries of every tier. */
export interface ReclaimRound {
  result: ReclaimResult;
  /** Entries pending in all tiers before the step. */
  pending: number;
  /** Per tier, where the walk goes on from ("0-0": the tier was walked to its end). */
  cursors: string[];
}

/**
 * Requeues (or fails) the jobs of workers that stopped heartbeating, walking
 * each tier's pending entries from `cursors` (default: the start) with at
 * most `maxCalls` XAUTOCLAIM calls per tier.
 */
export async function reclaimRound(
  ctx: QueueContext,
  consumer: string,
  opts: ReclaimOptions & { cursors?: readonly string[]; cleanConsumers: boolean; maxCalls: number },
): Promise<ReclaimRound> {
  const lanes = ctx.keys.lanes(ctx.tiers.length);
  const cursors = lanes.map((_, tier) => opts.cursors?.[tier] ?? '0-0');
  const [requeued, failed, unreadable, pending, ...next] = await script.run<(number | string)[]>(ctx.connection, lanes, [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    opts.minIdleMs,
    opts.count,
    opts.maxStalls,
    ctx.maxEvents,
    opts.cleanConsumers ? '1' : '0',
    opts.maxCalls,
    ...cursors,
  ]);
  return {
    result: { requeued: Number(requeued), failed: Number(failed), unreadable: Number(unreadable) },
    pending: Number(pending),
    cursors: next.map(String),
  };
}

/** Requeues (or fails) the jobs of workers that stopped heartbeating: one walk of every tier from its start. */
export async function reclaimStalled(ctx: QueueContext, consumer: string, opts: ReclaimOptions): Promise<ReclaimResult> {
  const total: ReclaimResult = { requeued: 0, failed: 0, unreadable: 0 };
  let cursors: string[] | undefined;
  do {
    const round = await reclaimRound(ctx, consumer, { ...opts, cleanConsumers: cursors === undefined, maxCalls: 10, ...(cursors ? { cursors } : {}) });
    total.requeued += round.result.requeued;
    total.failed += round.result.failed;
    total.unreadable += round.result.unreadable;
    cursors = round.cursors;
  } while (cursors.some((cursor) => cursor !== '0-0'));
  return total;
}
