// Cancellation with in-process workers against a real Redis (semantics 4,
// issue 3): waiting, delayed and retry-waiting jobs never start; a running
// job's signal aborts with who and why; a handler that ignores its signal
// cannot complete, fail or retry its canceled job, nor hold its slot; a
// handler can cancel its own job; final jobs are left alone; and cancel racing
// completion ends each job in exactly one final state that cancel() reports.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CONSUMER_GROUP,
  JobCanceledError,
  Queue,
  RedisConnection,
  toRecord,
  type Job,
  type QueueEvent,
} from '@streamjobs/core';
import { Worker, type Handler, type WorkerOptions } from '@streamjobs/worker';
import { OpenResources, connection, liveStreamEntries, nextEvent, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
let redis: RedisConnection;
beforeAll(() => {
  redis = RedisConnection.create(connection());
});
afterAll(async () => {
  await open.closeAll();
  redis.close();
});

const QUEUE = 'cancel';
const NORMAL = 2;
const MAX_EVENTS = 100_000;

function newQueue(prefix: string): Queue {
  return open.track(new Queue(QUEUE, { connection: connection(), prefix, maxEvents: MAX_EVENTS }));
}

interface Watched {
  worker: Worker;
  errors: Error[];
  completed: string[];
  canceled: [Job, JobCanceledError][];
  retrying: string[];
  failed: string[];
  lost: string[];
}

function newWorker(prefix: string, handler: Handler, options: Partial<WorkerOptions> = {}): Watched {
  const worker = open.track(
    new Worker(QUEUE, handler, { connection: connection(), prefix, concurrency: 1, maxEvents: MAX_EVENTS, ...options }),
  );
  const watched: Watched = { worker, errors: [], completed: [], canceled: [], retrying: [], failed: [], lost: [] };
  worker.on('error', (err) => watched.errors.push(err));
  worker.on('completed', (job) => watched.completed.push(job.id));
  worker.on('canceled', (job, err) => watched.canceled.push([job, err]));
  worker.on('retrying', (job) => watched.retrying.push(job.id));
  worker.on('failed', (job) => watched.failed.push(job.id));
  worker.on('lost', (job) => watched.lost.push(job.id));
  return watched;
}

/** Every event in the queue's events stream, oldest first. */
async function allEvents(queue: Queue): Promise<QueueEvent[]> {
  const events: QueueEvent[] = [];
  for (let after = '0-0'; ; ) {
    const page = await queue.readEvents(after, 1_000);
    if (page.length === 0) return events;
    events.push(...page);
    after = page[page.length - 1]!.id;
  }
}

function eventsByJob(events: QueueEvent[]): Map<string, QueueEvent[]> {
  const byJob = new Map<string, QueueEvent[]>();
  for (const event of events) {
    const list = byJob.get(event.jobId) ?? [];
    list.push(event);
    byJob.set(event.jobId, list);
  }
  return byJob;
}

/** Job ids of the entries in a tier stream. */
async function streamJobIds(queue: Queue, tier = NORMAL): Promise<string[]> {
  const entries = await liveStreamEntries((args) => redis.call(args), queue.keys.lane(tier));
  return entries.map((entry) => entry.fields.j ?? '');
}

async function jobHash(queue: Queue, id: string): Promise<Record<string, string>> {
  return toRecord(await redis.call<unknown[]>(['HGETALL', queue.keys.job(id)]));
}

async function inSet(key: string, id: string): Promise<boolean> {
  return (await redis.call(['ZSCORE', key, id])) !== null;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => (ms <= 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));
}

function count<T>(items: T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

describe('waiting jobs', () => {
  const TOTAL = 1_000;
  const jobIds = Array.from({ length: TOTAL }, (_, i) => `job-${i}`);

  it('100 of 1,000 canceled before any worker runs never run; the other 900 run once each', async () => {
    const prefix = testPrefix('cancel-waiting');
    const queue = newQueue(prefix);
    await queue.addBulk(jobIds.map((jobId, i) => ({ name: 'work', data: { i }, opts: { jobId } })));
    expect(await queue.counts()).toMatchObject({ waiting: TOTAL, canceled: 0 });

    const canceledIds = jobIds.filter((_, i) => i % 10 === 3); // spread through the stream
    expect(canceledIds).toHaveLength(100);
    const answers = await queue.cancel(canceledIds, { reason: 'not needed', by: 'test' });
    expect(answers).toEqual(canceledIds.map(() => true));

    // gone from the stream, counted as canceled
    expect(await queue.counts()).toMatchObject({ waiting: TOTAL - 100, active: 0, canceled: 100 });
    const remaining = await streamJobIds(queue);
    expect(remaining).toHaveLength(TOTAL - 100);
    const canceledSet = new Set(canceledIds);
    expect(remaining.filter((id) => canceledSet.has(id))).toEqual([]);
    for (const id of canceledIds) {
      const stored = await jobHash(queue, id);
      expect(stored).toMatchObject({ state: 'canceled', cancelReason: 'not needed', canceledBy: 'test' });
      expect(stored.entry).toBeUndefined();
    }

    const ran: string[] = [];
    const { worker, errors, completed } = newWorker(
      prefix,
      async (job) => {
        ran.push(job.id);
        return job.data;
      },
      { concurrency: 5 },
    );
    await waitUntil(() => completed.length >= TOTAL - 100, { timeoutMs: 60_000, message: '900 completions' });
    // the stream is drained: nothing canceled is left to run
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: TOTAL - 100, canceled: 100 });
    await worker.close();

    expect(ran.filter((id) => canceledSet.has(id))).toEqual([]);
    expect(ran).toHaveLength(TOTAL - 100);
    expect(new Set(ran).size).toBe(TOTAL - 100);
    expect(new Set(ran)).toEqual(new Set(jobIds.filter((id) => !canceledSet.has(id))));
    for (const id of canceledIds) expect((await queue.getJob(id))!.state).toBe('canceled');
    const byJob = eventsByJob(await allEvents(queue));
    for (const id of canceledIds) {
      expect(byJob.get(id)!.map((e) => [e.name, e.fields.from])).toEqual([['job:canceled', 'waiting']]);
    }
    expect(errors).toEqual([]);
  });

  it.each([1, 5])(
    '100 of 1,000 canceled while a worker at concurrency %i runs through the queue never run; the other 900 run once each',
    async (concurrency) => {
      const prefix = testPrefix('cancel-running');
      const queue = newQueue(prefix);
      await queue.addBulk(jobIds.map((jobId, i) => ({ name: 'work', data: { i }, opts: { jobId } })));

      const ran: string[] = [];
      const { worker, errors, completed } = newWorker(
        prefix,
        async (job) => {
          ran.push(job.id);
          await sleep(0);
          return job.data;
        },
        { concurrency },
      );
      await waitUntil(() => ran.length >= 20, { timeoutMs: 30_000, message: 'the worker to be running through the queue' });

      // the second half, every fifth job, in ten concurrent calls of ten ids
      const canceledIds = jobIds.filter((_, i) => i >= 500 && i % 5 === 0);
      expect(canceledIds).toHaveLength(100);
      const ranBefore = ran.length;
      const batches = Array.from({ length: 10 }, (_, b) => canceledIds.slice(b * 10, b * 10 + 10));
      const answers = await Promise.all(batches.map((ids) => queue.cancel(ids, { reason: 'late change' })));
      expect(answers.flat()).toEqual(canceledIds.map(() => true));
      const canceledSet = new Set(canceledIds);
      // the worker was mid-way: it had started, and it had not reached the canceled jobs
      expect(ranBefore).toBeGreaterThan(0);
      expect(ran.filter((id) => canceledSet.has(id))).toEqual([]);
      expect((await streamJobIds(queue)).filter((id) => canceledSet.has(id))).toEqual([]);

      await waitUntil(() => completed.length >= TOTAL - 100, { timeoutMs: 60_000, message: '900 completions' });
      expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: TOTAL - 100, canceled: 100 });
      expect(ran.length).toBeGreaterThan(ranBefore);
      await worker.close();

      expect(ran.filter((id) => canceledSet.has(id))).toEqual([]);
      expect(ran).toHaveLength(TOTAL - 100);
      expect(new Set(ran)).toEqual(new Set(jobIds.filter((id) => !canceledSet.has(id))));
      expect(await redis.call(['XLEN', queue.keys.lane(NORMAL)])).toBe(0);
      for (const id of canceledIds) {
        expect(await queue.getJob(id)).toMatchObject({ state: 'canceled', cancelReason: 'late change' });
      }
      expect(errors).toEqual([]);
    },
  );
});

describe('delayed jobs and jobs waiting for a retry', () => {
  it('canceled, they never run (again) and leave the delayed set', async () => {
    const prefix = testPrefix('cancel-delayed');
    const queue = newQueue(prefix);
    const runs: string[] = [];
    const { worker, errors, retrying, completed } = newWorker(prefix, async (job) => {
      runs.push(job.id);
      if (job.id === 'retry' && job.attempt === 1) throw new Error('first attempt fails');
      return 'ok';
    });
    await worker.waitUntilReady();

    const retried = nextEvent<[Job, Error]>(worker, 'retrying', { timeoutMs: 30_000 });
    const delayed = await queue.add('later', {}, { jobId: 'delayed', delay: 3_000 });
    const retry = await queue.add('flaky', {}, { jobId: 'retry', attempts: 3, backoff: { type: 'fixed', delay: 2_000 } });
    expect(delayed.state).toBe('delayed');
    await retried;
    expect(retrying).toEqual(['retry']);

    const beforeRetry = (await queue.getJob('retry'))!;
    expect(beforeRetry).toMatchObject({ state: 'delayed', attemptsMade: 1 });
    expect((await queue.getJob('delayed'))!.state).toBe('delayed'); // still well before its due time
    expect(await inSet(queue.keys.delayed, 'retry')).toBe(true);
    expect(await inSet(queue.keys.delayed, 'delayed')).toBe(true);
    expect(await queue.counts()).toMatchObject({ delayed: 2 });

    expect(await queue.cancel(['delayed', 'retry'], { reason: 'no longer wanted' })).toEqual([true, true]);
    for (const id of ['delayed', 'retry']) {
      expect(await queue.getJob(id)).toMatchObject({ state: 'canceled', cancelReason: 'no longer wanted' });
      expect(await inSet(queue.keys.delayed, id)).toBe(false);
    }
    expect(await queue.counts()).toMatchObject({ delayed: 0, waiting: 0, canceled: 2 });

    // A sentinel due after both: once it has run, the scheduler has passed
    // both due times, and the worker (concurrency 1, FIFO) would have run them first.
    const lastDue = Math.max(delayed.dueAt!, beforeRetry.dueAt!);
    const sentinel = await queue.add('sentinel', {}, { jobId: 'sentinel', runAt: lastDue + 300 });
    expect((await queue.waitFor(sentinel.id, { timeoutMs: 30_000 })).state).toBe('completed');
    expect(Date.now()).toBeGreaterThan(lastDue);

    expect(runs).toEqual(['retry', 'sentinel']);
    expect(completed).toEqual(['sentinel']);
    expect(await queue.getJob('retry')).toMatchObject({ state: 'canceled', attemptsMade: 1 });
    expect((await queue.getJob('delayed'))!.state).toBe('canceled');
    const byJob = eventsByJob(await allEvents(queue));
    expect(byJob.get('delayed')!.map((e) => [e.name, e.fields.from])).toEqual([['job:canceled', 'delayed']]);
    expect(byJob.get('retry')!.map((e) => [e.name, e.fields.from])).toEqual([
      ['job:retrying', undefined],
      ['job:canceled', 'delayed'],
    ]);
    await worker.close();
    expect(errors).toEqual([]);
  });
});

describe('a running job', () => {
  it("its signal aborts with a JobCanceledError carrying the cancel's reason and by; the job ends canceled", async () => {
    const prefix = testPrefix('cancel-active');
    const queue = newQueue(prefix);
    const started = deferred();
    const aborted = deferred<{ reason: unknown; at: number }>();
    const watched = newWorker(
      prefix,
      async (_job, { signal }) => {
        started.resolve();
        await new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted.resolve({ reason: signal.reason, at: Date.now() });
            reject(signal.reason);
          }),
        );
      },
      // the heartbeat backstop is far off: a prompt abort comes from the notice
      { concurrency: 2, stallTimeout: 60_000, heartbeatInterval: 30_000 },
    );
    const job = await queue.add('long', { n: 1 }, { attempts: 3 });
    await started.promise;
    expect((await queue.getJob(job.id))!.state).toBe('active');

    const canceledEvent = nextEvent<[Job, JobCanceledError]>(watched.worker, 'canceled', { timeoutMs: 30_000 });
    const canceledAt = Date.now();
    expect(await queue.cancel(job.id, { reason: 'user asked', by: 'alice' })).toBe(true);
    const { reason, at } = await aborted.promise;
    expect(reason).toBeInstanceOf(JobCanceledError);
    expect(reason).toMatchObject({ reason: 'user asked', by: 'alice', code: 'ERR_JOB_CANCELED' });
    expect(at - canceledAt).toBeLessThan(15_000);

    const [eventJob, eventError] = await canceledEvent;
    expect(eventJob).toMatchObject({ id: job.id, state: 'canceled' });
    expect(eventError).toBeInstanceOf(JobCanceledError);
    expect(eventError).toMatchObject({ reason: 'user asked', by: 'alice' });

    const done = await queue.waitFor(job.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ state: 'canceled', cancelReason: 'user asked', canceledBy: 'alice', attemptsMade: 0 });
    expect(done.result).toBeUndefined();
    expect(await queue.counts()).toMatchObject({ active: 0, waiting: 0, delayed: 0, completed: 0, failed: 0, canceled: 1 });

    const events = eventsByJob(await allEvents(queue)).get(job.id)!;
    expect(events[0]).toMatchObject({
      name: 'job:canceled',
      fields: { reason: 'user asked', by: 'alice', from: 'active' },
    });
    expect(events.map((e) => e.name).filter((name) => name !== 'job:canceled' && name !== 'job:discarded')).toEqual([]);
    await waitUntil(() => watched.worker.activeCount === 0, { timeoutMs: 10_000, message: 'the slot to be free' });
    await watched.worker.close();
    expect(watched.canceled).toHaveLength(1);
    expect([...watched.completed, ...watched.retrying, ...watched.failed, ...watched.lost]).toEqual([]);
    expect(watched.errors).toEqual([]);
  });
});

describe('a handler that ignores its signal', () => {
  it.each(['returns', 'throws'] as const)(
    'and %s later: the job ends canceled, is not retried, its outcome is discarded, and its slot is freed at the cancel',
    async (ending) => {
      const prefix = testPrefix('cancel-ignore');
      const queue = newQueue(prefix);
      const started = deferred();
      const release = deferred();
      let returned = false;
      const runs: string[] = [];
      const watched = newWorker(prefix, async (job) => {
        runs.push(job.id);
        if (job.name !== 'stubborn') return 'quick';
        started.resolve();
        await release.promise; // the signal is ignored
        returned = true;
        if (ending === 'throws') throw new Error('late failure');
        return { late: true };
      });
      const { worker } = watched;
      try {
        const job = await queue.add('stubborn', {}, { jobId: 'stubborn', attempts: 3 });
        await started.promise;
        const canceled = nextEvent<[Job, JobCanceledError]>(worker, 'canceled', { timeoutMs: 30_000 });
        expect(await queue.cancel(job.id, { reason: 'enough' })).toBe(true);
        const [canceledJob, canceledError] = await canceled;
        expect(canceledJob.id).toBe(job.id);
        expect(canceledError).toMatchObject({ reason: 'enough' });

        // the slot is free while the handler still runs: a second job runs on this concurrency-1 worker
        const second = await queue.add('quick', {});
        const secondDone = await queue.waitFor(second.id, { timeoutMs: 30_000 });
        expect(secondDone).toMatchObject({ state: 'completed', result: 'quick' });
        expect(returned).toBe(false);
        expect(await queue.getJob(job.id)).toMatchObject({ state: 'canceled', cancelReason: 'enough', attemptsMade: 0 });

        // the handler ends late: its outcome is discarded, and said so
        release.resolve();
        const discarded = await waitUntil(
          async () => (await allEvents(queue)).find((e) => e.jobId === job.id && (e.name as string) === 'job:discarded'),
          { timeoutMs: 30_000, message: 'the job:discarded event' },
        );
        expect(returned).toBe(true);
        expect(discarded.fields).toEqual(
          ending === 'returns' ? { outcome: 'completed', error: '' } : { outcome: 'failed', error: 'late failure' },
        );

        const stored = await jobHash(queue, job.id);
        expect(stored).toMatchObject({ state: 'canceled', cancelReason: 'enough' });
        expect(stored.attemptsMade).toBeUndefined();
        expect(stored.result).toBeUndefined();
        expect(stored.error).toBeUndefined();
        expect(stored.owner).toBeUndefined();
        expect((await queue.getJob(job.id))!.result).toBeUndefined();
        expect(await redis.call(['LPOS', queue.keys.completed, job.id])).toBeNull();
        expect(await inSet(queue.keys.dead, job.id)).toBe(false);
        expect(await inSet(queue.keys.delayed, job.id)).toBe(false);
        expect(await streamJobIds(queue)).toEqual([]);

        // not retried: a job added after the discard runs, and the canceled one did not run again
        const third = await queue.add('quick', {});
        expect((await queue.waitFor(third.id, { timeoutMs: 30_000 })).state).toBe('completed');
        expect(count(runs).get(job.id)).toBe(1);
        expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 2, failed: 0, canceled: 1 });
        const names = eventsByJob(await allEvents(queue))
          .get(job.id)!
          .map((e) => e.name as string);
        expect(names).toEqual(['job:canceled', 'job:discarded']);
        expect(watched.completed).toEqual([second.id, third.id]);
        expect([...watched.retrying, ...watched.failed, ...watched.lost]).toEqual([]);
        expect(watched.canceled).toHaveLength(1);
        expect(watched.errors).toEqual([]);
      } finally {
        release.resolve();
        await worker.close();
      }
    },
  );
});

describe('a handler that throws JobCanceledError', () => {
  it('cancels its own job at once: it ends canceled and is not retried despite attempts 5', async () => {
    const prefix = testPrefix('cancel-self');
    const queue = newQueue(prefix);
    const runs: string[] = [];
    const watched = newWorker(prefix, async (job) => {
      runs.push(job.id);
      if (job.name === 'self') throw new JobCanceledError('nothing to do', 'handler');
      return 'ok';
    });
    const canceled = nextEvent<[Job, JobCanceledError]>(watched.worker, 'canceled', { timeoutMs: 30_000 });
    const job = await queue.add('self', {}, { jobId: 'self', attempts: 5 });
    const done = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'canceled', cancelReason: 'nothing to do', attemptsMade: 0 });
    expect(done.error).toBeUndefined();
    const [eventJob, eventError] = await canceled;
    expect(eventJob.id).toBe(job.id);
    expect(eventError).toBeInstanceOf(JobCanceledError);
    expect(eventError.reason).toBe('nothing to do');

    // not retried: a later job runs, and this one ran once
    const sentinel = await queue.add('other', {});
    expect((await queue.waitFor(sentinel.id, { timeoutMs: 30_000 })).state).toBe('completed');
    expect(count(runs).get(job.id)).toBe(1);
    expect(await inSet(queue.keys.canceled, job.id)).toBe(true);
    expect(await inSet(queue.keys.delayed, job.id)).toBe(false);
    expect(await inSet(queue.keys.dead, job.id)).toBe(false);
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 1, canceled: 1 });
    const events = eventsByJob(await allEvents(queue)).get(job.id)!;
    expect(events.map((e) => [e.name, e.fields.reason, e.fields.from])).toEqual([['job:canceled', 'nothing to do', 'handler']]);
    expect([...watched.retrying, ...watched.failed, ...watched.lost]).toEqual([]);
    expect(watched.errors).toEqual([]);
    // and cancel() of the job now answers false
    expect(await queue.cancel(job.id)).toBe(false);
    await watched.worker.close();
  });
});

describe('a job that is already final, or unknown', () => {
  it('cancel answers false and changes nothing', async () => {
    const prefix = testPrefix('cancel-final');
    const queue = newQueue(prefix);
    const watched = newWorker(prefix, async (job) => {
      if (job.name === 'fail') throw new Error('boom');
      return { ok: true };
    });
    const ok = await queue.add('ok', {}, { jobId: 'completed' });
    const bad = await queue.add('fail', {}, { jobId: 'failed', attempts: 1 });
    await queue.add('later', {}, { jobId: 'canceled', delay: 60_000 });
    expect(await queue.cancel('canceled', { reason: 'first', by: 'one' })).toBe(true);
    expect((await queue.waitFor(ok.id, { timeoutMs: 30_000 })).state).toBe('completed');
    expect((await queue.waitFor(bad.id, { timeoutMs: 30_000 })).state).toBe('failed');
    await watched.worker.close();

    const ids = ['completed', 'failed', 'canceled', 'unknown'];
    const hashesBefore = await Promise.all(ids.map((id) => jobHash(queue, id)));
    expect(hashesBefore.map((h) => h.state)).toEqual(['completed', 'failed', 'canceled', undefined]);
    const countsBefore = await queue.counts();
    const lastEvent = await queue.lastEventId();

    for (const id of ids) expect(await queue.cancel(id, { reason: 'second', by: 'two' })).toBe(false);
    expect(await queue.cancel(ids, { reason: 'third' })).toEqual([false, false, false, false]);

    expect(await Promise.all(ids.map((id) => jobHash(queue, id)))).toEqual(hashesBefore);
    expect(await redis.call(['EXISTS', queue.keys.job('unknown')])).toBe(0);
    expect(await queue.counts()).toEqual(countsBefore);
    expect(await queue.readEvents(lastEvent, 100)).toEqual([]);
    expect(await queue.getJob('canceled')).toMatchObject({ cancelReason: 'first', canceledBy: 'one' });
    expect(watched.errors).toEqual([]);
  });
});

describe('cancel racing completion', () => {
  it('1,000 races: each job ends in exactly one final state, the one cancel() answered', async () => {
    const TOTAL = 1_000;
    const LANES = 50;
    const prefix = testPrefix('cancel-race');
    const queue = newQueue(prefix);
    await queue.lastEventId(); // this test reads events: job:completed events are written from now on
    const starts = new Map<string, () => void>();
    const handlerRuns: string[] = [];
    const handlerEnds: string[] = [];
    const endedAt = new Map<string, number>();
    const watched = newWorker(
      prefix,
      async (job) => {
        handlerRuns.push(job.id);
        starts.get(job.id)?.();
        await sleep(Math.floor(Math.random() * 4)); // completes after 0-3 ms
        handlerEnds.push(job.id);
        endedAt.set(job.id, performance.now());
        return { id: job.id };
      },
      { concurrency: 50 },
    );
    await watched.worker.waitUntilReady();

    const answers = new Map<string, boolean>();
    const cancelSentAt = new Map<string, number>();
    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (next < TOTAL) {
          const jobId = `race-${next++}`;
          const running = deferred();
          starts.set(jobId, running.resolve);
          await queue.add('race', {}, { jobId, attempts: 3 });
          // mostly cancel at a random moment around the handler's end; sometimes right after the add
          if (Math.random() < 0.8) {
            const timer = setTimeout(running.resolve, 20_000); // never wait forever for a start
            await running.promise;
            clearTimeout(timer);
            await sleep(Math.floor(Math.random() * 4));
          } else {
            await sleep(Math.floor(Math.random() * 2));
          }
          cancelSentAt.set(jobId, performance.now());
          answers.set(jobId, await queue.cancel(jobId, { reason: 'race' }));
          expect(FINAL.has((await queue.waitFor(jobId, { timeoutMs: 30_000 })).state)).toBe(true);
        }
      }),
    );
    const elapsed = Date.now() - started;
    expect(answers.size).toBe(TOTAL);

    // every canceled-while-active job's late outcome is reported as discarded, once its handler is done
    const activeCanceled = async () =>
      (await allEvents(queue)).filter((e) => e.name === 'job:canceled' && e.fields.from === 'active').length;
    const discardedCount = async () => (await allEvents(queue)).filter((e) => (e.name as string) === 'job:discarded').length;
    await waitUntil(async () => (await discardedCount()) === (await activeCanceled()) && handlerEnds.length === handlerRuns.length, {
      timeoutMs: 30_000,
      message: 'every discarded outcome to be reported',
    });
    await watched.worker.close();

    const byJob = eventsByJob(await allEvents(queue));
    const runs = count(handlerRuns);
    const outcomes = new Map<string, number>();
    for (const [jobId, canceledNow] of answers) {
      const stored = await jobHash(queue, jobId);
      const names = (byJob.get(jobId) ?? []).map((e) => e.name as string);
      const finals = names.filter((name) => name === 'job:completed' || name === 'job:canceled' || name === 'job:failed');
      const key = canceledNow ? 'true' : 'false';
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      expect({ jobId, finals }).toEqual({ jobId, finals: [canceledNow ? 'job:canceled' : 'job:completed'] });
      expect({ jobId, state: stored.state }).toEqual({ jobId, state: canceledNow ? 'canceled' : 'completed' });
      expect(runs.get(jobId) ?? 0).toBeLessThanOrEqual(1);
      expect(names.filter((name) => name === 'job:retrying' || name === 'job:stalled')).toEqual([]);
      if (canceledNow) {
        expect(stored.result).toBeUndefined();
        const from = byJob.get(jobId)!.find((e) => e.name === 'job:canceled')!.fields.from;
        expect(['waiting', 'active']).toContain(from);
        // canceled before it was fetched: never started; canceled while held: its outcome discarded, once
        expect({ jobId, discarded: names.filter((n) => n === 'job:discarded').length }).toEqual({
          jobId,
          discarded: from === 'active' ? 1 : 0,
        });
        if (from === 'waiting') expect(runs.get(jobId) ?? 0).toBe(0);
      } else {
        expect(JSON.parse(stored.result!)).toEqual({ id: jobId });
        expect(runs.get(jobId)).toBe(1);
        expect(names).not.toContain('job:discarded');
      }
    }
    const canceledCount = outcomes.get('true') ?? 0;
    const completedCount = outcomes.get('false') ?? 0;
    // both ways occur, and both often enough to call it a race
    expect(canceledCount).toBeGreaterThan(20);
    expect(completedCount).toBeGreaterThan(20);
    expect(await queue.counts()).toMatchObject({
      waiting: 0,
      active: 0,
      delayed: 0,
      failed: 0,
      completed: completedCount,
      canceled: canceledCount,
    });
    expect(Number((await redis.call<unknown[]>(['XPENDING', queue.keys.lane(NORMAL), CONSUMER_GROUP]))[0])).toBe(0);
    expect(new Set(watched.completed)).toEqual(new Set([...answers].filter(([, c]) => !c).map(([id]) => id)));
    expect(watched.completed).toHaveLength(completedCount);
    expect([...watched.retrying, ...watched.failed, ...watched.lost]).toEqual([]);
    expect(watched.errors).toEqual([]);
    const canceledWhileActive = [...byJob.values()].filter((events) =>
      events.some((e) => e.name === 'job:canceled' && e.fields.from === 'active'),
    ).length;
    expect(watched.canceled).toHaveLength(canceledWhileActive);
    // How tight the race was: cancels sent after the handler had returned that
    // still won (the finish script had not run yet), and cancels sent before it
    // returned that lost (the finish script ran first).
    const sentAfterEnd = (id: string) => endedAt.has(id) && cancelSentAt.get(id)! > endedAt.get(id)!;
    const wonAfterEnd = [...answers].filter(([id, won]) => won && sentAfterEnd(id)).length;
    const lostBeforeEnd = [...answers].filter(([id, won]) => !won && !sentAfterEnd(id)).length;
    // eslint-disable-next-line no-console
    console.log(
      `cancel race: ${TOTAL} jobs in ${elapsed} ms; cancel won ${canceledCount} (${canceledWhileActive} while running, ` +
        `${wonAfterEnd} sent after the handler returned), completion won ${completedCount} (${lostBeforeEnd} with the cancel sent before the handler returned)`,
    );
  });
});

const FINAL = new Set(['completed', 'failed', 'canceled']);
