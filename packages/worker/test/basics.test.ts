import { afterAll, describe, expect, it } from '@jest/globals';
import { type ActiveJob, Queue } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, rawClient, testPrefix } from '@streamjobs/testing';

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
});
