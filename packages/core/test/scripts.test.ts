// The Lua scripts, through their wrappers, against a real Redis: replays and
// races. Every test uses its own key prefix, so nothing leaks between them.
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  CONSUMER_GROUP,
  addJobs,
  claimLeadership,
  countJobs,
  fetchJobs,
  finishJob,
  handBack,
  handBackUnheld,
  heartbeat,
  promoteDue,
  reclaimStalled,
  resignLeadership,
  retryDead,
  toRecord,
  type QueueContext,
} from '@streamjobs/core';
import { OpenResources, liveStreamEntries, waitUntil } from '@streamjobs/testing';
import { NORMAL, add, fetchOne, hash, held, job, readerView, setUpContext, snapshot } from './support/script-harness.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

const QUEUE = 'scripts';
const LOW = 3;

function setUp(): Promise<QueueContext> {
  return setUpContext(open, { label: 'scripts', queue: QUEUE, maxEvents: 1_000 });
}

/** Pending entries of a lane: [entryId, consumer, idleMs, deliveries]. */
async function pending(ctx: QueueContext, tier: number): Promise<[string, string, number, number][]> {
  const reply = await ctx.connection.call<unknown[][]>(['XPENDING', ctx.keys.lane(tier), CONSUMER_GROUP, '-', '+', 100]);
  return reply.map((entry) => [String(entry[0]), String(entry[1]), Number(entry[2]), Number(entry[3])]);
}

async function totalPending(ctx: QueueContext): Promise<number> {
  let total = 0;
  for (let tier = 0; tier < ctx.tiers.length; tier++) total += (await pending(ctx, tier)).length;
  return total;
}

async function streamIds(ctx: QueueContext, key: string): Promise<string[]> {
  return (await liveStreamEntries((args) => ctx.connection.call(args), key)).map((entry) => entry.id);
}

describe('fetch', () => {
  it('claims only as many entries as asked for, highest tier first, in add order within a tier', async () => {
    const ctx = await setUp();
    await add(ctx, job('low-1', { tier: LOW }), job('low-2', { tier: LOW }), job('low-3', { tier: LOW }));
    await add(ctx, job('high-1', { tier: 1 }));
    const first = await fetchJobs(ctx, 'c1', 1);
    expect(first.jobs.map((j) => j.id)).toEqual(['high-1']);
    expect(await totalPending(ctx)).toBe(1);
    const next = await fetchJobs(ctx, 'c1', 2);
    expect(next.jobs.map((j) => j.id)).toEqual(['low-1', 'low-2']);
    expect(await totalPending(ctx)).toBe(3);
    expect(await hash(ctx, 'low-3')).toMatchObject({ state: 'waiting' });
    // a started job's hash is not written: its pending entry makes it active
    expect(await hash(ctx, 'low-1')).toMatchObject({ state: 'waiting', entry: next.jobs[0]!.entryId });
    expect(await readerView(ctx, 'low-1')).toMatchObject({ state: 'active', owner: 'c1', entry: next.jobs[0]!.entryId });
    expect(next.jobs[0]!.startedAt).toBeGreaterThan(0);
  });

  it('answers the last delivered id of every tier when nothing waits', async () => {
    const ctx = await setUp();
    const empty = await fetchJobs(ctx, 'c1', 5);
    expect(empty).toEqual({ jobs: [], lastIds: ['0-0', '0-0', '0-0', '0-0'] });
    await add(ctx, job('a'));
    const fetched = await fetchOne(ctx, 'c1');
    const after = await fetchJobs(ctx, 'c1', 5);
    expect(after).toEqual({ jobs: [], lastIds: ['0-0', '0-0', fetched.entryId, '0-0'] });
  });
});

describe('finish', () => {
  it('records an outcome once: sent again (its reply lost), it answers what was recorded and changes nothing', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const fetched = await fetchOne(ctx, 'c1');
    const outcome = { outcome: 'completed' as const, resultJson: '{"ok":1}' };
    expect(await finishJob(ctx, 'c1', held(fetched), outcome)).toBe('completed');
    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c1', held(fetched), outcome)).toBe('completed');
    expect(
      await finishJob(ctx, 'c1', held(fetched), { outcome: 'failed', error: 'late', stack: '', retryAt: 0 }),
    ).toBe('completed');
    expect(await snapshot(ctx)).toEqual(before);
    const completed = await hash(ctx, 'a');
    expect(completed).toMatchObject({ state: 'completed', result: '{"ok":1}', startedAt: String(fetched.startedAt) });
    expect(completed.attemptsMade).toBeUndefined(); // no failed attempt
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([]);
    expect(await totalPending(ctx)).toBe(0);
  });

  it('replaying a failed attempt does not count it twice', async () => {
    const ctx = await setUp();
    await add(ctx, job('a', { optsJson: '{"attempts":3}' }));
    const fetched = await fetchOne(ctx, 'c1');
    const failure = { outcome: 'failed' as const, error: 'boom', stack: 'Error: boom', retryAt: Date.now() + 60_000 };
    expect(await finishJob(ctx, 'c1', held(fetched), failure)).toBe('retrying');
    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c1', held(fetched), failure)).toBe('retrying');
    expect(await snapshot(ctx)).toEqual(before);
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'delayed', attemptsMade: '1', error: 'boom' });
  });

  it('two finishes of one delivery at the same time: exactly one is recorded', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const fetched = await fetchOne(ctx, 'c1');
    const replies = await Promise.all([
      finishJob(ctx, 'c1', held(fetched), { outcome: 'completed', resultJson: '1' }),
      finishJob(ctx, 'c1', held(fetched), { outcome: 'failed', error: 'x', stack: '' }),
    ]);
    // the second call finds the first one's outcome recorded: both answer it
    expect(new Set(replies).size).toBe(1);
    expect(['completed', 'failed']).toContain(replies[0]);
    expect((await hash(ctx, 'a')).state).toBe(replies[0]);
  });

  it('after the job was reclaimed by another consumer: the old owner is "lost", the new owner finishes', async () => {
    const ctx = await setUp();
    await add(ctx, job('a', { optsJson: '{"attempts":2}' }));
    const first = await fetchOne(ctx, 'c1');
    expect(await reclaimStalled(ctx, 'c2', { minIdleMs: 0, count: 100, maxStalls: 3 })).toEqual({
      requeued: 1,
      failed: 0,
      unreadable: 0,
    });
    const second = await fetchOne(ctx, 'c2');
    expect(second.id).toBe('a');
    expect(second.entryId).not.toBe(first.entryId);
    expect(second.record).toMatchObject({ state: 'active', owner: 'c2', stalls: '1' });
    expect(second.record.attemptsMade).toBeUndefined();

    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c1', held(first), { outcome: 'completed', resultJson: '"old"' })).toBe('lost');
    expect(await finishJob(ctx, 'c1', held(first), { outcome: 'failed', error: 'old', stack: '', retryAt: 0 })).toBe(
      'lost',
    );
    expect(await snapshot(ctx)).toEqual(before);

    expect(await finishJob(ctx, 'c2', held(second), { outcome: 'completed', resultJson: '"new"' })).toBe('completed');
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'completed', result: '"new"', stalls: '1' });
    expect(await totalPending(ctx)).toBe(0);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([]);
  });

  it('racing a reclaim: either the finish or the reclaim wins, never both', async () => {
    const ctx = await setUp();
    const outcomes = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const id = `race-${i}`;
      await add(ctx, job(id));
      const fetched = await fetchOne(ctx, 'c1');
      // Both calls go out together on one connection; alternate which is sent first.
      const finish = () => finishJob(ctx, 'c1', held(fetched), { outcome: 'completed', resultJson: '' });
      const reclaim = () => reclaimStalled(ctx, 'c2', { minIdleMs: 0, count: 100, maxStalls: 3 });
      const [reply, reclaimed] =
        i % 2 === 0
          ? await Promise.all([finish(), reclaim()])
          : await Promise.all([reclaim(), finish()]).then(([r, f]) => [f, r] as const);
      const stored = await hash(ctx, id);
      if (reply === 'completed') {
        expect(reclaimed.requeued).toBe(0);
        expect(stored.state).toBe('completed');
        expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([]);
      } else {
        expect(reply).toBe('lost');
        expect(reclaimed.requeued).toBe(1);
        expect(stored).toMatchObject({ state: 'waiting', stalls: '1' });
        expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([stored.entry]);
        // Clean up: run the requeued job to completion.
        const again = await fetchOne(ctx, 'c2');
        expect(await finishJob(ctx, 'c2', held(again), { outcome: 'completed', resultJson: '' })).toBe('completed');
      }
      outcomes.add(reply);
      expect(await totalPending(ctx)).toBe(0);
    }
    expect([...outcomes].sort()).toEqual(['completed', 'lost']);
  });
});

describe('heartbeat', () => {
  it('resets the idle time of owned entries without counting a delivery', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const fetched = await fetchOne(ctx, 'c1');
    await waitUntil(async () => (await pending(ctx, NORMAL))[0]![2] >= 300, { timeoutMs: 10_000, message: 'idle >= 300 ms' });
    expect(await heartbeat(ctx, 'c1', [held(fetched)])).toEqual({ lost: [], canceled: [] });
    const [entry] = await pending(ctx, NORMAL);
    expect(entry![0]).toBe(fetched.entryId);
    expect(entry![1]).toBe('c1');
    expect(entry![2]).toBeLessThan(300);
    expect(entry![3]).toBe(1);
  });

  it('after a reclaim reports the job lost and does not steal the entry back', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const first = await fetchOne(ctx, 'c1');
    expect((await reclaimStalled(ctx, 'c2', { minIdleMs: 0, count: 100, maxStalls: 3 })).requeued).toBe(1);

    // Requeued, not yet fetched: the heartbeat claims nothing.
    expect(await heartbeat(ctx, 'c1', [held(first)])).toEqual({ lost: ['a'], canceled: [] });
    expect(await totalPending(ctx)).toBe(0);
    expect((await hash(ctx, 'a')).state).toBe('waiting');

    const second = await fetchOne(ctx, 'c2');
    const before = await snapshot(ctx);
    expect(await heartbeat(ctx, 'c1', [held(first)])).toEqual({ lost: ['a'], canceled: [] });
    // Even naming the new entry, the old owner cannot claim it.
    expect(await heartbeat(ctx, 'c1', [held(second)])).toEqual({ lost: ['a'], canceled: [] });
    expect(await snapshot(ctx)).toEqual(before);
    const entries = await pending(ctx, NORMAL);
    expect(entries.map(([id, consumer]) => [id, consumer])).toEqual([[second.entryId, 'c2']]);
    expect(await heartbeat(ctx, 'c2', [held(second)])).toEqual({ lost: [], canceled: [] });
  });

  it('reports only the lost jobs among several', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'), job('c'));
    const jobs = (await fetchJobs(ctx, 'c1', 3)).jobs;
    expect(jobs.map((j) => j.id)).toEqual(['a', 'b', 'c']);
    expect(await handBack(ctx, 'c1', [held(jobs[1]!)])).toBe(1);
    expect(await heartbeat(ctx, 'c1', jobs.map(held))).toEqual({ lost: ['b'], canceled: [] });
  });
});

describe('reclaim', () => {
  it('requeues only entries idle longer than minIdle', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'));
    const [a, b] = (await fetchJobs(ctx, 'c1', 2)).jobs;
    expect(await reclaimStalled(ctx, 'c2', { minIdleMs: 60_000, count: 100, maxStalls: 3 })).toEqual({
      requeued: 0,
      failed: 0,
      unreadable: 0,
    });
    await waitUntil(async () => (await pending(ctx, NORMAL)).every(([, , idle]) => idle >= 400), {
      timeoutMs: 10_000,
      message: 'both entries idle >= 400 ms',
    });
    // c1 is alive for b only.
    expect(await heartbeat(ctx, 'c1', [held(b!)])).toEqual({ lost: [], canceled: [] });
    expect(await reclaimStalled(ctx, 'c2', { minIdleMs: 400, count: 100, maxStalls: 3 })).toEqual({
      requeued: 1,
      failed: 0,
      unreadable: 0,
    });
    const storedA = await hash(ctx, 'a');
    expect(storedA).toMatchObject({ state: 'waiting', stalls: '1' });
    expect(storedA.owner).toBeUndefined();
    expect(storedA.entry).not.toBe(a!.entryId);
    expect(await readerView(ctx, 'b')).toMatchObject({ state: 'active', owner: 'c1', entry: b!.entryId });
    expect((await hash(ctx, 'b')).stalls).toBeUndefined();
    expect((await pending(ctx, NORMAL)).map(([id, consumer]) => [id, consumer])).toEqual([[b!.entryId, 'c1']]);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([b!.entryId, storedA.entry]);
    const events = await ctx.connection.call<unknown[][]>(['XRANGE', ctx.keys.events, '-', '+']);
    expect(events.map((event) => toRecord(event[1] as unknown[]))).toContainEqual({
      e: 'job:stalled',
      j: 'a',
      stalls: '1',
    });
  });

  it('marks a job that stalled more than maxStalls times to fail at its next fetch, without running', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    await fetchOne(ctx, 'c1');
    expect(await reclaimStalled(ctx, 'c2', { minIdleMs: 0, count: 100, maxStalls: 1 })).toMatchObject({ requeued: 1 });
    await fetchOne(ctx, 'c2');
    expect(await reclaimStalled(ctx, 'c3', { minIdleMs: 0, count: 100, maxStalls: 1 })).toEqual({
      requeued: 0,
      failed: 1,
      unreadable: 0,
    });
    const marked = await hash(ctx, 'a');
    expect(marked).toMatchObject({ state: 'waiting', stalls: '2' });
    expect(marked.stallError).toMatch(/stalled 2 times/);
    // the worker that fetches it next sees the mark and records the failure through finish
    const fetched = await fetchOne(ctx, 'c3');
    expect(fetched.record.stallError).toBe(marked.stallError);
    const reply = await finishJob(ctx, 'c3', fetched, { outcome: 'failed', error: marked.stallError!, stack: '' });
    expect(reply).toBe('failed');
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'failed', stalls: '2', error: marked.stallError });
    expect(await ctx.connection.call(['ZSCORE', ctx.keys.dead, 'a'])).not.toBeNull();
    expect(await totalPending(ctx)).toBe(0);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([]);
  });
});

describe('handback', () => {
  it('requeues the job at once; the old owner then finishes "lost"', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const first = await fetchOne(ctx, 'c1');
    expect(await handBack(ctx, 'c1', [held(first)])).toBe(1);
    const stored = await hash(ctx, 'a');
    expect(stored).toMatchObject({ state: 'waiting' });
    expect([stored.owner, stored.attemptsMade, stored.stalls]).toEqual([undefined, undefined, undefined]);
    expect(await totalPending(ctx)).toBe(0);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([stored.entry]);

    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c1', held(first), { outcome: 'completed', resultJson: '' })).toBe('lost');
    expect(await handBack(ctx, 'c1', [held(first)])).toBe(0);
    expect(await heartbeat(ctx, 'c1', [held(first)])).toEqual({ lost: ['a'], canceled: [] });
    expect(await snapshot(ctx)).toEqual(before);

    const second = await fetchOne(ctx, 'c2');
    expect(second.entryId).toBe(stored.entry);
    expect(await finishJob(ctx, 'c2', held(second), { outcome: 'completed', resultJson: '' })).toBe('completed');
  });

  it('only hands back what the caller still owns', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const first = await fetchOne(ctx, 'c1');
    const before = await snapshot(ctx);
    expect(await handBack(ctx, 'c2', [held(first)])).toBe(0);
    expect(await snapshot(ctx)).toEqual(before);
  });

  it('after a lost reply: hands back every job pending for the worker except those it lists, in every tier, and no other worker\'s', async () => {
    const ctx = await setUp();
    await add(ctx, job('runs'), job('lost-normal'), job('lost-low', { tier: LOW }), job('other'));
    // c1 learned of `runs`; the claims of `lost-normal` and `lost-low` happened, but their replies never came
    const runs = await fetchOne(ctx, 'c1');
    expect(runs.id).toBe('runs');
    const lostNormal = await fetchOne(ctx, 'c1');
    const otherWorkers = await fetchOne(ctx, 'c2');
    expect(otherWorkers.id).toBe('other');
    const lostLow = await fetchOne(ctx, 'c1');
    expect([lostNormal.id, lostLow.id]).toEqual(['lost-normal', 'lost-low']);

    expect(await handBackUnheld(ctx, 'c1', [held(runs)])).toBe(2);
    // what c1 runs and what c2 runs stay theirs; the other two wait again under new entries, no stall counted
    expect((await pending(ctx, NORMAL)).map(([entryId, consumer]) => [entryId, consumer]).sort()).toEqual(
      [[runs.entryId, 'c1'], [otherWorkers.entryId, 'c2']].sort(),
    );
    expect(await pending(ctx, LOW)).toEqual([]);
    for (const id of ['lost-normal', 'lost-low']) {
      const stored = await hash(ctx, id);
      expect(stored).toMatchObject({ state: 'waiting' });
      expect([stored.stalls, stored.attemptsMade]).toEqual([undefined, undefined]);
    }
    // nothing more to give back: a second call changes nothing
    const before = await snapshot(ctx);
    expect(await handBackUnheld(ctx, 'c1', [held(runs)])).toBe(0);
    expect(await snapshot(ctx)).toEqual(before);
    // the handed-back jobs start again from their new entries, and the first attempt's late outcome is fenced off
    const again = [await fetchOne(ctx, 'c3'), await fetchOne(ctx, 'c3')];
    expect(again.map((fetched) => fetched.id)).toEqual(['lost-normal', 'lost-low']);
    expect(await finishJob(ctx, 'c1', held(lostNormal), { outcome: 'completed', resultJson: '' })).toBe('lost');
    for (const fetched of again) expect(await finishJob(ctx, 'c3', held(fetched), { outcome: 'completed', resultJson: '' })).toBe('completed');
    expect(await finishJob(ctx, 'c1', held(runs), { outcome: 'completed', resultJson: '' })).toBe('completed');
  });
});

describe('promote', () => {
  async function delayedJob(ctx: QueueContext, id: string, delay: number): Promise<number> {
    const [reply] = await addJobs(ctx, [job(id, { delay })]);
    expect(reply).toMatchObject({ created: true, state: 'delayed' });
    return (reply as { dueAt: number }).dueAt;
  }

  it('promotes a due job once, even when called twice at the same time', async () => {
    const ctx = await setUp();
    const dueAt = await delayedJob(ctx, 'a', 150);
    const leader = await claimLeadership(ctx.connection, ctx.keys, 'inst-a', 30_000);
    expect(leader.status).toBe('elected');
    const value = (leader as { value: string }).value;

    const early = await promoteDue(ctx, value, 100);
    expect(early.promoted).toBe(0);
    expect(early.nextDueAt).toBe(dueAt);
    await waitUntil(() => Date.now() > dueAt + 5, { timeoutMs: 5_000, message: 'due time' });

    const results = await Promise.all([promoteDue(ctx, value, 100), promoteDue(ctx, value, 100)]);
    expect(results.map((r) => r.promoted).sort()).toEqual([0, 1]);
    expect((await promoteDue(ctx, value, 100)).promoted).toBe(0);
    const stored = await hash(ctx, 'a');
    expect(stored.state).toBe('waiting');
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([stored.entry]);
    expect(await ctx.connection.call(['ZCARD', ctx.keys.delayed])).toBe(0);
    expect((await fetchOne(ctx, 'c1')).id).toBe('a');
  });

  it('is fenced off for a stale leader value', async () => {
    const ctx = await setUp();
    const dueAt = await delayedJob(ctx, 'a', 1);
    await waitUntil(() => Date.now() > dueAt + 5, { timeoutMs: 5_000, message: 'due time' });

    const first = await claimLeadership(ctx.connection, ctx.keys, 'inst-a', 30_000);
    const stale = (first as { value: string }).value;
    expect(await resignLeadership(ctx.connection, ctx.keys, stale)).toBe(true);
    const second = await claimLeadership(ctx.connection, ctx.keys, 'inst-b', 30_000);
    expect(second.status).toBe('elected');
    const current = (second as { value: string }).value;
    expect(current).not.toBe(stale);

    const before = await snapshot(ctx);
    expect((await promoteDue(ctx, stale, 100)).promoted).toBe(-1);
    // The same instance with an older term's token is fenced too.
    expect((await promoteDue(ctx, `inst-b:${Number(current.split(':')[1]) - 1}`, 100)).promoted).toBe(-1);
    expect(await snapshot(ctx)).toEqual(before);
    expect(await resignLeadership(ctx.connection, ctx.keys, stale)).toBe(false);

    expect((await promoteDue(ctx, current, 100)).promoted).toBe(1);
    expect((await hash(ctx, 'a')).state).toBe('waiting');
  });

  it('drops a delayed-set member whose job is no longer delayed, without running it', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    await ctx.connection.call(['ZADD', ctx.keys.delayed, 1, 'a']);
    await ctx.connection.call(['ZADD', ctx.keys.delayed, 1, 'missing']);
    const leader = (await claimLeadership(ctx.connection, ctx.keys, 'inst', 30_000)) as { value: string };
    expect((await promoteDue(ctx, leader.value, 100)).promoted).toBe(0);
    expect(await ctx.connection.call(['ZCARD', ctx.keys.delayed])).toBe(0);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toHaveLength(1);
  });
});

describe('retry-dead', () => {
  it('requeues a failed job once, with fresh attempts', async () => {
    const ctx = await setUp();
    await add(ctx, job('a', { optsJson: '{"attempts":1}' }));
    expect(await retryDead(ctx, 'a')).toBe('not-dead');
    const fetched = await fetchOne(ctx, 'c1');
    expect(await finishJob(ctx, 'c1', held(fetched), { outcome: 'failed', error: 'boom', stack: 's' })).toBe('failed');
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'failed', attemptsMade: '1' });
    const [first, second] = await Promise.all([retryDead(ctx, 'a'), retryDead(ctx, 'a')]);
    expect([first, second].sort()).toEqual(['not-dead', 'requeued']);
    const stored = await hash(ctx, 'a');
    expect(stored).toMatchObject({ state: 'waiting', attemptsMade: '0', stalls: '0' });
    expect(stored.finishedAt).toBeUndefined();
    expect(await ctx.connection.call(['ZCARD', ctx.keys.dead])).toBe(0);
    expect(await streamIds(ctx, ctx.keys.lane(NORMAL))).toEqual([stored.entry]);
    expect(await retryDead(ctx, 'missing')).toBe('not-dead');
  });
});

describe('counts', () => {
  it('agrees with the states of the stored jobs', async () => {
    const ctx = await setUp();
    const retryAt = Date.now() + 60_000;
    await add(
      ctx,
      job('w-critical', { tier: 0 }),
      job('active', { tier: 1 }),
      job('completed', { tier: 1 }),
      job('failed', { tier: 1 }),
      job('retrying', { tier: 1, optsJson: '{"attempts":3}' }),
      job('again', { tier: 1, optsJson: '{"attempts":3}' }),
      job('w-low-1', { tier: LOW }),
      job('w-low-2', { tier: LOW }),
      job('delayed', { delay: 60_000 }),
    );
    const started = (await fetchJobs(ctx, 'c1', 6)).jobs;
    expect(started.map((j) => j.id)).toEqual(['w-critical', 'active', 'completed', 'failed', 'retrying', 'again']);
    const byId = new Map(started.map((j) => [j.id, held(j)]));
    await handBack(ctx, 'c1', [byId.get('w-critical')!]);
    expect(await finishJob(ctx, 'c1', byId.get('completed')!, { outcome: 'completed', resultJson: '' })).toBe('completed');
    expect(await finishJob(ctx, 'c1', byId.get('failed')!, { outcome: 'failed', error: 'x', stack: '' })).toBe('failed');
    expect(
      await finishJob(ctx, 'c1', byId.get('retrying')!, { outcome: 'failed', error: 'x', stack: '', retryAt }),
    ).toBe('retrying');
    expect(
      await finishJob(ctx, 'c1', byId.get('again')!, { outcome: 'failed', error: 'x', stack: '', retryAt: 0 }),
    ).toBe('retrying');

    const states: Record<string, number> = {};
    const keys = (await ctx.connection.call<string[]>(['KEYS', `${ctx.keys.base}job:*`])).map(String);
    for (const key of keys) {
      const state = (await readerView(ctx, key.slice(`${ctx.keys.base}job:`.length))).state!;
      states[state] = (states[state] ?? 0) + 1;
    }
    expect(states).toEqual({ waiting: 4, active: 1, delayed: 2, completed: 1, failed: 1 });

    const counts = await countJobs(ctx);
    expect(counts).toEqual({
      waiting: states.waiting,
      active: states.active,
      delayed: states.delayed,
      completed: states.completed,
      failed: states.failed,
      canceled: 0,
      waitingByTier: { critical: 1, high: 1, normal: 0, low: 2 },
    });
  });
});
