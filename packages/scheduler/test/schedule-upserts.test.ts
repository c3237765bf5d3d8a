/**
 * Defining schedules (semantics 5 and 8): 20 processes upserting the same
 * schedule at the same instant leave exactly one schedule with an intact next
 * run, and its occurrences each run once; a changed spec takes effect from
 * now without duplicates; and bad input at `schedule()` is rejected with a
 * typed error before anything is written.
 *
 * Times: anchors and nominal times come from Redis TIME.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { InvalidOptionsError, Queue, StreamJobsError, type ActiveJob, type ScheduleSpec } from '@streamjobs/core';
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

type Raw = Awaited<ReturnType<typeof rawClient>>;

const open = new OpenResources();
afterEach(() => open.closeAll());

async function raw(): Promise<Raw> {
  const client = await rawClient();
  open.track({ close: () => client.destroy() });
  return client;
}

async function serverTime(client: Raw): Promise<number> {
  const [seconds, micros] = (await client.sendCommand(['TIME'])) as string[];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** Ids of every job of schedule `id` stored in the queue, nominal times ascending. */
async function scheduleJobIds(client: Raw, queue: Queue, id: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const keys of client.scanIterator({ MATCH: `${queue.keys.job(`${id}@`)}*`, COUNT: 1000 })) {
    for (const key of keys) ids.push(String(key).slice(queue.keys.job('').length));
  }
  return ids.sort((a, b) => nominalOf(a) - nominalOf(b));
}

function nominalOf(jobId: string): number {
  return Number(jobId.slice(jobId.lastIndexOf('@') + 1));
}

interface UpsertLine {
  version: string;
  anchor: number;
  nextRunAt?: number;
  runs: number;
}

describe('concurrent upserts of one schedule', () => {
  it('20 processes at once leave one schedule (version 1) with an intact next run; each occurrence runs once; a changed spec takes effect from now', async () => {
    const prefix = testPrefix('sched-upserts');
    const queueName = 'deploy';
    const client = await raw();
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    const goKey = `${prefix}-go`; // outside the queue's keys
    open.track({ close: () => client.del(goKey) });
    const template = { name: 'digest', data: { kind: 'daily' }, opts: { attempts: 2 } };

    const processes: FixtureProcess[] = [];
    for (let i = 0; i < 20; i += 1) {
      const proc = spawnFixture('schedule-upsert-process', {
        url: redisUrl(),
        prefix,
        queue: queueName,
        id: 'digest',
        spec: { every: 1_000 },
        template,
        goKey,
      });
      open.track({ close: () => proc.kill() });
      processes.push(proc);
    }
    // 20 node processes on 2 cores start slowly: all connected and initialised, then one go for all
    await Promise.all(processes.map((proc) => proc.waitForLine(/^ready$/, 60_000)));
    await client.rPush(goKey, Array.from({ length: 20 }, () => 'go'));
    const lines = await Promise.all(processes.map((proc) => proc.waitForLine(/^(done|error) /, 30_000)));
    const replies = lines.map((line) => {
      expect(line).toMatch(/^done /);
      return JSON.parse(line.slice('done '.length)) as UpsertLine;
    });
    const exits = await Promise.all(processes.map((proc) => proc.exited));
    expect(exits.map((exit) => exit.code)).toEqual(Array(20).fill(0));

    // Every process saw the same single definition: the first upsert; the 19 others changed nothing.
    const anchor = replies[0]!.anchor;
    for (const reply of replies) expect(reply).toEqual({ version: '1', anchor, nextRunAt: anchor + 1_000, runs: 0 });
    const all = await queue.schedules();
    expect(all).toHaveLength(1);
    const info = all[0]!;
    expect(info).toMatchObject({ id: 'digest', version: '1', anchor, nextRunAt: anchor + 1_000, runs: 0, missed: 0, ended: false });
    expect(info.createdAt).toBe(anchor);
    expect(info.updatedAt).toBe(anchor); // written once
    expect(info.spec).toMatchObject({ every: 1_000, catchUp: 'all', overlap: 'allow' });
    expect(info.template).toMatchObject({ name: 'digest', data: { kind: 'daily' } });
    expect(await client.sMembers(queue.keys.scheduleIds)).toEqual(['digest']);
    expect(await client.zRangeWithScores(queue.keys.schedulesDue, 0, -1)).toEqual([{ value: 'digest', score: anchor + 1_000 }]);
    expect((await client.keys(`${queue.keys.base}schedule:*`)).sort()).toEqual([queue.keys.schedule('digest')]);
    expect(await scheduleJobIds(client, queue, 'digest')).toEqual([]); // no leader yet: nothing materialised

    // A leader runs for a few intervals: each occurrence runs once, none lost.
    const runs: { id: string; scheduledFor: number }[] = [];
    const handler = async (job: ActiveJob) => {
      runs.push({ id: job.id, scheduledFor: job.scheduledFor! });
    };
    const worker = open.track(new Worker(queueName, handler, { connection: connection(), prefix, scheduler: false, concurrency: 4 }));
    await worker.waitUntilReady();
    open.track(new Scheduler({ connection: connection(), prefix, queues: [queueName] }));
    const leaderFrom = await serverTime(client);
    await waitUntil(() => runs.some((run) => run.scheduledFor >= leaderFrom + 3_000), {
      timeoutMs: 20_000,
      message: 'three live occurrences',
    });
    const firstGrid = runs.map((run) => run.scheduledFor).sort((a, b) => a - b);
    expect(firstGrid.length).toBeGreaterThanOrEqual(3);
    expect(firstGrid).toEqual(Array.from({ length: firstGrid.length }, (_, i) => anchor + (i + 1) * 1_000));
    expect(new Set(runs.map((run) => run.id)).size).toBe(runs.length);
    for (const run of runs) expect(run.id).toBe(`digest@${run.scheduledFor}`);

    // The spec changes (every 1000 -> 700), from 20 callers at once (one deploy): one change, from now.
    const callers = Array.from({ length: 20 }, () => open.track(new Queue(queueName, { connection: connection(), prefix })));
    await Promise.all(callers.map((caller) => caller.getTiers()));
    const changedFrom = await serverTime(client);
    const changed = await Promise.all(callers.map((caller) => caller.schedule('digest', { every: 700 }, template)));
    const anchor2 = changed[0]!.anchor;
    expect(anchor2).toBeGreaterThanOrEqual(changedFrom);
    for (const reply of changed) {
      expect(reply.version).toBe('2');
      expect(reply.anchor).toBe(anchor2);
      expect(reply.spec.every).toBe(700);
      expect((reply.nextRunAt! - anchor2) % 700).toBe(0);
    }
    expect(changed[0]!.nextRunAt).toBe(anchor2 + 700);
    expect(changed[0]!.createdAt).toBe(anchor); // the same schedule, changed
    expect(await queue.schedules()).toHaveLength(1);

    await waitUntil(() => runs.filter((run) => run.scheduledFor > anchor2).length >= 4, {
      timeoutMs: 20_000,
      message: 'four occurrences of the changed spec',
    });
    const before = runs.filter((run) => run.scheduledFor <= anchor2).map((run) => run.scheduledFor).sort((a, b) => a - b);
    const after = runs.filter((run) => run.scheduledFor > anchor2).map((run) => run.scheduledFor).sort((a, b) => a - b);
    // before the change: the old grid, no gap; after: only the new grid, from its first occurrence, no gap
    expect(before).toEqual(Array.from({ length: before.length }, (_, i) => anchor + (i + 1) * 1_000));
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => anchor2 + (i + 1) * 700));
    // no duplicate anywhere: one run per job id, and the stored jobs are exactly the runs (or runs about to start)
    expect(new Set(runs.map((run) => run.id)).size).toBe(runs.length);
    const stored = await scheduleJobIds(client, queue, 'digest');
    expect(new Set(stored).size).toBe(stored.length);
    for (const run of runs) expect(stored).toContain(run.id);
    for (const id of stored) {
      const t = nominalOf(id);
      expect(t <= anchor2 ? (t - anchor) % 1_000 : (t - anchor2) % 700).toBe(0);
    }
    const final = (await queue.getSchedule('digest'))!;
    expect(final.version).toBe('2');
    expect(final.runs).toBe(stored.length);
  });
});

describe('bad input at schedule()', () => {
  it('bad cron, unknown time zone, bad spec or bad template: InvalidOptionsError, and no key written', async () => {
    const prefix = testPrefix('sched-bad');
    const client = await raw();
    const queue = open.track(new Queue('bad', { connection: connection(), prefix }));
    const every = { every: 1_000 };
    const tmpl = { name: 'x' };
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['cron: garbage', () => queue.schedule('s', { cron: 'not a cron' }, tmpl), 'spec.cron', /not a cron/],
      ['cron: minute 61', () => queue.schedule('s', { cron: '61 * * * *' }, tmpl), 'spec.cron', /61 \* \* \* \*/],
      ['cron: 7 fields', () => queue.schedule('s', { cron: '0 0 0 1 1 * 2030' }, tmpl), 'spec.cron', /5 fields, or 6/],
      ['cron: empty', () => queue.schedule('s', { cron: '  ' }, tmpl), 'spec.cron', /cron/],
      ['tz: unknown zone', () => queue.schedule('s', { cron: '*/5 * * * * *', tz: 'Mars/Olympus_Mons' }, tmpl), 'spec.tz', /"Mars\/Olympus_Mons"/],
      ['tz: with every', () => queue.schedule('s', { every: 1_000, tz: 'UTC' }, tmpl), 'spec.tz', /cron/],
      ['spec: not an object', () => queue.schedule('s', null as unknown as ScheduleSpec, tmpl), 'spec', /cron or every/],
      ['spec: neither cron nor every', () => queue.schedule('s', {}, tmpl), 'spec', /exactly one of cron or every/],
      ['spec: both', () => queue.schedule('s', { every: 1_000, cron: '* * * * *' }, tmpl), 'spec', /exactly one/],
      ['spec: every 0', () => queue.schedule('s', { every: 0 }, tmpl), 'spec.every', /> 0/],
      ['spec: every 1.5', () => queue.schedule('s', { every: 1.5 }, tmpl), 'spec.every', /integer/],
      ['spec: unknown key', () => queue.schedule('s', { ...every, evry: 5 } as ScheduleSpec, tmpl), 'spec.evry', /not a schedule option/],
      ['spec: catchUp', () => queue.schedule('s', { ...every, catchUp: 'most' as 'all' }, tmpl), 'spec.catchUp', /all, latest, none/],
      ['spec: overlap', () => queue.schedule('s', { ...every, overlap: 'queue' as 'skip' }, tmpl), 'spec.overlap', /allow, skip, buffer/],
      ['spec: maxCatchUp < 0', () => queue.schedule('s', { ...every, maxCatchUp: -1 }, tmpl), 'spec.maxCatchUp', /./],
      ['spec: maxCatchUp too big', () => queue.schedule('s', { ...every, maxCatchUp: 1e6 }, tmpl), 'spec.maxCatchUp', /at most/],
      ['spec: limit 0', () => queue.schedule('s', { ...every, limit: 0 }, tmpl), 'spec.limit', /> 0/],
      ['spec: endAt < startAt', () => queue.schedule('s', { ...every, startAt: 2_000_000, endAt: 1_000_000 }, tmpl), 'spec.endAt', /startAt/],
      ['spec: startAt not a date', () => queue.schedule('s', { ...every, startAt: 'tomorrow' as unknown as number }, tmpl), 'spec.startAt', /Date/],
      ['template: unknown key', () => queue.schedule('s', every, { name: 'x', dta: 1 } as typeof tmpl), 'template.dta', /not a template field/],
      ['template: jobId in opts', () => queue.schedule('s', every, { name: 'x', opts: { jobId: 'a' } as object }), 'template.opts.jobId', /per job/],
      ['template: delay in opts', () => queue.schedule('s', every, { name: 'x', opts: { delay: 5 } as object }), 'template.opts.delay', /per job/],
      ['template: runAt in opts', () => queue.schedule('s', every, { name: 'x', opts: { runAt: new Date() } as object }), 'template.opts.runAt', /per job/],
      ['template: unknown tier', () => queue.schedule('s', every, { name: 'x', opts: { priority: 'urgent' } }), 'priority', /urgent/],
      ['template: tier index out of range', () => queue.schedule('s', every, { name: 'x', opts: { priority: 9 } }), 'priority', /0 to 3/],
      ['template: no name', () => queue.schedule('s', every, {} as typeof tmpl), 'name', /string/],
      ['template: not an object', () => queue.schedule('s', every, null as unknown as typeof tmpl), 'template', /name/],
      ['template: bad attempts', () => queue.schedule('s', every, { name: 'x', opts: { attempts: 0 } }), 'attempts', /integer/],
      ['id: empty', () => queue.schedule('', every, tmpl), 'id', /1 to 256/],
      ['id: with @', () => queue.schedule('a@b', every, tmpl), 'id', /@/],
    ];
    for (const [label, call, option, message] of cases) {
      const error = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect([label, error instanceof InvalidOptionsError]).toEqual([label, true]);
      expect([label, (error as InvalidOptionsError).option]).toEqual([label, option]);
      expect([label, (error as Error).message]).toEqual([label, expect.stringMatching(message)]);
      expect(error).toBeInstanceOf(StreamJobsError);
    }
    // template data that is not JSON: a typed error too
    await expect(queue.schedule('s', every, { name: 'x', data: { n: 1n } })).rejects.toBeInstanceOf(StreamJobsError);

    expect(await client.keys(`${prefix}*`)).toEqual([]);
    // the check can fail: a good call does write under the prefix
    await queue.schedule('s', every, tmpl);
    expect((await client.keys(`${prefix}*`)).length).toBeGreaterThan(0);
  });

  it('a valid priority of a queue with its own tiers is accepted by a process that did not name the tiers', async () => {
    const prefix = testPrefix('sched-tiers');
    const owner = open.track(new Queue('tiered', { connection: connection(), prefix, tiers: ['urgent', 'batch'] }));
    await owner.getTiers(); // the queue now exists with tiers urgent, batch
    const other = open.track(new Queue('tiered', { connection: connection(), prefix }));
    const info = await other.schedule('s', { every: 60_000 }, { name: 'x', opts: { priority: 'batch' } });
    expect(info.template.priority).toBe(1);
    // and a priority the queue does not have is still rejected, after nothing was written for it
    await expect(other.schedule('t', { every: 60_000 }, { name: 'x', opts: { priority: 'normal' } })).rejects.toBeInstanceOf(
      InvalidOptionsError,
    );
    expect(await other.getSchedule('t')).toBeNull();
  });
});
