/**
 * Repeat schedules across scheduler failover (semantics 5 and 7, issue 4
 * "Done when" 4), with real processes: two schedulers each in a process of its
 * own (lockTtl 2 s), a Worker in this process that schedules nothing and
 * records every run's nominal time, and a schedule `every: 500`.
 *
 * - SIGKILL the leader, `catchUp: 'all'`: the other process is elected within
 *   the lock's lifetime (+ margin) and the schedule goes on; the runs are
 *   exactly every occurrence anchor + 500·k from the first to the last one
 *   observed, each once (job ids `<id>@<nominal>`), those due in the gap
 *   included (caught up by the new leader).
 * - The same with `catchUp: 'none'`: the gap's occurrences are not run and are
 *   counted missed; the occurrences after the takeover run, on time. Twice:
 *   the leader killed just after renewing its lock (the schedule goes
 *   unwatched for a full lifetime, 2 s) and just before (half of it, ~1 s).
 * - SIGSTOP the leader past its lock, let the other take over, SIGCONT it: the
 *   stale leader learns it lost, its term cannot materialise anything, and no
 *   occurrence is doubled or lost.
 *
 * Times: scheduledFor and startedAt come from Redis TIME, kill and election
 * times from Date.now(); on loopback both read the same clock.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, QueueKeys, RedisConnection, materialise, type ScheduleInfo, type ScheduleSpec } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
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

const LOCK_TTL = 2_000;
/** Election after the lock's lifetime: the follower tries when the lock would expire, plus process and Redis latency on busy cores. */
const TAKEOVER_MARGIN = 1_500;
const EVERY = 500;
const SCHEDULE_ID = 'tick';

interface Run {
  id: string;
  scheduleId: string | undefined;
  scheduledFor: number;
  lateMs: number;
  attempt: number;
  /** Handler start, local clock. */
  at: number;
}

function instanceOf(term: string): string {
  return term.slice(0, term.lastIndexOf(':'));
}

function tokenOf(term: string): number {
  return Number(term.slice(term.lastIndexOf(':') + 1));
}

function trackFixture(fixture: FixtureProcess): FixtureProcess {
  open.track({
    close: async () => {
      if (fixture.child.exitCode === null && fixture.child.signalCode === null) {
        try {
          process.kill(fixture.pid, 'SIGCONT'); // harmless if running; SIGKILL works on stopped processes anyway
        } catch {
          // already gone
        }
      }
      await fixture.kill('SIGKILL');
    },
  });
  return fixture;
}

async function openRaw() {
  const raw = await rawClient();
  open.track({ close: () => raw.destroy() });
  return raw;
}

/** The term of the first `elected` line a fixture printed after `afterLine` lines, with the local time it was seen. */
async function electedLine(fixture: FixtureProcess, queue: string, { afterLine = 0, timeoutMs = 30_000 } = {}) {
  const pattern = new RegExp(`^elected ${queue} (\\S+)$`);
  const term = await waitUntil(
    () => {
      const line = fixture.lines.slice(afterLine).find((l) => pattern.test(l));
      return line ? pattern.exec(line)![1] : undefined;
    },
    { timeoutMs, intervalMs: 10, message: `fixture ${fixture.pid} to be elected for ${queue}` },
  );
  return { term, seenAt: Date.now() };
}

/**
 * Two scheduler processes (one of them elected), a recording Worker that
 * schedules nothing, and the schedule `tick` with `spec`, defined once a
 * leader leads.
 */
async function setUp(label: string, spec: ScheduleSpec) {
  const prefix = testPrefix('sfo');
  const queueName = label;
  const keys = new QueueKeys(prefix, queueName);
  const raw = await openRaw();
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  const fixtures = [0, 1].map(() =>
    trackFixture(
      spawnFixture('scheduler-process', {
        url: redisUrl(),
        prefix,
        queues: [queueName],
        lockTtl: LOCK_TTL,
      }),
    ),
  );
  const instanceIds = await Promise.all(fixtures.map(async (f) => (await f.waitForLine(/^started /, 30_000)).split(' ')[1]!));
  const firstTerm = await waitUntil(() => raw.get(keys.leader), { timeoutMs: 30_000, message: 'a leader' });
  const leaderIndex = instanceIds.indexOf(instanceOf(firstTerm));
  expect(leaderIndex).toBeGreaterThanOrEqual(0);
  const leader = fixtures[leaderIndex]!;
  const follower = fixtures[1 - leaderIndex]!;
  expect((await electedLine(leader, queueName)).term).toBe(firstTerm);
  expect(follower.lines.filter((l) => l.startsWith('elected '))).toEqual([]);

  const runs: Run[] = [];
  const errors: Error[] = [];
  const worker = open.track(
    new Worker(
      queueName,
      async (job) => {
        runs.push({
          id: job.id,
          scheduleId: job.scheduleId,
          scheduledFor: job.scheduledFor!,
          lateMs: job.lateMs!,
          attempt: job.attempt,
          at: Date.now(),
        });
      },
      { connection: connection(), prefix, concurrency: 10, scheduler: false },
    ),
  );
  worker.on('error', (err) => errors.push(err));
  worker.on('failed', (_job, err) => errors.push(err));
  await worker.waitUntilReady();

  const defined = await queue.schedule(SCHEDULE_ID, spec, { name: 'tick' });
  expect(defined.nextRunAt).toBe(defined.anchor + EVERY);

  /** Runs whose nominal time is after `t`. */
  const runsAfter = (t: number) => runs.filter((r) => r.scheduledFor > t);

  /**
   * Waits until the leader's lock has between `min` and `max` ms left, and
   * returns what is left: the moment to kill it for a gap of known length.
   */
  async function waitForLockTtl(min: number, max: number): Promise<number> {
    return waitUntil(
      async () => {
        const ttl = await raw.pTTL(keys.leader);
        return ttl >= min && ttl <= max ? ttl : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 5, message: `the leader's lock to have ${min}..${max} ms left` },
    );
  }

  /**
   * Stops both schedulers (SIGTERM the live ones), lets the worker run what
   * was materialised, and returns the schedule and the created job ids.
   */
  async function finish(): Promise<{ info: ScheduleInfo; jobKeys: string[]; recent: string[] }> {
    for (const f of fixtures) {
      if (f.child.exitCode === null && f.child.signalCode === null) await f.kill('SIGTERM');
    }
    await waitUntil(
      async () => {
        const counts = await queue.counts();
        return counts.waiting + counts.active + counts.delayed === 0;
      },
      { timeoutMs: 15_000, message: 'the worker to run every materialised occurrence' },
    );
    await worker.close();
    const info = (await queue.getSchedule(SCHEDULE_ID))!;
    const jobKeys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = (await raw.sendCommand(['SCAN', cursor, 'MATCH', `${keys.base}job:${SCHEDULE_ID}@*`, 'COUNT', '1000'])) as [
        string,
        string[],
      ];
      cursor = String(next);
      jobKeys.push(...found.map(String));
    } while (cursor !== '0');
    const recent = (await raw.lRange(`${keys.schedule(SCHEDULE_ID)}:recent`, 0, -1)).reverse();
    return { info, jobKeys, recent };
  }

  return { prefix, queueName, keys, raw, queue, leader, follower, firstTerm, runs, errors, runsAfter, defined, waitForLockTtl, finish };
}

/** Every nominal time anchor + every·k from `from` to `to`, inclusive. */
function occurrences(from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t <= to; t += EVERY) out.push(t);
  return out;
}

function sorted(values: number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

describe('repeat schedules across scheduler failover', () => {
  it("SIGKILL of the leader process with catchUp 'all': the other takes over within the lock's lifetime; every occurrence runs exactly once, the gap's caught up", async () => {
    const s = await setUp('sfo-all', { every: EVERY, catchUp: 'all' });
    const first = s.defined.anchor + EVERY;
    await waitUntil(() => s.runs.length >= 4, { timeoutMs: 15_000, message: '4 runs under the first leader' });

    const remaining = await s.waitForLockTtl(LOCK_TTL - 150, LOCK_TTL); // just renewed: the longest gap
    const killedAt = Date.now();
    await s.leader.kill('SIGKILL');

    const { term, seenAt: electedAt } = await electedLine(s.follower, s.queueName, { timeoutMs: LOCK_TTL + 15_000 });
    const takeover = electedAt - killedAt;
    console.log(`catchUp all: follower elected ${takeover} ms after the SIGKILL (lock had ${remaining} ms left, lockTtl ${LOCK_TTL})`);
    expect(takeover).toBeLessThanOrEqual(LOCK_TTL + TAKEOVER_MARGIN);
    expect(takeover).toBeGreaterThanOrEqual(remaining - 50); // not before the dead leader's lock expired
    expect(tokenOf(term)).toBeGreaterThan(tokenOf(s.firstTerm));

    // Occurrences continue after the takeover: a few live ones under the new leader.
    await waitUntil(() => s.runsAfter(electedAt + 100).length >= 4, {
      timeoutMs: 15_000,
      message: '4 runs due after the takeover',
    });
    const { info, jobKeys, recent } = await s.finish();

    const ran = s.runs.map((r) => r.scheduledFor);
    const last = Math.max(...ran);
    const expected = occurrences(first, last);
    // None lost, none doubled: exactly every occurrence from the first to the last, once each.
    expect(sorted(ran)).toEqual(expected);
    expect(new Set(s.runs.map((r) => r.id)).size).toBe(s.runs.length);
    expect(s.runs.filter((r) => r.id !== `${SCHEDULE_ID}@${r.scheduledFor}` || r.scheduleId !== SCHEDULE_ID)).toEqual([]);
    expect(s.runs.filter((r) => r.attempt !== 1)).toEqual([]);
    expect(sorted(jobKeys.map((k) => Number(k.slice(k.lastIndexOf('@') + 1))))).toEqual(expected);
    expect(recent).toEqual(expected.map((t) => `${SCHEDULE_ID}@${t}`)); // created oldest first

    // The gap: occurrences due between the kill and the election were run
    // (caught up), by the new leader, after it was elected.
    const inGap = expected.filter((t) => t > killedAt + 5 && t < electedAt - 50);
    expect(inGap.length).toBeGreaterThanOrEqual(2);
    const gapRuns = s.runs.filter((r) => inGap.includes(r.scheduledFor));
    expect(gapRuns.filter((r) => r.at < killedAt + remaining - 50).map((r) => r.scheduledFor)).toEqual([]);
    expect(gapRuns.map((r) => r.scheduledFor)).toEqual(inGap); // started oldest first

    expect(info).toMatchObject({ runs: expected.length, missed: 0, skipped: 0, lastRunAt: last });
    expect(s.errors).toEqual([]);
  });

  it("SIGKILL of the leader process with catchUp 'none': the gap's occurrences are counted missed and not run; those after the takeover run on time", async () => {
    // Killed just after a renewal: the schedule goes unwatched for a full lock lifetime.
    await noneAfterKill('sfo-none', 'just after renewing', LOCK_TTL - 150, LOCK_TTL);
  });

  // Killed just before a renewal, the lock has only half its lifetime left
  // (a leader renews every half): the schedule goes unwatched for ~1-1.1 s.
  // That is still a gap in which the leader was dead and occurrences fell
  // due, which catchUp 'none' skips.
  it("SIGKILL of the leader just before it renews (gap ≈ 1/2 lockTtl) with catchUp 'none': the gap's occurrences are still counted missed and not run", async () => {
    const renewAt = Math.ceil(LOCK_TTL / 2);
    await noneAfterKill('sfo-none-short', 'just before renewing', renewAt + 10, renewAt + 70, 1);
  });

  it('fences off a stale leader: SIGSTOPped past its lock, it is replaced; resumed with SIGCONT, it learns it lost and no occurrence is doubled or lost', async () => {
    const s = await setUp('sfo-stale', { every: EVERY, catchUp: 'all' });
    const first = s.defined.anchor + EVERY;
    await waitUntil(() => s.runs.length >= 3, { timeoutMs: 15_000, message: '3 runs under the first leader' });

    const staleTerm = s.firstTerm;
    const stoppedAt = Date.now();
    process.kill(s.leader.pid, 'SIGSTOP');
    const { term: newTerm, seenAt: electedAt } = await electedLine(s.follower, s.queueName, { timeoutMs: LOCK_TTL + 15_000 });
    console.log(`stale leader: follower elected ${electedAt - stoppedAt} ms after the SIGSTOP (lockTtl ${LOCK_TTL})`);
    expect(electedAt - stoppedAt).toBeLessThanOrEqual(LOCK_TTL + TAKEOVER_MARGIN);
    expect(tokenOf(newTerm)).toBeGreaterThan(tokenOf(staleTerm));
    await waitUntil(() => s.runsAfter(electedAt + 100).length >= 2, { timeoutMs: 15_000, message: 'runs under the new leader' });

    // The stale term cannot materialise: a plan that would create a job and
    // end the schedule is rejected and writes nothing.
    const fencing = RedisConnection.create(connection());
    open.track({ close: () => fencing.close() });
    const before = (await s.queue.getSchedule(SCHEDULE_ID))!;
    const future = before.nextRunAt! + 100 * EVERY;
    const reply = await materialise(
      { connection: fencing, keys: s.keys, tiers: [], maxEvents: 10_000 },
      staleTerm,
      { scheduleId: SCHEDULE_ID, version: before.version, run: [future], missed: 7, next: undefined, backlogUntil: future },
    );
    expect(reply).toEqual({ status: 'not-leader' });
    expect(await s.raw.exists(s.keys.job(`${SCHEDULE_ID}@${future}`))).toBe(0);
    const afterFence = (await s.queue.getSchedule(SCHEDULE_ID))!;
    expect(afterFence).toMatchObject({ ended: false, missed: before.missed, version: before.version });
    expect(afterFence.backlogUntil).not.toBe(future);
    expect(afterFence.nextRunAt).toBeDefined();

    // The stale leader wakes up: it learns it lost, and does not lead again.
    const linesBeforeCont = s.leader.lines.length;
    process.kill(s.leader.pid, 'SIGCONT');
    await waitUntil(() => s.leader.lines.slice(linesBeforeCont).includes(`lost ${s.queueName}`), {
      timeoutMs: 10_000,
      message: 'the resumed leader to report it lost',
    });
    const contAt = Date.now();
    await waitUntil(() => s.runsAfter(contAt + 100).length >= 3, { timeoutMs: 15_000, message: 'runs after SIGCONT' });
    expect(s.leader.lines.filter((l) => l.startsWith('elected '))).toEqual([`elected ${s.queueName} ${staleTerm}`]);
    expect(s.leader.lines.filter((l) => l.startsWith('error '))).toEqual([]);
    expect(await s.raw.get(s.keys.leader)).toBe(newTerm);

    const { info, jobKeys, recent } = await s.finish();
    const ran = s.runs.map((r) => r.scheduledFor);
    const last = Math.max(...ran);
    const expected = occurrences(first, last);
    expect(sorted(ran)).toEqual(expected); // none doubled, none lost
    expect(new Set(s.runs.map((r) => r.id)).size).toBe(s.runs.length);
    expect(s.runs.filter((r) => r.attempt !== 1)).toEqual([]);
    expect(sorted(jobKeys.map((k) => Number(k.slice(k.lastIndexOf('@') + 1))))).toEqual(expected);
    expect(recent).toEqual(expected.map((t) => `${SCHEDULE_ID}@${t}`));
    expect(info).toMatchObject({ runs: expected.length, missed: 0, skipped: 0, lastRunAt: last });
    expect(s.errors).toEqual([]);
  });
});

/**
 * The catchUp 'none' failover scenario, the leader killed when its lock has
 * `minTtl..maxTtl` ms left, which leaves at least `dueInGapAtLeast` occurrences
 * due well inside the gap.
 */
async function noneAfterKill(label: string, when: string, minTtl: number, maxTtl: number, dueInGapAtLeast = 2): Promise<void> {
  const s = await setUp(label, { every: EVERY, catchUp: 'none' });
  const first = s.defined.anchor + EVERY;
  await waitUntil(() => s.runs.length >= 4, { timeoutMs: 15_000, message: '4 runs under the first leader' });

  const remaining = await s.waitForLockTtl(minTtl, maxTtl);
  const killedAt = Date.now();
  await s.leader.kill('SIGKILL');

  const { seenAt: electedAt } = await electedLine(s.follower, s.queueName, { timeoutMs: LOCK_TTL + 15_000 });
  const takeover = electedAt - killedAt;
  console.log(`catchUp none, killed ${when}: follower elected ${takeover} ms after the SIGKILL (lock had ${remaining} ms left, lockTtl ${LOCK_TTL})`);
  expect(takeover).toBeLessThanOrEqual(LOCK_TTL + TAKEOVER_MARGIN);

  await waitUntil(() => s.runsAfter(electedAt + 100).length >= 4, {
    timeoutMs: 15_000,
    message: '4 runs due after the takeover',
  });
  const { info, jobKeys } = await s.finish();

  const ran = sorted(s.runs.map((r) => r.scheduledFor));
  const last = ran[ran.length - 1]!;
  const all = occurrences(first, last);
  const notRun = all.filter((t) => !ran.includes(t));
  console.log(`catchUp none, killed ${when}: ${ran.length} run, ${notRun.length} missed (${info.missed} counted), late after takeover: ${s.runsAfter(electedAt + 100).map((r) => r.lateMs).join(', ')} ms`);

  // Each occurrence at most once, each a real occurrence of the schedule.
  expect(new Set(ran).size).toBe(ran.length);
  expect(ran.filter((t) => (t - first) % EVERY !== 0)).toEqual([]);
  expect(ran[0]).toBe(first);
  expect(sorted(jobKeys.map((k) => Number(k.slice(k.lastIndexOf('@') + 1))))).toEqual(ran); // no job for a missed one

  // Everything due while no leader ran (between the kill and the lock's
  // expiry) was passed over, not run late...
  const dueInGap = all.filter((t) => t > killedAt + 50 && t < killedAt + remaining - 50);
  expect(dueInGap.length).toBeGreaterThanOrEqual(dueInGapAtLeast);
  expect(dueInGap.filter((t) => ran.includes(t))).toEqual([]);
  // ...and counted missed: the occurrences not run are one contiguous block,
  // from about the kill to the election, and exactly the missed count.
  expect(notRun.length).toBeGreaterThanOrEqual(2);
  expect(info.missed).toBe(notRun.length);
  expect(notRun).toEqual(occurrences(notRun[0]!, notRun[notRun.length - 1]!));
  // (the leader wakes at each occurrence: one due right at the kill may be the first passed over)
  expect(notRun[0]!).toBeGreaterThan(killedAt - 100 - EVERY);
  expect(notRun[notRun.length - 1]!).toBeLessThanOrEqual(electedAt + 100);

  // After the takeover the schedule is live again: every occurrence runs,
  // each started before the next one was due.
  const after = all.filter((t) => t > electedAt + 100);
  expect(after.length).toBeGreaterThanOrEqual(4);
  expect(after.filter((t) => !ran.includes(t))).toEqual([]);
  expect(s.runsAfter(electedAt + 100).filter((r) => r.lateMs >= EVERY).map((r) => [r.scheduledFor, r.lateMs])).toEqual([]);

  expect(info).toMatchObject({ runs: ran.length, skipped: 0, lastRunAt: last });
  expect(s.errors).toEqual([]);
}
