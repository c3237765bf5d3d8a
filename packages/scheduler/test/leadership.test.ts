/**
 * Scheduler leadership (semantics 7): per queue exactly one instance leads;
 * `close()` resigns so another takes over at once; when the leader's process
 * dies another takes over within the lock's lifetime with no delayed job lost
 * or doubled; a stale leader is fenced off; fencing tokens grow term by term.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, QueueKeys, RedisConnection, claimLeadership, promoteDue, resignLeadership, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { Scheduler } from '@streamjobs/scheduler';
import {
  OpenResources,
  connection,
  rawClient,
  redisUrl,
  spawnFixture,
  testPrefix,
  waitUntil,
  type FixtureProcess,
} from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

/** The fencing token of a lock value `<instance>:<token>`. */
function tokenOf(term: string): number {
  return Number(term.slice(term.lastIndexOf(':') + 1));
}

function instanceOf(term: string): string {
  return term.slice(0, term.lastIndexOf(':'));
}

function trackFixture(fixture: FixtureProcess): FixtureProcess {
  open.track({ close: () => fixture.kill('SIGKILL') });
  return fixture;
}

async function openRaw() {
  const raw = await rawClient();
  open.track({ close: () => raw.destroy() });
  return raw;
}

interface Elected {
  scheduler: Scheduler;
  term: string;
  at: number;
}

/** Records every 'leader:elected' (with the local time it fired) and every error. */
function watch(schedulers: Scheduler[], queue: string) {
  const elected: Elected[] = [];
  const errors: Error[] = [];
  for (const scheduler of schedulers) {
    scheduler.on('leader:elected', (event) => {
      if (event.queue !== queue) errors.push(new Error(`elected for an unexpected queue ${event.queue}`));
      elected.push({ scheduler, term: event.term, at: Date.now() });
    });
    scheduler.on('error', (err) => errors.push(err));
  }
  return { elected, errors };
}

describe('scheduler leadership', () => {
  it('has exactly one leader of two instances, one election per term, and hands over at once on close()', async () => {
    const prefix = testPrefix('lead');
    const queue = 'lead';
    const keys = new QueueKeys(prefix, queue);
    const lockTtl = 6_000;
    const raw = await openRaw();
    const schedulers = [0, 1].map(() =>
      open.track(new Scheduler({ connection: connection(), prefix, queues: [queue], lockTtl })),
    );
    const { elected, errors } = watch(schedulers, queue);
    const leader = await waitUntil(() => schedulers.find((s) => s.isLeader(queue)), {
      timeoutMs: 10_000,
      message: 'a leader',
    });
    const follower = schedulers.find((s) => s !== leader)!;

    // Watch through at least one renewal of the term (every lockTtl / 2):
    // always exactly one leader, always the same, holding the lock in Redis,
    // and no further election.
    let lastTtl = Infinity;
    let renewals = 0;
    const watchUntil = Date.now() + lockTtl;
    while (renewals === 0 && Date.now() < watchUntil) {
      const [value, ttl] = await Promise.all([raw.get(keys.leader), raw.pTTL(keys.leader)]);
      expect(schedulers.filter((s) => s.isLeader(queue)).map((s) => s.instanceId)).toEqual([leader.instanceId]);
      expect(value).toBe(elected[0]?.term);
      expect(instanceOf(value!)).toBe(leader.instanceId);
      if (ttl > lastTtl + 100) renewals += 1;
      lastTtl = ttl;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(renewals).toBeGreaterThan(0);
    expect(elected.map((e) => e.scheduler.instanceId)).toEqual([leader.instanceId]);
    const firstTerm = elected[0]!.term;

    // close() resigns: the lock is gone the moment close() resolves, and the
    // follower, told so on the leader channel, takes over at once instead of
    // waiting out the rest of the term (at least half of lockTtl).
    await leader.close();
    const closedAt = Date.now();
    const afterClose = await raw.get(keys.leader);
    expect(afterClose === null || instanceOf(afterClose) === follower.instanceId).toBe(true);
    await waitUntil(() => elected.length >= 2, { timeoutMs: 10_000, message: 'the follower to be elected' });
    const handover = elected[1]!.at - closedAt;
    console.log(`close(): follower elected ${handover} ms after the leader closed (lockTtl ${lockTtl})`);
    expect(elected[1]!.scheduler.instanceId).toBe(follower.instanceId);
    expect(handover).toBeLessThan(lockTtl / 2);
    expect(follower.isLeader(queue)).toBe(true);
    expect(leader.isLeader(queue)).toBe(false);
    expect(await raw.get(keys.leader)).toBe(elected[1]!.term);
    expect(tokenOf(elected[1]!.term)).toBeGreaterThan(tokenOf(firstTerm));
    expect(elected.map((e) => e.term)).toEqual([firstTerm, elected[1]!.term]); // one election per term
    expect(errors).toEqual([]);

    await follower.close();
    expect(await raw.get(keys.leader)).toBeNull();
  });

  it('replaces a SIGKILLed leader process within the lock lifetime, promoting every delayed job exactly once', async () => {
    const prefix = testPrefix('lead');
    const queueName = 'failover';
    const lockTtl = 2_000;
    const margin = 1_500;
    const raw = await openRaw();
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));

    // The leader: a scheduler in a process of its own.
    const fixture = trackFixture(
      spawnFixture('scheduler-process', { url: redisUrl(), prefix, queues: [queueName], lockTtl }),
    );
    const fixtureId = (await fixture.waitForLine(/^started /, 30_000)).split(' ')[1]!;
    const oldTerm = (await fixture.waitForLine(new RegExp(`^elected ${queueName} `), 30_000)).split(' ')[2]!;
    expect(instanceOf(oldTerm)).toBe(fixtureId);

    // The successor, in this process, and workers that do not schedule.
    const successor = open.track(
      new Scheduler({ connection: connection(), prefix, queues: [queueName], lockTtl }),
    );
    const { elected, errors } = watch([successor], queueName);
    const starts = new Map<string, number[]>();
    const worker = open.track(
      new Worker(
        queueName,
        async (job) => {
          starts.set(job.id, [...(starts.get(job.id) ?? []), Date.now()]);
        },
        { connection: connection(), prefix, concurrency: 20, scheduler: false },
      ),
    );
    await worker.waitUntilReady();

    // Jobs added before the kill, due around and after it.
    const before: Job[] = await queue.addBulk(
      Array.from({ length: 30 }, (_, i) => ({ name: 'before', data: { i }, opts: { delay: 100 + i * 80 } })),
    );
    expect(before.every((job) => job.state === 'delayed')).toBe(true);
    // Let the fixture leader promote a few, so the kill lands mid-work.
    await waitUntil(() => starts.size >= 3, { timeoutMs: 10_000, message: 'the first jobs to run under the old leader' });
    expect(await raw.get(queueKeys(prefix, queueName).leader)).toBe(oldTerm);
    expect(successor.isLeader(queueName)).toBe(false);

    const ttlCheckedAt = Date.now();
    const remainingTtl = await raw.pTTL(queueKeys(prefix, queueName).leader);
    const killedAt = Date.now();
    await fixture.kill('SIGKILL');

    // Jobs added during the gap, while nobody leads.
    const during: Job[] = await queue.addBulk(
      Array.from({ length: 30 }, (_, i) => ({ name: 'during', data: { i }, opts: { delay: 50 + i * 20 } })),
    );
    expect(during.every((job) => job.state === 'delayed')).toBe(true);
    expect(elected.map((e) => e.term)).toEqual([]); // really added during the gap

    await waitUntil(() => elected.length > 0, { timeoutMs: lockTtl + 10_000, message: 'the successor to be elected' });
    const takeover = elected[0]!.at - killedAt;
    console.log(
      `SIGKILL: successor elected ${takeover} ms after the kill (lock had ${remainingTtl} ms left; lockTtl ${lockTtl})`,
    );
    expect(takeover).toBeLessThanOrEqual(lockTtl + margin);
    // ...and not before the dead leader's lock expired: no two holders.
    expect(elected[0]!.at).toBeGreaterThanOrEqual(ttlCheckedAt + remainingTtl - 20);
    const newTerm = elected[0]!.term;
    expect(instanceOf(newTerm)).toBe(successor.instanceId);
    expect(tokenOf(newTerm)).toBeGreaterThan(tokenOf(oldTerm));

    const all = [...before, ...during];
    await waitUntil(async () => (await queue.counts()).completed === all.length, {
      timeoutMs: 20_000,
      message: `${all.length} completed jobs`,
    });
    expect(all.map((job) => starts.get(job.id)?.length ?? 0).filter((runs) => runs !== 1)).toEqual([]);
    expect(all.filter((job) => starts.get(job.id)![0]! < job.dueAt!).map((job) => job.id)).toEqual([]);
    // Jobs that became due after the kill waited for the successor's term.
    const dueInGap = all.filter((job) => job.dueAt! > killedAt + 5);
    expect(dueInGap.length).toBeGreaterThan(30);
    expect(dueInGap.filter((job) => starts.get(job.id)![0]! < elected[0]!.at).map((job) => job.id)).toEqual([]);
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: all.length });

    // The dead leader's term is fenced off.
    const fencing = RedisConnection.create(connection());
    open.track({ close: () => fencing.close() });
    const stale = await promoteDue({ connection: fencing, keys: queue.keys, tiers: [], maxEvents: 10_000 }, oldTerm, 100);
    expect(stale.promoted).toBe(-1);
    expect(elected.map((e) => e.term)).toEqual([newTerm]);
    expect(errors).toEqual([]);

    await worker.close();
    await successor.close();
    await queue.close();
  });

  it('fences off a stale leader: a paused leader whose term passed to another promotes nothing', async () => {
    const prefix = testPrefix('lead');
    const queueName = 'fenced';
    const keys = queueKeys(prefix, queueName);
    const raw = await openRaw();
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    const redis = RedisConnection.create(connection());
    open.track({ close: () => redis.close() });
    const ctx = { connection: redis, keys, tiers: [], maxEvents: 10_000 };

    const fixture = trackFixture(
      spawnFixture('scheduler-process', { url: redisUrl(), prefix, queues: [queueName], lockTtl: 1_500 }),
    );
    const staleTerm = (await fixture.waitForLine(new RegExp(`^elected ${queueName} `), 30_000)).split(' ')[2]!;

    // Pause the leader; once its lock has expired another holder takes the
    // term (here the test itself, so that nobody promotes behind our back).
    process.kill(fixture.pid, 'SIGSTOP'); // (SIGKILL at cleanup ends it even while stopped)
    const currentTerm = await waitUntil(
      async () => {
        const reply = await claimLeadership(redis, keys, 'test-holder', 60_000);
        return reply.status === 'elected' ? reply.value : undefined;
      },
      { timeoutMs: 10_000, message: 'the paused leader’s lock to expire' },
    );
    expect(tokenOf(currentTerm)).toBeGreaterThan(tokenOf(staleTerm));

    // A delayed job that is due now.
    const job = await queue.add('fenced', { n: 1 }, { delay: 200 });
    expect(job.state).toBe('delayed');
    await waitUntil(() => Date.now() > job.dueAt! + 10, { message: 'the job to be due' });
    const lane = queue.keys.lane(job.tier);
    const snapshot = async () => ({
      delayed: await raw.zRangeWithScores(keys.delayed, 0, -1),
      laneLength: await raw.xLen(lane),
      state: (await queue.getJob(job.id))?.state,
    });
    const untouched = { delayed: [{ value: job.id, score: job.dueAt! }], laneLength: 0, state: 'delayed' };
    expect(await snapshot()).toEqual(untouched);

    // The stale term's promotion is rejected and changes nothing.
    const stale = await promoteDue(ctx, staleTerm, 100);
    expect(stale.promoted).toBe(-1);
    expect(await snapshot()).toEqual(untouched);

    // The paused leader wakes up: it learns it lost, and promotes nothing.
    process.kill(fixture.pid, 'SIGCONT');
    await fixture.waitForLine(new RegExp(`^lost ${queueName}$`), 10_000);
    expect(await snapshot()).toEqual(untouched);
    expect(fixture.lines.filter((line) => /^(promoted|elected) /.test(line))).toEqual([`elected ${queueName} ${staleTerm}`]);

    // The current term's promotion works (so the rejection above was the fence).
    const current = await promoteDue(ctx, currentTerm, 100);
    expect(current.promoted).toBe(1);
    expect(await raw.zCard(keys.delayed)).toBe(0);
    expect(await raw.xLen(lane)).toBe(1);
    expect((await queue.getJob(job.id))?.state).toBe('waiting');

    // When the current holder resigns, the old process leads again, in a new
    // term with a larger token.
    expect(await resignLeadership(redis, keys, currentTerm)).toBe(true);
    const nextTerm = (await fixture.waitForLine(new RegExp(`^elected ${queueName} (?!${staleTerm}$)`), 10_000)).split(' ')[2]!;
    expect(tokenOf(nextTerm)).toBeGreaterThan(tokenOf(currentTerm));
    expect(instanceOf(nextTerm)).toBe(instanceOf(staleTerm));

    await fixture.kill('SIGTERM');
    expect((await fixture.exited).code).toBe(0);
    expect(await raw.get(keys.leader)).toBeNull(); // resigned on its way out
    await queue.close();
  });
});

function queueKeys(prefix: string, queue: string): QueueKeys {
  return new QueueKeys(prefix, queue);
}
