/**
 * Shared set-up of the script tests: a queue context on the test Redis under
 * a fresh prefix, and small wrappers that assert what every script test
 * expects of its preconditions (a job really added, exactly one fetched).
 */
import { expect } from '@jest/globals';
import {
  CONSUMER_GROUP,
  QueueKeys,
  RedisConnection,
  addJobs,
  fetchJobs,
  initQueue,
  readJob,
  toRecord,
  type EncodedJob,
  type FetchedJob,
  type HeldJob,
  type QueueContext,
} from '@streamjobs/core';
import { connection, testPrefix, type OpenResources } from '@streamjobs/testing';

/** Tier index of `normal` in the default tiers, where `job()` puts jobs. */
export const NORMAL = 2;

export async function setUpContext(
  open: OpenResources,
  { label, queue, maxEvents }: { label: string; queue: string; maxEvents: number },
): Promise<QueueContext> {
  const conn = RedisConnection.create(connection());
  open.track(conn);
  const keys = new QueueKeys(testPrefix(label), queue);
  const tiers = await initQueue(conn, keys, undefined);
  return { connection: conn, keys, tiers, maxEvents };
}

export function job(id: string, extra: Partial<EncodedJob> = {}): EncodedJob {
  return { id, name: 'test', dataJson: JSON.stringify({ id }), optsJson: '{"attempts":1}', tier: NORMAL, delay: 0, ...extra };
}

export async function add(ctx: QueueContext, ...jobs: EncodedJob[]): Promise<void> {
  const replies = await addJobs(ctx, jobs);
  for (const reply of replies) expect(reply.created).toBe(true);
}

export function held(fetched: FetchedJob): HeldJob {
  return { id: fetched.id, tier: fetched.tier, entryId: fetched.entryId, startedAt: fetched.startedAt };
}

export async function fetchOne(ctx: QueueContext, consumer: string): Promise<FetchedJob> {
  const reply = await fetchJobs(ctx, consumer, 1);
  expect(reply.jobs).toHaveLength(1);
  return reply.jobs[0]!;
}

/** A job's hash as stored. A running job's says "waiting": see `readerView`. */
export async function hash(ctx: QueueContext, id: string): Promise<Record<string, string>> {
  return toRecord(await ctx.connection.call<unknown[]>(['HGETALL', ctx.keys.job(id)]));
}

/** A job's hash as readers see it: "active" with its `owner` while its entry is pending. */
export async function readerView(ctx: QueueContext, id: string): Promise<Record<string, string>> {
  return (await readJob(ctx, id))?.record ?? {};
}

/**
 * Everything stored under the test's prefix, in a comparable form: to show a
 * call changed nothing at all. Idle times are left out (they change by themselves).
 */
export async function snapshot(ctx: QueueContext): Promise<Record<string, unknown>> {
  const call = <T>(args: (string | number)[]) => ctx.connection.call<T>(args);
  const keys = (await call<string[]>(['KEYS', `${ctx.keys.prefix}:*`])).map(String).sort();
  expect(keys).toContain(ctx.keys.lane(0)); // the snapshot sees the queue's keys
  const result: Record<string, unknown> = {};
  for (const key of keys) {
    const type = String(await call(['TYPE', key]));
    if (type === 'hash') {
      const record = toRecord(await call<unknown[]>(['HGETALL', key]));
      result[key] = Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
    } else if (type === 'zset') {
      result[key] = await call(['ZRANGE', key, 0, -1, 'WITHSCORES']);
    } else if (type === 'list') {
      result[key] = await call(['LRANGE', key, 0, -1]); // e.g. the completed jobs
    } else if (type === 'stream') {
      const groups = await call<unknown[][]>(['XINFO', 'GROUPS', key]);
      result[key] = {
        entries: await call(['XRANGE', key, '-', '+']),
        groups,
        pending: groups.length > 0 ? await call(['XPENDING', key, CONSUMER_GROUP]) : null,
      };
    } else if (type === 'string') {
      result[key] = await call(['GET', key]);
    } else {
      result[key] = type;
    }
  }
  return result;
}
