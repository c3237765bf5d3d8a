// The commands that act on jobs (cancel, retry) and the schedules listing,
// run as the real bin against jobs made by real Workers and a real Scheduler.
import { afterAll, describe, expect, it } from '@jest/globals';
import { JobCanceledError, Queue, RedisConnection, serverTime, type Job } from '@streamjobs/core';
import { Scheduler } from '@streamjobs/scheduler';
import { Worker, type Handler } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, redisUrl, testPrefix, waitUntil } from '@streamjobs/testing';
import { cliFor, tableRows } from './support/cli.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

function setUp(name: string, handler?: Handler) {
  const prefix = testPrefix('cli');
  const queue = open.track(new Queue(name, { connection: connection(), prefix }));
  const worker = handler && open.track(new Worker(name, handler, { connection: connection(), prefix, concurrency: 1, scheduler: false }));
  return { queue, worker, cli: cliFor(redisUrl(), prefix) };
}

async function stateOf(queue: Queue, id: string) {
  return (await queue.getJob(id))?.state;
}

describe('streamjobs cancel', () => {
  it('cancels waiting and running jobs, leaves final ones, and names the ids it did not find', async () => {
    const { queue, worker, cli } = setUp('cancel', (job, { signal }) =>
      job.name === 'quick' ? 'done' : new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    await queue.add('quick', {}, { jobId: 'quick' });
    await queue.waitFor('quick');
    const running = nextEvent<[Job]>(worker!, 'active', { filter: (job) => job.id === 'run' });
    await queue.add('run', {}, { jobId: 'run' });
    await running;
    await queue.addBulk(['wait-1', 'wait-2'].map((jobId) => ({ name: 'wait', data: {}, opts: { jobId } })));
    const aborted = nextEvent<[Job, JobCanceledError]>(worker!, 'canceled');

    const result = await cli.run('cancel', 'cancel', 'wait-1', 'run', 'quick', 'nope', '--reason', 'operator says', '--json');
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('streamjobs cancel: not found in queue "cancel": nope');
    expect(JSON.parse(result.stdout)).toEqual([
      { id: 'wait-1', result: 'canceled', state: 'canceled' },
      { id: 'run', result: 'canceled', state: 'canceled' },
      { id: 'quick', result: 'already final', state: 'completed' },
      { id: 'nope', result: 'not found', state: null },
    ]);
    const [job, reason] = await aborted;
    expect(job.id).toBe('run');
    expect(reason).toMatchObject({ reason: 'operator says', by: 'cli' });
    expect(await queue.getJob('wait-1')).toMatchObject({ state: 'canceled', cancelReason: 'operator says', canceledBy: 'cli' });

    expect(tableRows(await cli.text('cancel', 'cancel', 'wait-2'))).toEqual([
      ['ID', 'RESULT', 'STATE'],
      ['wait-2', 'canceled', 'canceled'],
    ]);
    expect(await stateOf(queue, 'wait-2')).toBe('canceled');
  });
});

describe('streamjobs retry', () => {
  it('runs dead-lettered jobs again, by id or all of them', async () => {
    let failing = true;
    const { queue, cli } = setUp('retry', () => {
      if (failing) throw new Error('down');
      return 'ok';
    });
    await queue.addBulk(['f-1', 'f-2', 'f-3'].map((jobId) => ({ name: 'flaky', data: {}, opts: { jobId } })));
    await Promise.all(['f-1', 'f-2', 'f-3'].map((id) => queue.waitFor(id)));
    expect((await queue.deadLetters()).map((job) => job.id)).toEqual(['f-1', 'f-2', 'f-3']);
    failing = false;

    expect(await cli.json('retry', 'retry', 'f-2')).toEqual([{ id: 'f-2', result: 'requeued' }]);
    await waitUntil(async () => (await stateOf(queue, 'f-2')) === 'completed', { message: 'f-2 to complete' });

    expect(tableRows(await cli.text('retry', 'retry', '--all'))).toEqual([
      ['ID', 'RESULT'],
      ['f-1', 'requeued'],
      ['f-3', 'requeued'],
    ]);
    await waitUntil(async () => (await stateOf(queue, 'f-1')) === 'completed' && (await stateOf(queue, 'f-3')) === 'completed', {
      message: 'f-1 and f-3 to complete',
    });
    expect((await cli.text('retry', 'retry', '--all')).trim()).toBe('no dead-lettered jobs in queue "retry"');

    const refused = await cli.run('retry', 'retry', 'f-1', 'nope', '--json');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual([
      { id: 'f-1', result: 'not dead-lettered' },
      { id: 'nope', result: 'not found' },
    ]);
    expect(refused.stderr.trim()).toBe('streamjobs retry: not requeued: f-1 (not dead-lettered), nope (not found)');
  });
});

describe('streamjobs schedules', () => {
  it('lists schedules with their next and last runs, missed and skipped occurrences', async () => {
    const { queue, cli } = setUp('schedules');
    await queue.getTiers(); // first use: the queue exists
    expect((await cli.text('schedules', 'schedules')).trim()).toBe('no schedules in queue "schedules"');
    await queue.schedule('digest', { cron: '0 */5 * * * *', tz: 'Europe/Berlin', overlap: 'buffer' }, { name: 'digest' });
    const { anchor } = await queue.schedule('tick', { every: 200, catchUp: 'none' }, { name: 'tick' });
    // occurrences pass with no scheduler leader: its first round counts them as missed
    const redis = open.track(RedisConnection.create(connection()));
    await waitUntil(async () => (await serverTime(redis)) >= anchor + 1_000, { message: 'occurrences to pass' });
    const scheduler = open.track(new Scheduler({ connection: connection(), prefix: queue.keys.prefix, queues: ['schedules'] }));
    await waitUntil(
      async () => {
        const info = await queue.getSchedule('tick');
        return info && info.missed > 0 && info.runs > 0;
      },
      { message: 'missed occurrences, then a run' },
    );
    await scheduler.close();

    const [json, text] = await Promise.all([cli.json('schedules', 'schedules'), cli.text('schedules', 'schedules')]);
    expect(json).toEqual(JSON.parse(JSON.stringify(await queue.schedules())));
    const tick = json.find((info: { id: string }) => info.id === 'tick');
    expect(tick.missed).toBeGreaterThan(0);
    expect(tick.nextRunAt).toBeGreaterThan(tick.lastRunAt);
    const rows = tableRows(text);
    expect(rows[0]).toEqual(['ID', 'SPEC', 'CATCH-UP', 'OVERLAP', 'NEXT RUN', 'LAST RUN', 'RUNS', 'MISSED', 'SKIPPED', 'STATUS']);
    expect(rows[1]).toEqual([
      'digest',
      'cron 0 */5 * * * * Europe/Berlin',
      'all',
      'buffer',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d[05]:00Z \(/),
      '-',
      '0',
      '0',
      '0',
      'active',
    ]);
    expect(rows[2]).toEqual([
      'tick',
      'every 200ms',
      'none',
      'allow',
      expect.stringMatching(/Z \(/),
      expect.stringMatching(/Z \(/),
      String(tick.runs),
      String(tick.missed),
      '0',
      'active',
    ]);
  });
});
