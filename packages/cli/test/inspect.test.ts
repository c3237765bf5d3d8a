// The read-only commands (queues, stats, jobs, job) run as the real bin
// against a queue holding jobs in every state, all made by a real Worker or
// the Queue API: each command's --json output is parsed and checked against
// that state, and its table form shows the same.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, RedisConnection, serverTime, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, redisUrl, testPrefix, waitUntil } from '@streamjobs/testing';
import { cliFor, tableRows } from './support/cli.js';

const open = new OpenResources();
const prefix = testPrefix('cli');
const cli = cliFor(redisUrl(), prefix);
let queue: Queue;
let release: () => void;

/** Waiting jobs, in the order they were added (low first, so the oldest is not the first to run). */
const WAITING = [
  { id: 'w-low', priority: 'low' },
  { id: 'w-high', priority: 'high' },
  { id: 'w-normal-1', priority: 'normal' },
  { id: 'w-normal-2', priority: 'normal' },
];

beforeAll(async () => {
  queue = open.track(new Queue('mail', { connection: connection(), prefix }));
  const held = new Promise<void>((resolve) => (release = resolve));
  const worker = open.track(
    new Worker(
      'mail',
      async (job, ctx) => {
        if (job.name === 'hold') return held;
        if (job.name === 'bad') {
          await ctx.checkpoint({ step: 2 });
          throw new Error('boom');
        }
        return { n: (job.data as { n: number }).n };
      },
      { connection: connection(), prefix, concurrency: 1, scheduler: false },
    ),
  );
  // ids sort in finish order, so "newest first" is the same on any layout of the completed set
  await queue.addBulk([1, 2, 3].map((n) => ({ name: 'ok', data: { n }, opts: { jobId: `ok-${n}` } })));
  await queue.add('bad', {}, { jobId: 'bad' });
  await Promise.all(['ok-1', 'ok-2', 'ok-3', 'bad'].map((id) => queue.waitFor(id)));
  const active = nextEvent<[Job]>(worker, 'active', { filter: (job) => job.id === 'hold' });
  await queue.add('hold', {}, { jobId: 'hold' });
  await active; // the worker's one slot is taken: what is added next waits
  const [first, ...rest] = WAITING;
  const oldest = await queue.add('send', {}, { jobId: first!.id, priority: first!.priority });
  // the oldest waiting job is told by the millisecond its entry was added
  const redis = open.track(RedisConnection.create(connection()));
  await waitUntil(async () => (await serverTime(redis)) > oldest.createdAt, { message: 'the next millisecond' });
  for (const { id, priority } of rest) await queue.add('send', {}, { jobId: id, priority });
  await queue.add('later', {}, { jobId: 'later', delay: 600_000 });
  await queue.add('drop', {}, { jobId: 'drop' });
  await queue.cancel('drop', { reason: 'not needed' });
  await open.track(new Queue('other', { connection: connection(), prefix })).add('x', {});
});

afterAll(async () => {
  release();
  await open.closeAll();
});

describe('streamjobs queues', () => {
  it('lists the queues under the prefix with their counts', async () => {
    const [json, text] = await Promise.all([cli.json('queues'), cli.text('queues')]);
    expect(json).toEqual([
      { name: 'mail', paused: false, waiting: 4, active: 1, delayed: 1, completed: 3, failed: 1, canceled: 1 },
      { name: 'other', paused: false, waiting: 1, active: 0, delayed: 0, completed: 0, failed: 0, canceled: 0 },
    ]);
    expect(tableRows(text)).toEqual([
      ['QUEUE', 'PAUSED', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED', 'CANCELED'],
      ['mail', 'no', '4', '1', '1', '3', '1', '1'],
      ['other', 'no', '1', '0', '0', '0', '0', '0'],
    ]);
  });
});

describe('streamjobs stats', () => {
  it('shows counts per state and tier, throughput and the oldest waiting job', async () => {
    const [stats, text] = await Promise.all([cli.json('stats', 'mail'), cli.text('stats', 'mail')]);
    const { waitingByTier: _, ...counts } = await queue.counts();
    expect(stats).toMatchObject({ queue: 'mail', prefix, paused: false, counts });
    expect(stats.tiers).toEqual([
      { tier: 'critical', waiting: 0, active: 0 },
      { tier: 'high', waiting: 1, active: 0 },
      { tier: 'normal', waiting: 2, active: 1 },
      { tier: 'low', waiting: 1, active: 0 },
    ]);
    // the three completed jobs finished moments ago
    expect(stats.throughput.completed).toBe(3);
    expect(stats.throughput.perSecond).toBeGreaterThan(0);
    // the oldest waiting job is the first added, though a higher tier runs first
    const added = (await queue.getJob('w-low'))!.createdAt;
    expect(stats.oldestWaiting.jobId).toBe('w-low');
    expect(Math.abs(stats.oldestWaiting.since - added)).toBeLessThan(1_000);
    expect(stats.oldestWaiting.ageMs).toBe(stats.now - stats.oldestWaiting.since);
    expect(text).toMatch(/^status: +running$/m);
    expect(text).toMatch(/^throughput: +[\d.]+ jobs\/s \(3 completed in the last 1m\)$/m);
    expect(text).toMatch(/^oldest waiting: +\S+.* \(job w-low\)$/m);
    expect(text).toMatch(/^normal +2 +1$/m);
  });
});

describe('streamjobs jobs', () => {
  const ids = (jobs: Job[]) => jobs.map((job) => job.id);

  it('lists each state in its order', async () => {
    const listed = await Promise.all(
      (['waiting', 'active', 'delayed', 'completed', 'failed', 'canceled'] as const).map(
        async (state) => [state, ids(await cli.json('jobs', 'mail', '--state', state))] as const,
      ),
    );
    expect(Object.fromEntries(listed)).toEqual({
      waiting: ['w-high', 'w-normal-1', 'w-normal-2', 'w-low'], // by tier, then in the order added
      active: ['hold'],
      delayed: ['later'],
      completed: ['ok-3', 'ok-2', 'ok-1'], // newest first
      failed: ['bad'],
      canceled: ['drop'],
    });
  });

  it('pages with --offset and --count, waiting by default', async () => {
    expect(ids(await cli.json('jobs', 'mail', '--offset', '1', '--count', '2'))).toEqual(['w-normal-1', 'w-normal-2']);
  });

  it('gives whole jobs in JSON and a table on a terminal', async () => {
    const [[failed], text, empty] = await Promise.all([
      cli.json<Job[]>('jobs', 'mail', '--state', 'failed'),
      cli.text('jobs', 'mail', '--state', 'completed', '--count', '1'),
      cli.text('jobs', 'other', '--state', 'failed'),
    ]);
    expect(failed).toEqual(JSON.parse(JSON.stringify(await queue.getJob('bad'))));
    const [header, row] = tableRows(text);
    expect(header).toEqual(['ID', 'NAME', 'STATE', 'PRIORITY', 'ATTEMPT', 'FINISHED', 'DETAIL']);
    expect(row).toEqual(['ok-3', 'ok', 'completed', 'normal', '1/1', expect.stringMatching(/ago$/), '{"n":3}']);
    expect(empty.trim()).toBe('no failed jobs in queue "other"');
  });
});

describe('streamjobs job', () => {
  it('shows one job with its checkpoint, error and stack', async () => {
    const [json, text] = await Promise.all([cli.json('job', 'mail', 'bad'), cli.text('job', 'mail', 'bad')]);
    expect(json).toMatchObject({ id: 'bad', state: 'failed', checkpoint: { step: 2 }, error: 'boom' });
    expect(json.stack).toMatch(/^Error: boom\n/);
    expect(text).toMatch(/^state: +failed$/m);
    expect(text).toMatch(/^checkpoint: +\{\n +"step": 2\n +\}$/m);
    expect(text).toMatch(/^error: +boom$/m);
    expect(text).toMatch(/^stack: +Error: boom\n +at /m);
  });

  it('shows a completed job with its result', async () => {
    const json = await cli.json('job', 'mail', 'ok-2');
    expect(json).toMatchObject({ id: 'ok-2', state: 'completed', result: { n: 2 }, checkpoint: null });
  });
});
