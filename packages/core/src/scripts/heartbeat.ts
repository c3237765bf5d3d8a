import { CONSUMER_GROUP } from '../keys.js';
import type { QueueContext } from './context.js';
import type { CancelNotice } from './cancel.js';
import type { HeldJob } from './settle.js';
import { LuaScript } from './script.js';

const heartbeatScript = LuaScript.fromFile('heartbeat', import.meta.url);

export function heldArgs(jobs: readonly HeldJob[]): (string | number)[] {
  return jobs.flatMap((job) => [job.tier, job.entryId, job.id]);
}

export interface HeartbeatReply {
  /** Jobs `consumer` no longer owns (reclaimed elsewhere). */
  lost: string[];
  /** Jobs canceled while `consumer` ran them. */
  canceled: CancelNotice[];
}

/** Refreshes the entries of `jobs`; tells which were lost or canceled meanwhile. */
export async function heartbeat(ctx: QueueContext, consumer: string, jobs: readonly HeldJob[]): Promise<HeartbeatReply> {
  if (jobs.length === 0) return { lost: [], canceled: [] };
  const [lost, canceled] = await heartbeatScript.run<[string[], string[]]>(
    ctx.connection,
    ctx.keys.lanes(ctx.tiers.length),
    [ctx.keys.base, CONSUMER_GROUP, consumer, ...heldArgs(jobs)],
  );
  const notices: CancelNotice[] = [];
  for (let i = 0; i + 2 < canceled.length; i += 3) {
    notices.push({ id: String(canceled[i]), reason: String(canceled[i + 1]), by: String(canceled[i + 2]) });
  }
  return { lost: lost.map(String), canceled: notices };
}
