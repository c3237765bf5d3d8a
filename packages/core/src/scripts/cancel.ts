import { CONSUMER_GROUP } from '../keys.js';
import { publishCommand, type QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('cancel', import.meta.url);

export interface CancelOptions {
  /** Why; the running handler's abort reason carries it. */
  reason?: string;
  /** Who cancels (a user, a service); carried like the reason. */
  by?: string;
}

/** The notice published when a running job is canceled. */
export interface CancelNotice {
  id: string;
  reason: string;
  by: string;
}

/** Cancels jobs in any state; per id, true when it was canceled now. */
export async function cancelJobs(ctx: QueueContext, ids: readonly string[], options: CancelOptions = {}): Promise<boolean[]> {
  if (ids.length === 0) return [];
  const replies = await script.run<number[]>(ctx.connection, [ctx.keys.delayed], [
    ctx.keys.base,
    CONSUMER_GROUP,
    options.reason ?? '',
    options.by ?? '',
    ctx.maxEvents,
    publishCommand(ctx),
    ...ids,
  ]);
  return replies.map((reply) => Number(reply) === 1);
}
