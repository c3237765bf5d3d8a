/**
 * Delayed jobs (semantics 7): a delayed job is materialised into its stream by
 * the scheduler leader no earlier than it is due and promptly after; it is
 * visible as `delayed` until then; with several scheduler instances each
 * delayed job is promoted (and run) exactly once; and a deployment of workers
 * alone (each embedding a scheduler) runs delayed jobs too.
 *
 * Times: `dueAt` comes from Redis TIME, handler start times from Date.now();
 * on loopback both read the same clock.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { Scheduler } from '@streamjobs/scheduler';
import { OpenResources, connection, nodeFor, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

/** Handler start times (local clock) per job id. */
function startRecorder() {
  const starts = new Map<string, number[]>();
  const handler = async (job: { id: string }) => {
    const at = Date.now();
    const list = starts.get(job.id) ?? [];
    list.push(at);
    starts.set(job.id, list);
    return { at };
  };
  return { starts, handler };
}

/** Total entries ever added to a stream (Redis >= 7), undefined on older servers. */
async function entriesAdded(raw: Awaited<ReturnType<typeof rawClient>>, stream: string): Promise<number | undefined> {
  const reply = (await (await nodeFor(raw, stream)).sendCommand(['XINFO', 'STREAM', stream])) as unknown;
  let value: unknown;
  if (Array.isArray(reply)) value = reply[reply.findIndex((item) => String(item) === 'entries-added') + 1];
  else if (reply instanceof Map) value = reply.get('entries-added');
  else value = (reply as Record<string, unknown>)['entries-added'];
  return value === undefined ? undefined : Number(value);
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/**
 * Adds one delayed job, checks it is visibly delayed before its due time, and
 * returns it once completed together with the handler's start time.
 */
/** `runAtIn`: the job gets `runAt` that many ms after the moment it is added (set-up can take longer than that). */
async function runOneDelayedJob(delayed: { delay: number } | { runAtIn: number }) {
  const prefix = testPrefix('delayed');
  const queueName = 'one';
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  const { starts, handler } = startRecorder();
  const scheduler = open.track(new Scheduler({ connection: connection(), prefix, queues: [queueName] }));
  const worker = open.track(new Worker(queueName, handler, { connection: connection(), prefix, scheduler: false }));
  await worker.waitUntilReady();
  await waitUntil(() => scheduler.isLeader(queueName), { timeoutMs: 10_000, message: 'the scheduler to lead' });

  const opts = 'delay' in delayed ? delayed : { runAt: new Date(Date.now() + delayed.runAtIn) };
  const added = await queue.add('later', { n: 1 }, opts);
  expect(added.state).toBe('delayed');
  expect(typeof added.dueAt).toBe('number');
  const dueAt = added.dueAt!;
  if ('delay' in opts) expect(dueAt).toBe(added.createdAt + opts.delay);
  else expect(dueAt).toBe(opts.runAt.getTime());

  // Before it is due: stored as delayed, counted as delayed, not started.
  const stored = await queue.getJob(added.id);
  const counts = await queue.counts();
  const checkedAt = Date.now();
  expect(checkedAt).toBeLessThan(dueAt); // the checks above really ran before the due time
  expect(stored?.state).toBe('delayed');
  expect(stored?.dueAt).toBe(dueAt);
  expect(counts).toMatchObject({ delayed: 1, waiting: 0, active: 0, completed: 0 });
  expect(starts.has(added.id)).toBe(false);

  const done = await queue.waitFor(added.id, { timeoutMs: 15_000 });
  expect(done.state).toBe('completed');
  expect(starts.get(added.id)).toHaveLength(1);
  const startedAt = starts.get(added.id)![0]!;
  expect(await queue.counts()).toMatchObject({ delayed: 0, waiting: 0, active: 0, completed: 1 });

  await worker.close();
  await scheduler.close();
  await queue.close();
  return { dueAt, startedAt, serverStartedAt: done.startedAt!, added, opts };
}

describe('delayed jobs', () => {
  it('runs a job added with `delay` no earlier than due and within a second after', async () => {
    const { dueAt, startedAt, serverStartedAt } = await runOneDelayedJob({ delay: 1_500 });
    console.log(`delay 1500: handler started ${startedAt - dueAt} ms after due (server startedAt ${serverStartedAt - dueAt} ms)`);
    expect(startedAt).toBeGreaterThanOrEqual(dueAt);
    expect(startedAt).toBeLessThan(dueAt + 1_000);
    expect(serverStartedAt).toBeGreaterThanOrEqual(dueAt);
    expect(serverStartedAt).toBeLessThan(dueAt + 1_000);
  });

  it('runs a job added with `runAt` no earlier than that time and within a second after', async () => {
    const { dueAt, startedAt, serverStartedAt, opts } = await runOneDelayedJob({ runAtIn: 1_200 });
    const runAt = (opts as { runAt: Date }).runAt;
    console.log(`runAt: handler started ${startedAt - dueAt} ms after due (server startedAt ${serverStartedAt - dueAt} ms)`);
    expect(dueAt).toBe(runAt.getTime());
    expect(startedAt).toBeGreaterThanOrEqual(dueAt);
    expect(startedAt).toBeLessThan(dueAt + 1_000);
    expect(serverStartedAt).toBeGreaterThanOrEqual(dueAt);
    expect(serverStartedAt).toBeLessThan(dueAt + 1_000);
  });

  it('promotes and runs each of 200 delayed jobs exactly once with two schedulers running', async () => {
    const prefix = testPrefix('delayed');
    const queueName = 'many';
    const total = 200;
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    const raw = await rawClient();
    open.track({ close: () => raw.destroy() });
    const { starts, handler } = startRecorder();

    const schedulers = [0, 1].map(() =>
      open.track(new Scheduler({ connection: connection(), prefix, queues: [queueName] })),
    );
    let promoted = 0;
    const elected: string[] = [];
    const errors: Error[] = [];
    for (const scheduler of schedulers) {
      scheduler.on('jobs:promoted', ({ count }) => (promoted += count));
      scheduler.on('leader:elected', ({ term }) => elected.push(term));
      scheduler.on('error', (err) => errors.push(err));
    }
    const workers = [0, 1].map(() =>
      open.track(new Worker(queueName, handler, { connection: connection(), prefix, concurrency: 20, scheduler: false })),
    );
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    await waitUntil(() => schedulers.some((s) => s.isLeader(queueName)), { timeoutMs: 10_000, message: 'a leader' });

    const jobs: Job[] = await queue.addBulk(
      Array.from({ length: total }, (_, i) => ({ name: 'many', data: { i }, opts: { delay: randomInt(0, 2_000) } })),
    );
    const delayedJobs = jobs.filter((job) => job.state === 'delayed');
    expect(delayedJobs.length).toBeGreaterThan(total * 0.9); // delay 0 (or due at once) goes straight to waiting

    // Midway, make the two instances contend: the lock vanishes as if its
    // term had expired while the leader was slow, so a new term starts (in
    // either instance) while the old leader still believes it leads.
    await waitUntil(async () => (await queue.counts()).completed >= total / 4, {
      timeoutMs: 30_000,
      message: 'a quarter of the jobs completed',
    });
    expect((await queue.counts()).delayed).toBeGreaterThan(0);
    expect(await raw.del(queue.keys.leader)).toBe(1);
    await waitUntil(() => elected.length >= 2, { timeoutMs: 10_000, message: 'a second term' });

    await waitUntil(async () => (await queue.counts()).completed === total, {
      timeoutMs: 30_000,
      message: `${total} completed jobs`,
    });

    // Every job ran exactly once, none before it was due.
    expect(starts.size).toBe(total);
    const runsPerJob = jobs.map((job) => starts.get(job.id)?.length ?? 0);
    expect(runsPerJob.filter((runs) => runs !== 1)).toEqual([]);
    const lateness = delayedJobs.map((job) => starts.get(job.id)![0]! - job.dueAt!);
    const early = delayedJobs.filter((job) => starts.get(job.id)![0]! < job.dueAt!).map((job) => job.id);
    expect(early).toEqual([]);
    console.log(
      `200 delayed jobs, 2 schedulers: ${delayedJobs.length} delayed, lateness max ${Math.max(...lateness)} ms, ` +
        `median ${lateness.sort((a, b) => a - b)[Math.floor(lateness.length / 2)]} ms; terms ${elected.join(', ')}`,
    );
    expect(Math.max(...lateness)).toBeLessThan(2_000); // generous: the handover above may cost a poll round or two

    // Nothing was promoted twice: promotions reported == delayed jobs, and
    // the lane got exactly one entry per job (a second promotion would add a
    // second entry, which the fetch script would then silently drop as stale).
    expect(errors).toEqual([]);
    // a round reports its promotions when it ends, which may be after the
    // promoted jobs completed: wait for the report, then compare
    await waitUntil(() => promoted >= delayedJobs.length, { timeoutMs: 10_000, message: 'every promotion reported' });
    expect(promoted).toBe(delayedJobs.length);
    const added = await entriesAdded(raw, queue.keys.lane(jobs[0]!.tier));
    if (added !== undefined) expect(added).toBe(total);
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: total, failed: 0 });
    expect(schedulers.filter((s) => s.isLeader(queueName)).map((s) => s.instanceId)).toHaveLength(1);
    expect(errors).toEqual([]);
    expect(elected).toHaveLength(2);
    const tokens = elected.map((term) => Number(term.slice(term.lastIndexOf(':') + 1)));
    expect(tokens[1]).toBeGreaterThan(tokens[0]!);

    for (const worker of workers) await worker.close();
    for (const scheduler of schedulers) await scheduler.close();
    expect(await raw.get(queue.keys.leader)).toBeNull(); // the leader resigned on close
  });

  it('runs delayed jobs in a worker-only deployment (the workers’ embedded schedulers)', async () => {
    const prefix = testPrefix('delayed');
    const queueName = 'workers-only';
    const total = 30;
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    const raw = await rawClient();
    open.track({ close: () => raw.destroy() });
    const { starts, handler } = startRecorder();
    // Default options: each worker runs its own scheduler participant.
    const workers = [0, 1].map(() => open.track(new Worker(queueName, handler, { connection: connection(), prefix, concurrency: 5 })));
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));

    const jobs = await queue.addBulk(
      Array.from({ length: total }, (_, i) => ({ name: 'w', data: { i }, opts: { delay: randomInt(200, 1_500) } })),
    );
    expect(jobs.every((job) => job.state === 'delayed')).toBe(true);
    expect((await queue.counts()).delayed).toBeGreaterThan(0);

    await waitUntil(async () => (await queue.counts()).completed === total, {
      timeoutMs: 30_000,
      message: `${total} completed jobs`,
    });
    expect(jobs.map((job) => starts.get(job.id)?.length ?? 0).filter((runs) => runs !== 1)).toEqual([]);
    expect(jobs.filter((job) => starts.get(job.id)![0]! < job.dueAt!).map((job) => job.id)).toEqual([]);
    const lateness = jobs.map((job) => starts.get(job.id)![0]! - job.dueAt!);
    console.log(`worker-only: lateness max ${Math.max(...lateness)} ms`);
    expect(Math.max(...lateness)).toBeLessThan(2_000);
    const added = await entriesAdded(raw, queue.keys.lane(jobs[0]!.tier));
    if (added !== undefined) expect(added).toBe(total);

    // One of the embedded schedulers held the lock; closing the workers releases it.
    expect(await raw.get(queue.keys.leader)).toEqual(expect.stringMatching(/^[\w-]+:\d+$/));
    for (const worker of workers) await worker.close();
    expect(await raw.get(queue.keys.leader)).toBeNull();
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: total });
  });
});
