import { afterAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { InvalidOptionsError, Queue, RedisConnection, fetchJobs } from '@streamjobs/core';
import { collectMetrics } from '../src/index.js';
import { Worker, type Handler } from '@streamjobs/worker';
import { OpenResources, connection, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a scrape in the Prometheus text format. */
function parse(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { name: match[1]!, labels, value: Number(match[3]) };
    });
}

/** One scrape, and the value of the one sample of `name` with (at least) `labels`; undefined when absent. */
async function scrape(registry: Registry) {
  const samples = parse(await registry.metrics());
  return (name: string, labels: Record<string, string> = {}): number | undefined => {
    const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
    return found[0]?.value;
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Settles (rejecting with its reason) when the signal aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
}

describe('Prometheus metrics', () => {
  it('count jobs per state and tier, time waits and runs, and count retries, cancels, reclaims and leader changes', async () => {
    const registry = new Registry();
    const prefix = testPrefix();
    const queue = open.track(new Queue('metered', { connection: connection(), prefix }));

    // A consumer that claims a job and dies: its entry goes idle and the worker reclaims it.
    const ghosted = await queue.add('ghosted', {}, { priority: 'critical' });
    const ghost = open.track(RedisConnection.create(connection()));
    const ghostCtx = { connection: ghost, keys: queue.keys, tiers: await queue.getTiers(), maxEvents: 1_000 };
    expect((await fetchJobs(ghostCtx, 'dead-consumer', 1)).jobs.map((job) => job.id)).toEqual([ghosted.id]);

    await queue.pause(); // jobs wait until the first scrape has seen them
    const cancelMeStarted = deferred();
    const handler: Handler = async (job, ctx) => {
      if (job.name === 'flaky' && job.attempt === 1) throw new Error('first attempt fails');
      if (job.name === 'cancel-me') {
        cancelMeStarted.resolve();
        await aborted(ctx.signal);
      }
      return 'done';
    };
    const worker = open.track(
      new Worker('metered', handler, { connection: connection(), prefix, concurrency: 4, stallTimeout: 3_000 }),
    );
    const metrics = collectMetrics({ registry, queues: [queue], workers: [worker] });
    open.track(metrics);
    await worker.waitUntilReady();

    await queue.addBulk([
      { name: 'plain', data: {}, opts: { priority: 'critical' } },
      { name: 'plain', data: {}, opts: { priority: 'critical' } },
      { name: 'plain', data: {}, opts: { priority: 'high' } },
      { name: 'plain', data: {}, opts: { priority: 'high' } },
      { name: 'plain', data: {}, opts: { priority: 'low' } },
      { name: 'flaky', data: {}, opts: { attempts: 2 } },
    ]);
    const cancelMe = await queue.add('cancel-me', {});

    const before = await scrape(registry);
    const q = { queue: 'metered' };
    expect(before('streamjobs_jobs', { ...q, state: 'waiting' })).toBe(7);
    expect(before('streamjobs_jobs', { ...q, state: 'active' })).toBe(1); // the ghost's
    expect(before('streamjobs_jobs', { ...q, state: 'completed' })).toBe(0);
    for (const [tier, waiting] of [['critical', 2], ['high', 2], ['normal', 2], ['low', 1]] as const) {
      expect(before('streamjobs_waiting_jobs', { ...q, tier })).toBe(waiting);
    }
    expect(before('streamjobs_attempts_total', { ...q, outcome: 'completed' })).toBeUndefined();
    expect(before('streamjobs_worker_running_jobs', q)).toBe(0);

    await queue.resume();
    await cancelMeStarted.promise;
    const whileRunning = await scrape(registry);
    expect(whileRunning('streamjobs_worker_running_jobs', q)).toBeGreaterThanOrEqual(1);
    expect(await queue.cancel(cancelMe.id)).toBe(true);

    // the ghost's job is reclaimed after stallTimeout, then runs; the embedded scheduler leads
    const after = await waitUntil(
      async () => {
        const sample = await scrape(registry);
        const done = sample('streamjobs_jobs', { ...q, state: 'completed' }) === 7 && sample('streamjobs_scheduler_leader', q) === 1;
        return done && sample('streamjobs_worker_running_jobs', q) === 0 ? sample : undefined;
      },
      { message: '7 completed jobs, the leader elected and nothing running', timeoutMs: 40_000 },
    );
    expect(after('streamjobs_jobs', { ...q, state: 'canceled' })).toBe(1);
    expect(after('streamjobs_jobs', { ...q, state: 'waiting' })).toBe(0);
    expect(after('streamjobs_jobs', { ...q, state: 'active' })).toBe(0);
    for (const tier of ['critical', 'high', 'normal', 'low']) expect(after('streamjobs_waiting_jobs', { ...q, tier })).toBe(0);

    // attempts by tier and outcome: the ghosted job completed on a critical slot too
    const attempts = (tier: string, outcome: string) => after('streamjobs_attempts_total', { ...q, tier, outcome });
    expect([attempts('critical', 'completed'), attempts('high', 'completed'), attempts('low', 'completed')]).toEqual([3, 2, 1]);
    expect([attempts('normal', 'completed'), attempts('normal', 'retrying'), attempts('normal', 'canceled')]).toEqual([1, 1, 1]);
    expect(after('streamjobs_job_run_seconds_count', { ...q, tier: 'critical', outcome: 'completed' })).toBe(3);
    expect(after('streamjobs_job_run_seconds_count', { ...q, tier: 'normal', outcome: 'retrying' })).toBe(1);
    expect(after('streamjobs_job_run_seconds_count', { ...q, tier: 'normal', outcome: 'canceled' })).toBe(1);

    // wait times of first attempts only: the reclaimed job and the retry are not counted
    const waits = (tier: string) => after('streamjobs_job_wait_seconds_count', { ...q, tier });
    expect([waits('critical'), waits('high'), waits('normal'), waits('low')]).toEqual([2, 2, 2, 1]);
    // they waited at least through the paused scrape
    expect(after('streamjobs_job_wait_seconds_sum', { ...q, tier: 'critical' })).toBeGreaterThan(0);
    expect(after('streamjobs_job_wait_seconds_bucket', { ...q, tier: 'critical', le: '+Inf' })).toBe(2);

    expect(after('streamjobs_reclaimed_jobs_total', { ...q, result: 'requeued' })).toBe(1);
    expect(after('streamjobs_leader_changes_total', { ...q, change: 'elected' })).toBeGreaterThanOrEqual(1);

    await worker.close(); // resigns its scheduler's leadership
    const closed = await scrape(registry);
    expect(closed('streamjobs_scheduler_leader', q)).toBe(0);
    expect(closed('streamjobs_attempts_total', { ...q, tier: 'critical', outcome: 'completed' })).toBe(3);
  });

  it('leaves out a queue that cannot be counted, and removes everything on close', async () => {
    const registry = new Registry();
    const prefix = testPrefix();
    const counted = open.track(new Queue('counted', { connection: connection(), prefix }));
    const gone = new Queue('gone', { connection: connection(), prefix });
    await Promise.all([counted.add('a', {}), gone.add('b', {})]);
    const metrics = collectMetrics({ registry, queues: [counted, gone], prefix: 'jobs_' });
    expect((await scrape(registry))('jobs_jobs', { queue: 'gone', state: 'waiting' })).toBe(1);

    await gone.close();
    const sample = await scrape(registry);
    expect(sample('jobs_jobs', { queue: 'counted', state: 'waiting' })).toBe(1);
    expect(sample('jobs_jobs', { queue: 'gone', state: 'waiting' })).toBeUndefined();

    expect(() => collectMetrics({ registry, prefix: 'jobs_' })).toThrow(InvalidOptionsError); // names taken
    metrics.close();
    metrics.close();
    expect(await registry.metrics()).not.toContain('jobs_');
    open.track(collectMetrics({ registry, prefix: 'jobs_' })).close(); // the names are free again
  });

  it('rejects bad options before registering anything', () => {
    const registry = new Registry();
    expect(() => collectMetrics({ registry, buckets: [1, 0.5] })).toThrow(InvalidOptionsError);
    expect(() => collectMetrics({ registry, prefix: 'no spaces' })).toThrow(InvalidOptionsError);
    expect(() => collectMetrics({ registry, queues: 'emails' as never })).toThrow(InvalidOptionsError);
    expect(() => collectMetrics({ registry, interval: 5 } as never)).toThrow(InvalidOptionsError);
    expect(registry.getMetricsAsArray()).toEqual([]);
  });
});

