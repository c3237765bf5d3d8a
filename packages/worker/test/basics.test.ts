import { afterAll, describe, expect, it } from '@jest/globals';
import { type ActiveJob, type Job, Queue } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

describe('a queue and a worker', () => {
  it('runs an added job and stores its result', async () => {
    const prefix = testPrefix();
    const queue = open.track(new Queue('basics', { connection: connection(), prefix }));
    const worker = open.track(
      new Worker('basics', async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection: connection(), prefix }),
    );
    const added = await queue.add('double', { n: 21 });
    expect(added.state).toBe('waiting');
    const done = await queue.waitFor(added.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ doubled: 42 });
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1 });
    await worker.close();
  });

  it('gives back a name, data and options as added, through the store and to the handler', async () => {
    const prefix = testPrefix();
    const queue = open.track(new Queue('spec', { connection: connection(), prefix }));
    const seen: ActiveJob[] = [];
    open.track(new Worker('spec', async (job) => void seen.push(job), { connection: connection(), prefix }));
    // JSON's awkward characters: quotes, backslashes, a slash, a line break, non-ASCII and an emoji
    const name = 'say "hi" \\ to a/b\nand ü 🎉';
    const data = { text: '{"not":"parsed"}', list: [1, 'two', null, { deep: 'é' }], empty: '' };
    const added = await queue.add(name, data, { attempts: 3, timeout: 5_000 });
    const done = await queue.waitFor(added.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', name, data, opts: { attempts: 3, timeout: 5_000 } });
    expect(done.createdAt).toBe(added.createdAt);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ name, data, opts: { attempts: 3, timeout: 5_000 }, createdAt: added.createdAt });
  });

  it('reads and runs a job stored with name, data, opts and createdAt as fields of their own (the layout before `spec`)', async () => {
    const prefix = testPrefix();
    const queue = open.track(new Queue('legacy', { connection: connection(), prefix }));
    await queue.counts(); // creates the lanes and their consumer group
    const redis = await rawClient();
    try {
      const normal = 2; // the default tiers are critical, high, normal, low
      const entry = await redis.xAdd(queue.keys.lane(normal), '*', { j: 'legacy-1' });
      await redis.hSet(queue.keys.job('legacy-1'), {
        name: 'old',
        data: '{"n":20}',
        opts: '{"attempts":2}',
        tier: String(normal),
        createdAt: '1700000000000',
        state: 'waiting',
        entry,
      });
    } finally {
      redis.destroy();
    }
    expect(await queue.getJob('legacy-1')).toMatchObject({ name: 'old', data: { n: 20 }, opts: { attempts: 2 }, createdAt: 1_700_000_000_000 });
    open.track(
      new Worker('legacy', async (job) => ({ name: job.name, n: (job.data as { n: number }).n + 1, attempts: job.opts.attempts }), {
        connection: connection(),
        prefix,
      }),
    );
    const done = await queue.waitFor('legacy-1', { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'completed', result: { name: 'old', n: 21, attempts: 2 }, createdAt: 1_700_000_000_000 });
  });

  it("shows the completed job in the `completed` event: its result when there is one, no result key when there is none", async () => {
    const prefix = testPrefix();
    const queue = open.track(new Queue('completed-event', { connection: connection(), prefix }));
    const worker = open.track(
      new Worker('completed-event', async (job) => ((job.data as { answer?: number }).answer === undefined ? undefined : job.data), {
        connection: connection(),
        prefix,
      }),
    );
    const active = new Map<string, Job>();
    const completed = new Map<string, { job: Job; result: unknown }>();
    worker.on('active', (job: Job) => active.set(job.id, job));
    worker.on('completed', (job: Job, result: unknown) => completed.set(job.id, { job, result }));
    const withResult = await queue.add('answer', { answer: 42 });
    const without = await queue.add('quiet', {});
    await queue.waitFor(withResult.id, { timeoutMs: 10_000 });
    await queue.waitFor(without.id, { timeoutMs: 10_000 });
    await waitUntil(() => completed.size === 2, { message: 'two completed events' });
    expect(completed.get(withResult.id)).toEqual({ job: expect.objectContaining({ state: 'completed', result: { answer: 42 } }), result: { answer: 42 } });
    const quiet = completed.get(without.id)!;
    expect(quiet.job.state).toBe('completed');
    expect(quiet.result).toBeUndefined();
    expect(Object.keys(quiet.job)).not.toContain('result');
    // the event's job is a copy: the one the `active` event showed still says active
    expect(active.get(without.id)?.state).toBe('active');
  });
});
