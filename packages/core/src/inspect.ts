import type { RedisConnection } from './connection.js';
import { toRecord } from './job/codec.js';
import type { JobState } from './job/types.js';
import { CONSUMER_GROUP, type QueueKeys } from './keys.js';
import type { QueueContext } from './scripts/context.js';

/*
 * What operators (the CLI) see of queues beyond `Queue`'s own API: which
 * queues exist, which jobs are in a state, throughput, the oldest waiting job,
 * and the queue-wide pause flag. Everything else is read-only. This is the one
 * module outside the scripts that reads the key layout (keys.ts,
 * docs/architecture.md) directly: when the layout changes, it changes here.
 */

/** Where a listing starts and how many it returns. */
export interface Page {
  offset: number;
  count: number;
}

/** A waiting or running job's stream entry. */
interface LaneEntry {
  entryId: string;
  jobId: string;
}

/** Redis server time in ms: ages and rates use the clock the scripts use. */
export async function serverTime(connection: RedisConnection): Promise<number> {
  const [seconds, micros] = await connection.call<string[]>(['TIME']);
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * Names of the queues under `prefix`, sorted: every queue used once has its
 * meta hash. On a cluster every master is scanned (queues spread over them).
 */
export async function listQueues(connection: RedisConnection, prefix: string): Promise<string[]> {
  const head = `${prefix}:{`;
  const tail = '}:meta';
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:{*}:meta`;
  const names = new Set<string>();
  for (const call of await connection.masterCallers()) {
    let cursor = '0';
    do {
      const [next, found] = (await call(['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1_000, 'TYPE', 'hash'])) as [string, string[]];
      cursor = String(next);
      for (const key of found.map(String)) {
        const name = key.slice(head.length, key.length - tail.length);
        // `*` matches braces too; a queue name never holds one
        if (name.length > 0 && !/[{}]/.test(name)) names.add(name);
      }
    } while (cursor !== '0');
  }
  return [...names].sort();
}

/** Whether the queue was ever used: it has its meta hash (which `Queue` and `Worker` write first). */
export async function queueExists(connection: RedisConnection, keys: QueueKeys): Promise<boolean> {
  return Number(await connection.call(['EXISTS', keys.meta])) === 1;
}

/**
 * Ids of the queue's jobs in `state`, in the order that matters there:
 * waiting and active by tier (highest first), then in stream order; delayed
 * soonest due first; completed, failed and canceled newest first.
 */
export async function jobIdsInState(ctx: QueueContext, state: JobState, page: Page): Promise<string[]> {
  const { connection, keys } = ctx;
  const end = page.offset + page.count;
  switch (state) {
    case 'waiting':
      return (await collectByTier(ctx, end, waitingEntries)).slice(page.offset).map((entry) => entry.jobId);
    case 'active':
      return (await collectByTier(ctx, end, activeEntries)).slice(page.offset).map((entry) => entry.jobId);
    case 'delayed':
      return zrange(connection, keys.delayed, page, 'soonest');
    case 'completed':
      return completedIds(connection, keys, page);
    case 'failed':
      return zrange(connection, keys.dead, page, 'newest');
    case 'canceled':
      return zrange(connection, keys.canceled, page, 'newest');
  }
}

/**
 * Ids of retained completed jobs, newest first. `completed` is a list of job
 * ids in finish order (newest at the tail).
 */
export async function completedIds(connection: RedisConnection, keys: QueueKeys, page: Page): Promise<string[]> {
  const ids = await connection.call<string[]>(['LRANGE', keys.completed, -(page.offset + page.count), -(page.offset + 1)]);
  return ids.map(String).reverse();
}

/** Running jobs (pending entries of the consumer group) per tier name. */
export async function activeByTier(ctx: QueueContext): Promise<Record<string, number>> {
  const lanes = ctx.keys.lanes(ctx.tiers.length);
  const pending = await Promise.all(
    lanes.map((lane) => ctx.connection.call<unknown[]>(['XPENDING', lane, CONSUMER_GROUP]).catch(ignoreMissingLane([0]))),
  );
  return Object.fromEntries(ctx.tiers.map((tier, index) => [tier, Number(pending[index]![0])]));
}

/** The job that has waited longest in its stream (over all tiers), and since when (server ms). */
export async function oldestWaiting(ctx: QueueContext): Promise<{ jobId: string; since: number } | undefined> {
  const firsts = await Promise.all(ctx.tiers.map((_, tier) => waitingEntries(ctx, tier, 1)));
  const entries = firsts.flat().map((entry) => ({ jobId: entry.jobId, since: Number(entry.entryId.split('-')[0]) }));
  return entries.sort((a, b) => a.since - b.since)[0];
}

export interface Throughput {
  /** Jobs completed within the window. */
  completed: number;
  /** The window (ms): the last `windowMs`, or less when more jobs completed in it than were sampled. */
  windowMs: number;
  perSecond: number;
}

/**
 * Completions per second over the last `windowMs` before `now`, counted from
 * the finish times of the newest `sample` retained completed jobs. Jobs
 * removed on completion (`removeOnComplete`) are not counted.
 */
export async function completionRate(
  ctx: QueueContext,
  { now, windowMs = 60_000, sample = 1_000 }: { now: number; windowMs?: number; sample?: number },
): Promise<Throughput> {
  const { connection, keys } = ctx;
  const ids = await completedIds(connection, keys, { offset: 0, count: sample });
  const finishedAt = await Promise.all(ids.map((id) => connection.call<string | null>(['HGET', keys.job(id), 'finishedAt'])));
  const inWindow = finishedAt.filter((at) => at !== null && Number(at) > now - windowMs).map(Number);
  // the whole sample finished within the window: measure over the span it covers
  const span = inWindow.length === sample ? Math.max(1, now - Math.min(...inWindow)) : windowMs;
  return { completed: inWindow.length, windowMs: span, perSecond: (inWindow.length * 1000) / span };
}

/** Sets the pause flag: workers start no new job while it exists. False if it was set already. */
export async function pauseQueue(connection: RedisConnection, keys: QueueKeys): Promise<boolean> {
  return (await connection.call(['SET', keys.paused, '1', 'NX'])) !== null;
}

/** Clears the pause flag. False if it was not set. */
export async function resumeQueue(connection: RedisConnection, keys: QueueKeys): Promise<boolean> {
  return Number(await connection.call(['DEL', keys.paused])) === 1;
}

export async function isQueuePaused(connection: RedisConnection, keys: QueueKeys): Promise<boolean> {
  return Number(await connection.call(['EXISTS', keys.paused])) === 1;
}

type TierReader = (ctx: QueueContext, tier: number, count: number) => Promise<LaneEntry[]>;

/** Up to `count` entries read tier by tier, highest first. */
async function collectByTier(ctx: QueueContext, count: number, read: TierReader): Promise<LaneEntry[]> {
  const collected: LaneEntry[] = [];
  for (let tier = 0; tier < ctx.tiers.length && collected.length < count; tier++) {
    collected.push(...(await read(ctx, tier, count - collected.length)));
  }
  return collected;
}

/** Entries after the group's last-delivered id: delivered to no worker yet. */
async function waitingEntries(ctx: QueueContext, tier: number, count: number): Promise<LaneEntry[]> {
  const lane = ctx.keys.lane(tier);
  const groups = await ctx.connection.call<unknown[][]>(['XINFO', 'GROUPS', lane]).catch(ignoreMissingLane([]));
  const group = groups.map((info) => toRecord(info)).find((info) => info.name === CONSUMER_GROUP);
  const after = group?.['last-delivered-id'] ?? '0-0';
  return laneEntries(await ctx.connection.call(['XRANGE', lane, `(${after}`, '+', 'COUNT', count]));
}

/** The group's pending entries: delivered to a worker and not yet acknowledged. */
async function activeEntries(ctx: QueueContext, tier: number, count: number): Promise<LaneEntry[]> {
  const lane = ctx.keys.lane(tier);
  const pending = await ctx.connection
    .call<unknown[][]>(['XPENDING', lane, CONSUMER_GROUP, '-', '+', count])
    .catch(ignoreMissingLane([]));
  const entries = await Promise.all(
    pending.map(async ([entryId]) => laneEntries(await ctx.connection.call(['XRANGE', lane, String(entryId), String(entryId)]))),
  );
  return entries.flat();
}

/** Stream entries as `{ entryId, jobId }`; entries without a job id (dead-lettered when fetched) are left out. */
function laneEntries(reply: unknown): LaneEntry[] {
  return (reply as [string, unknown[]][])
    .map(([entryId, fields]) => ({ entryId: String(entryId), jobId: toRecord(fields).j ?? '' }))
    .filter((entry) => entry.jobId !== '');
}

/** A lane or its group can be missing only before the queue's first use: read it as empty. */
function ignoreMissingLane<T>(empty: T): (err: unknown) => T {
  return (err) => {
    if (err instanceof Error && /no such key|NOGROUP/i.test(err.message)) return empty;
    throw err;
  };
}

async function zrange(connection: RedisConnection, key: string, page: Page, order: 'soonest' | 'newest'): Promise<string[]> {
  const range = ['ZRANGE', key, page.offset, page.offset + page.count - 1, ...(order === 'newest' ? ['REV'] : [])];
  return (await connection.call<string[]>(range)).map(String);
}
