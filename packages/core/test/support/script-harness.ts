/**
 * Shared set-up of the script tests: a queue context on the test Redis under
 * a fresh prefix, and small wrappers that assert what every script test
 * expects of its preconditions (a job really added, exactly one fetched).
 */
import { expect } from '@jest/globals';
import {
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
