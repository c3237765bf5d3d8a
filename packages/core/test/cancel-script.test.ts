// The cancel script, through its wrapper, against a real Redis: every state a
// job can be in, and how the other scripts (finish, heartbeat, hand-back,
// reclaim, fetch, promote) treat a canceled job afterwards. Every test uses its
// own key prefix, so nothing leaks between them.
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  CONSUMER_GROUP,
  InvalidOptionsError,
  Queue,
  QueueKeys,
  RedisConnection,
  addJobs,
  cancelJobs,
  claimLeadership,
  countJobs,
  fetchJobs,
  finishJob,
  handBack,
  heartbeat,
  parseEvents,
  promoteDue,
  reclaimStalled,
  type QueueContext,
  type QueueEvent,
} from '@streamjobs/core';
import {
  OpenResources,
  connection,
  liveStreamEntries,
  testPrefix,
  waitUntil,
} from '@streamjobs/testing';
import { NORMAL, add, fetchOne, hash, held, job, setUpContext, snapshot } from './support/script-harness.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

const QUEUE = 'cancel-scripts';

function setUp(): Promise<QueueContext> {
  return setUpContext(open, { label: 'cancel', queue: QUEUE, maxEvents: 10_000 });
}

async function streamEntries(ctx: QueueContext, tier = NORMAL): Promise<{ id: string; jobId: string }[]> {
  const entries = await liveStreamEntries((args) => ctx.connection.call(args), ctx.keys.lane(tier));
  return entries.map((entry) => ({ id: entry.id, jobId: entry.fields.j ?? '' }));
}

async function pendingCount(ctx: QueueContext, tier = NORMAL): Promise<number> {
  const summary = await ctx.connection.call<unknown[]>(['XPENDING', ctx.keys.lane(tier), CONSUMER_GROUP]);
  return Number(summary[0]);
}

async function events(ctx: QueueContext): Promise<QueueEvent[]> {
  return parseEvents(await ctx.connection.call(['XRANGE', ctx.keys.events, '-', '+']));
}

async function eventsOf(ctx: QueueContext, jobId: string): Promise<{ name: string; fields: Record<string, string> }[]> {
  return (await events(ctx)).filter((event) => event.jobId === jobId).map(({ name, fields }) => ({ name, fields }));
}

async function zscore(ctx: QueueContext, key: string, member: string): Promise<unknown> {
  return ctx.connection.call(['ZSCORE', key, member]);
}

describe('cancel of a job in each state', () => {
  it('waiting: its entry leaves the stream, it is canceled, and fetch never starts it', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'), job('c'));
    const entryOfB = (await hash(ctx, 'b')).entry!;
    expect(await cancelJobs(ctx, ['b'], { reason: 'not needed', by: 'ops' })).toEqual([true]);

    const stored = await hash(ctx, 'b');
    expect(stored).toMatchObject({ state: 'canceled', cancelReason: 'not needed', canceledBy: 'ops' });
    expect(stored.entry).toBeUndefined();
    expect(Number(stored.finishedAt)).toBeGreaterThan(0);
    expect(await zscore(ctx, ctx.keys.canceled, 'b')).not.toBeNull();
    const entries = await streamEntries(ctx);
    expect(entries.map((e) => e.jobId)).toEqual(['a', 'c']);
    expect(entries.map((e) => e.id)).not.toContain(entryOfB);
    expect(await countJobs(ctx)).toMatchObject({ waiting: 2, active: 0, canceled: 1 });
    expect(await eventsOf(ctx, 'b')).toEqual([
      { name: 'job:canceled', fields: { reason: 'not needed', by: 'ops', from: 'waiting' } },
    ]);

    // fetch hands out the others only, and nothing is dead-lettered
    const fetched = await fetchJobs(ctx, 'c1', 10);
    expect(fetched.jobs.map((j) => j.id)).toEqual(['a', 'c']);
    expect(await ctx.connection.call(['ZCARD', ctx.keys.dead])).toBe(0);
    expect((await hash(ctx, 'b')).state).toBe('canceled');
  });

  it('delayed: it leaves the delayed set, and a promotion at its due time does not run it', async () => {
    const ctx = await setUp();
    const [reply] = await addJobs(ctx, [job('d', { delay: 150 })]);
    expect(reply).toMatchObject({ created: true, state: 'delayed' });
    const dueAt = (reply as { dueAt: number }).dueAt;
    expect(await cancelJobs(ctx, ['d'], { reason: 'r' })).toEqual([true]);
    expect(await hash(ctx, 'd')).toMatchObject({ state: 'canceled', cancelReason: 'r', canceledBy: '' });
    expect(await zscore(ctx, ctx.keys.delayed, 'd')).toBeNull();
    expect(await countJobs(ctx)).toMatchObject({ delayed: 0, waiting: 0, canceled: 1 });
    expect((await eventsOf(ctx, 'd')).map((e) => e.fields.from)).toEqual(['delayed']);

    await waitUntil(() => Date.now() > dueAt + 20, { timeoutMs: 5_000, message: 'due time' });
    const leader = (await claimLeadership(ctx.connection, ctx.keys, 'inst', 30_000)) as { value: string };
    expect((await promoteDue(ctx, leader.value, 100)).promoted).toBe(0);
    expect(await streamEntries(ctx)).toEqual([]);
    expect((await fetchJobs(ctx, 'c1', 10)).jobs).toEqual([]);
    expect((await hash(ctx, 'd')).state).toBe('canceled');
  });

  it('waiting for its retry: it leaves the delayed set and keeps its attempt count', async () => {
    const ctx = await setUp();
    await add(ctx, job('r', { optsJson: '{"attempts":3}' }));
    const fetched = await fetchOne(ctx, 'c1');
    const retryAt = Date.now() + 150;
    expect(await finishJob(ctx, 'c1', held(fetched), { outcome: 'failed', error: 'boom', stack: '', retryAt })).toBe(
      'retrying',
    );
    expect(await hash(ctx, 'r')).toMatchObject({ state: 'delayed', attemptsMade: '1' });
    expect(await cancelJobs(ctx, ['r'])).toEqual([true]);
    expect(await hash(ctx, 'r')).toMatchObject({ state: 'canceled', attemptsMade: '1', cancelReason: '', canceledBy: '' });
    expect(await zscore(ctx, ctx.keys.delayed, 'r')).toBeNull();

    await waitUntil(() => Date.now() > retryAt + 20, { timeoutMs: 5_000, message: 'retry due time' });
    const leader = (await claimLeadership(ctx.connection, ctx.keys, 'inst', 30_000)) as { value: string };
    expect((await promoteDue(ctx, leader.value, 100)).promoted).toBe(0);
    expect((await fetchJobs(ctx, 'c1', 10)).jobs).toEqual([]);
    expect((await eventsOf(ctx, 'r')).map((e) => e.name)).toEqual(['job:retrying', 'job:canceled']);
  });

  it('active: its entry is acknowledged and removed, the owner is told on the cancel channel, owner and entry stay', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const fetched = await fetchOne(ctx, 'c1');
    expect(await pendingCount(ctx)).toBe(1);

    // listen on the queue's cancel channel with a connection of our own
    const subscriber = RedisConnection.create(connection());
    open.track(subscriber);
    const notices: string[] = [];
    await subscriber.subscribe(ctx.keys.cancelChannel, (message) => notices.push(message));

    expect(await cancelJobs(ctx, ['a'], { reason: 'stop it', by: 'alice' })).toEqual([true]);
    const stored = await hash(ctx, 'a');
    expect(stored).toMatchObject({
      state: 'canceled',
      owner: 'c1',
      entry: fetched.entryId,
      cancelReason: 'stop it',
      canceledBy: 'alice',
    });
    expect(await pendingCount(ctx)).toBe(0);
    expect(await streamEntries(ctx)).toEqual([]);
    expect(await countJobs(ctx)).toMatchObject({ waiting: 0, active: 0, canceled: 1 });
    expect((await eventsOf(ctx, 'a'))[0]).toEqual({
      name: 'job:canceled',
      fields: { reason: 'stop it', by: 'alice', from: 'active' },
    });
    await waitUntil(() => notices.length > 0, { timeoutMs: 10_000, message: 'the cancel notice' });
    expect(notices.map((n) => JSON.parse(n))).toEqual([{ id: 'a', reason: 'stop it', by: 'alice' }]);
  });

  it('already final or unknown: answers false and changes nothing', async () => {
    const ctx = await setUp();
    await add(ctx, job('done'), job('bad'), job('gone'));
    const [done, bad] = (await fetchJobs(ctx, 'c1', 2)).jobs;
    expect(await finishJob(ctx, 'c1', held(done!), { outcome: 'completed', resultJson: '1' })).toBe('completed');
    expect(await finishJob(ctx, 'c1', held(bad!), { outcome: 'failed', error: 'x', stack: '' })).toBe('failed');
    expect(await cancelJobs(ctx, ['gone'], { reason: 'first' })).toEqual([true]);

    const before = await snapshot(ctx);
    expect(await cancelJobs(ctx, ['done', 'bad', 'gone', 'never-added'], { reason: 'second', by: 'bob' })).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(await snapshot(ctx)).toEqual(before);
    expect(await hash(ctx, 'gone')).toMatchObject({ cancelReason: 'first', canceledBy: '' });
    expect(await hash(ctx, 'never-added')).toEqual({});
    expect(await cancelJobs(ctx, [])).toEqual([]);
  });
});

describe('cancelJobs with many ids', () => {
  it('answers one boolean per id, in order, and cancels each job once', async () => {
    const ctx = await setUp();
    const jobs = Array.from({ length: 300 }, (_, i) => job(`j${i}`, i % 3 === 0 ? { delay: 60_000 } : {}));
    await add(ctx, ...jobs);
    // some already final
    const fetched = (await fetchJobs(ctx, 'c1', 5)).jobs;
    expect(fetched.map((j) => j.id)).toEqual(['j1', 'j2', 'j4', 'j5', 'j7']);
    for (const f of fetched.slice(0, 3)) {
      expect(await finishJob(ctx, 'c1', held(f), { outcome: 'completed', resultJson: '' })).toBe('completed');
    }
    // j5 and j7 stay active
    const ids = [...jobs.map((j) => j.id), 'unknown-1', 'j10', 'unknown-2'];
    const answers = await cancelJobs(ctx, ids, { reason: 'bulk' });
    expect(answers).toHaveLength(ids.length);
    const finalBefore = new Set(['j1', 'j2', 'j4']);
    const expected = ids.map((id, index) => {
      if (id.startsWith('unknown')) return false;
      if (finalBefore.has(id)) return false;
      if (id === 'j10' && index >= 300) return false; // repeated id: canceled by its first mention
      return true;
    });
    expect(answers).toEqual(expected);

    const counts = await countJobs(ctx);
    expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 3, canceled: 297 });
    expect(await streamEntries(ctx)).toEqual([]);
    for (const id of ['j0', 'j3', 'j5', 'j7', 'j299']) expect((await hash(ctx, id)).state).toBe('canceled');
    for (const id of finalBefore) expect((await hash(ctx, id)).state).toBe('completed');
    const canceledEvents = (await events(ctx)).filter((e) => e.name === 'job:canceled');
    expect(canceledEvents).toHaveLength(297);
    expect(new Set(canceledEvents.map((e) => e.jobId)).size).toBe(297);
    const from = (id: string) => canceledEvents.find((e) => e.jobId === id)!.fields.from;
    expect([from('j0'), from('j5'), from('j8')]).toEqual(['delayed', 'active', 'waiting']);
  });
});

describe('a canceled active job and the other scripts', () => {
  it("its owner's finish answers 'canceled' and writes job:discarded; a second finish answers 'lost'", async () => {
    const ctx = await setUp();
    await add(ctx, job('a', { optsJson: '{"attempts":3}' }), job('b', { optsJson: '{"attempts":3}' }));
    const [a, b] = (await fetchJobs(ctx, 'c1', 2)).jobs;
    expect(await cancelJobs(ctx, ['a', 'b'], { reason: 'why' })).toEqual([true, true]);

    // a: the late outcome is a completion
    expect(await finishJob(ctx, 'c1', held(a!), { outcome: 'completed', resultJson: '{"late":true}' })).toBe('canceled');
    const storedA = await hash(ctx, 'a');
    expect(storedA).toMatchObject({ state: 'canceled', cancelReason: 'why' });
    expect(storedA.attemptsMade).toBeUndefined();
    expect(storedA.result).toBeUndefined();
    expect(storedA.owner).toBeUndefined();
    expect(storedA.entry).toBeUndefined();
    expect(await ctx.connection.call(['LPOS', ctx.keys.completed, 'a'])).toBeNull();
    expect(await eventsOf(ctx, 'a')).toEqual([
      { name: 'job:canceled', fields: { reason: 'why', by: '', from: 'active' } },
      { name: 'job:discarded', fields: { outcome: 'completed', error: '' } },
    ]);

    // b: the late outcome is a failure that would be retried
    expect(
      await finishJob(ctx, 'c1', held(b!), { outcome: 'failed', error: 'late boom', stack: 'x', retryAt: 0 }),
    ).toBe('canceled');
    const storedB = await hash(ctx, 'b');
    expect(storedB).toMatchObject({ state: 'canceled' });
    expect(storedB.attemptsMade).toBeUndefined();
    expect(storedB.error).toBeUndefined();
    expect(await zscore(ctx, ctx.keys.dead, 'b')).toBeNull();
    expect(await zscore(ctx, ctx.keys.delayed, 'b')).toBeNull();
    expect(await streamEntries(ctx)).toEqual([]);
    expect((await eventsOf(ctx, 'b')).map((e) => [e.name, e.fields.outcome, e.fields.error])).toEqual([
      ['job:canceled', undefined, undefined],
      ['job:discarded', 'failed', 'late boom'],
    ]);

    // a second finish of either: lost, nothing written
    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c1', held(a!), { outcome: 'completed', resultJson: '1' })).toBe('lost');
    expect(await finishJob(ctx, 'c1', held(b!), { outcome: 'failed', error: 'again', stack: '', retryAt: 0 })).toBe('lost');
    expect(await snapshot(ctx)).toEqual(before);
    expect(await countJobs(ctx)).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0, canceled: 2 });
  });

  it("another consumer's finish of the canceled job answers 'lost' and writes nothing", async () => {
    const ctx = await setUp();
    await add(ctx, job('a'));
    const a = await fetchOne(ctx, 'c1');
    expect(await cancelJobs(ctx, ['a'])).toEqual([true]);
    const before = await snapshot(ctx);
    expect(await finishJob(ctx, 'c2', held(a), { outcome: 'completed', resultJson: '1' })).toBe('lost');
    expect(await snapshot(ctx)).toEqual(before);
  });

  it('heartbeat reports it under canceled with reason and by, and claims nothing', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'), job('c'));
    const jobs = (await fetchJobs(ctx, 'c1', 3)).jobs;
    expect(await cancelJobs(ctx, ['b'], { reason: 'too slow', by: 'carol' })).toEqual([true]);
    expect(await cancelJobs(ctx, ['c'])).toEqual([true]);
    expect(await heartbeat(ctx, 'c1', jobs.map(held))).toEqual({
      lost: [],
      canceled: [
        { id: 'b', reason: 'too slow', by: 'carol' },
        { id: 'c', reason: '', by: '' },
      ],
    });
    // only a's entry is pending, and still owned by c1
    const pending = await ctx.connection.call<unknown[][]>(['XPENDING', ctx.keys.lane(NORMAL), CONSUMER_GROUP, '-', '+', 10]);
    expect(pending.map((p) => [String(p[0]), String(p[1])])).toEqual([[jobs[0]!.entryId, 'c1']]);
    // a heartbeat of another consumer does not report it canceled: it never owned it
    expect(await heartbeat(ctx, 'c2', [held(jobs[1]!)])).toEqual({ lost: ['b'], canceled: [] });
    // once the owner's late outcome is discarded, the job is no longer its own
    expect(await finishJob(ctx, 'c1', held(jobs[1]!), { outcome: 'completed', resultJson: '' })).toBe('canceled');
    expect(await heartbeat(ctx, 'c1', [held(jobs[1]!)])).toEqual({ lost: ['b'], canceled: [] });
  });

  it('handBack skips a canceled job and hands back the others', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'));
    const jobs = (await fetchJobs(ctx, 'c1', 2)).jobs;
    expect(await cancelJobs(ctx, ['a'], { reason: 'x' })).toEqual([true]);
    expect(await handBack(ctx, 'c1', jobs.map(held))).toBe(1);
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'canceled', cancelReason: 'x' });
    expect((await hash(ctx, 'b')).state).toBe('waiting');
    expect((await streamEntries(ctx)).map((e) => e.jobId)).toEqual(['b']);
    expect((await eventsOf(ctx, 'a')).map((e) => e.name)).toEqual(['job:canceled']);
    const again = (await fetchJobs(ctx, 'c2', 10)).jobs;
    expect(again.map((j) => j.id)).toEqual(['b']);
  });

  it('reclaimStalled never requeues a canceled job, however idle its worker', async () => {
    const ctx = await setUp();
    await add(ctx, job('a'), job('b'));
    expect((await fetchJobs(ctx, 'c1', 2)).jobs.map((j) => j.id)).toEqual(['a', 'b']);
    expect(await cancelJobs(ctx, ['a'])).toEqual([true]);
    // the worker dies: nothing heartbeats either job
    expect(await reclaimStalled(ctx, 'c2', { minIdleMs: 0, count: 100, maxStalls: 3 })).toEqual({
      requeued: 1,
      failed: 0,
      unreadable: 0,
    });
    expect(await hash(ctx, 'a')).toMatchObject({ state: 'canceled' });
    expect((await hash(ctx, 'a')).stalls).toBeUndefined();
    expect(await hash(ctx, 'b')).toMatchObject({ state: 'waiting', stalls: '1' });
    expect((await streamEntries(ctx)).map((e) => e.jobId)).toEqual(['b']);
    const before = await snapshot(ctx);
    expect(await reclaimStalled(ctx, 'c3', { minIdleMs: 0, count: 100, maxStalls: 3 })).toEqual({
      requeued: 0,
      failed: 0,
      unreadable: 0,
    });
    // (c3 joins the group as a consumer; nothing else changes)
    const after = await snapshot(ctx);
    expect(after[ctx.keys.job('a')]).toEqual(before[ctx.keys.job('a')]);
    expect((await fetchJobs(ctx, 'c3', 10)).jobs.map((j) => j.id)).toEqual(['b']);
    expect((await eventsOf(ctx, 'a')).map((e) => e.name)).toEqual(['job:canceled']);
  });
});

describe('queue.cancel input validation', () => {
  it('throws InvalidOptionsError and writes nothing on a non-string id, an empty id, a non-string reason or by', async () => {
    const prefix = testPrefix('cancel-input');
    const queue = new Queue(QUEUE, { connection: connection(), prefix });
    open.track(queue);
    const raw = RedisConnection.create(connection());
    open.track(raw);
    const keysNow = async () => (await raw.call<string[]>(['KEYS', `${prefix}:*`])).map(String).sort();

    // before the queue was ever used: nothing at all is written, not even its meta
    const bad: [unknown, unknown][] = [
      [42, undefined],
      ['', undefined],
      [[''], undefined],
      [['ok', 7], undefined],
      [null, undefined],
      [{ id: 'x' }, undefined],
      ['x'.repeat(10_000), undefined],
      ['ok', { reason: 5 }],
      ['ok', { by: { name: 'alice' } }],
      [['ok'], { reason: ['a'] }],
    ];
    for (const [ids, options] of bad) {
      await expect((queue.cancel as (a: unknown, b: unknown) => Promise<unknown>)(ids, options)).rejects.toBeInstanceOf(
        InvalidOptionsError,
      );
    }
    expect(await keysNow()).toEqual([]);

    // on a used queue: the job is untouched
    const added = await queue.add('x', { n: 1 }, { jobId: 'ok' });
    expect(added.state).toBe('waiting');
    const ctx: QueueContext = {
      connection: raw,
      keys: new QueueKeys(prefix, QUEUE),
      tiers: await queue.getTiers(),
      maxEvents: 10_000,
    };
    const before = await snapshot(ctx);
    for (const [ids, options] of bad) {
      await expect((queue.cancel as (a: unknown, b: unknown) => Promise<unknown>)(ids, options)).rejects.toBeInstanceOf(
        InvalidOptionsError,
      );
    }
    expect(await snapshot(ctx)).toEqual(before);
    expect((await queue.getJob('ok'))!.state).toBe('waiting');

    // and valid input still works
    expect(await queue.cancel('ok', { reason: 'fine', by: 'me' })).toBe(true);
    expect(await queue.cancel(['ok'])).toEqual([false]);
    expect(await queue.getJob('ok')).toMatchObject({ state: 'canceled', cancelReason: 'fine', canceledBy: 'me' });
  });

  it('throws InvalidOptionsError and cancels nothing when the options are not an object (null, a bare reason string)', async () => {
    const prefix = testPrefix('cancel-opts');
    const queue = new Queue(QUEUE, { connection: connection(), prefix });
    open.track(queue);
    await queue.add('x', {}, { jobId: 'a' });
    const cancel = queue.cancel.bind(queue) as (a: unknown, b: unknown) => Promise<unknown>;
    // `cancel(id, 'reason')` is an easy slip: it must not cancel the job with the reason lost
    for (const options of ['a reason', null, 42]) {
      await expect(cancel('a', options)).rejects.toBeInstanceOf(InvalidOptionsError);
      await expect(cancel(['a'], options)).rejects.toBeInstanceOf(InvalidOptionsError);
    }
    expect((await queue.getJob('a'))!.state).toBe('waiting');
    expect(await queue.counts()).toMatchObject({ waiting: 1, canceled: 0 });
  });
});
