// `streamjobs pause` and `resume` against a running worker, on a Redis of
// this test's own (its command counters measure the worker): while paused the
// worker starts nothing, finishes what it runs, does not spin on the waiting
// jobs, and delayed jobs still become due; after resume it runs them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, RedisConnection, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, nextEvent, startRedisServer, testPrefix, waitUntil, type RedisServerProcess } from '@streamjobs/testing';
import { cliFor } from './support/cli.js';

const open = new OpenResources();
let server: RedisServerProcess;
beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await open.closeAll();
  await server.stop();
});

/** EVALSHA calls the server has run: every settle round, promotion and leader renewal is one. */
async function scriptCalls(): Promise<number> {
  const redis = RedisConnection.create({ url: server.url });
  try {
    const info = await redis.call<string>(['INFO', 'commandstats']);
    return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    redis.close();
  }
}

describe('streamjobs pause / resume', () => {
  it('stops a worker from starting jobs until resumed, without spinning', async () => {
    const prefix = testPrefix('cli');
    const cli = cliFor(server.url, prefix);
    const connection = { url: server.url };
    const queue = open.track(new Queue('work', { connection, prefix }));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const started: string[] = [];
    const worker = open.track(
      new Worker('work', async (job) => (job.name === 'hold' ? held : 'done'), {
        connection,
        prefix,
        concurrency: 4,
      }),
    );
    worker.on('active', (job) => started.push(job.id));
    const holding = nextEvent<[Job]>(worker, 'active', { filter: (job) => job.id === 'hold' });
    await queue.add('hold', {}, { jobId: 'hold' });
    await holding;

    expect(await cli.json('pause', 'work')).toEqual({ queue: 'work', paused: true, changed: true });
    expect(await queue.isPaused()).toBe(true);
    expect((await cli.text('pause', 'work')).trim()).toBe('queue "work" was already paused');

    const before = { calls: await scriptCalls(), at: Date.now() };
    await queue.add('now', {}, { jobId: 'now' });
    await queue.add('later', {}, { jobId: 'later', delay: 1_500 });
    release();
    expect((await queue.waitFor('hold')).state).toBe('completed'); // a running job finishes while paused
    // a delayed job still becomes due (and waits)
    await waitUntil(async () => (await queue.getJob('later'))?.state === 'waiting', { message: 'the delayed job to be promoted' });
    const calls = (await scriptCalls()) - before.calls;
    const seconds = (Date.now() - before.at) / 1000;
    // a worker that re-read the waiting entries in a loop would make thousands of calls a second
    expect(calls / seconds).toBeLessThan(100);
    expect(started).toEqual(['hold']);
    expect(await queue.getJob('now')).toMatchObject({ state: 'waiting' });

    const [stats, queues] = await Promise.all([cli.json('stats', 'work'), cli.json('queues')]);
    expect(stats).toMatchObject({ paused: true, counts: { waiting: 2, active: 0, completed: 1 } });
    expect(queues).toEqual([expect.objectContaining({ name: 'work', paused: true, waiting: 2 })]);
    expect(await cli.text('stats', 'work')).toMatch(/^status: +paused: workers start no new job$/m);

    expect((await cli.text('resume', 'work')).trim()).toBe('queue "work" resumed');
    expect(await queue.isPaused()).toBe(false);
    for (const id of ['now', 'later']) expect((await queue.waitFor(id)).state).toBe('completed');
    expect(await cli.json('resume', 'work')).toEqual({ queue: 'work', paused: false, changed: false });
  });
});
