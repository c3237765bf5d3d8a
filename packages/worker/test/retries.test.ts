// Attempts, backoff, dead letters, unrecoverable errors, timeouts and retention.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JobTimeoutError, Queue, StreamJobsError, UnrecoverableError, type Job } from '@streamjobs/core';
import { Worker, type Handler } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
let raw: Awaited<ReturnType<typeof rawClient>>;
beforeAll(async () => {
  raw = await rawClient();
});
afterAll(async () => {
  await open.closeAll();
  raw.destroy();
});

const QUEUE = 'retries';

function setUp(handler: Handler, workerOptions: Record<string, unknown> = {}) {
  const prefix = testPrefix('retry');
  const queue = open.track(new Queue(QUEUE, { connection: connection(), prefix }));
  const worker = open.track(new Worker(QUEUE, handler, { connection: connection(), prefix, concurrency: 1, ...workerOptions }));
  const errors: Error[] = [];
  worker.on('error', (err) => errors.push(err));
  const retrying: [Job, Error][] = [];
  const failed: [Job, Error][] = [];
  worker.on('retrying', (job, err) => retrying.push([job, err]));
  worker.on('failed', (job, err) => failed.push([job, err]));
  return { prefix, queue, worker, errors, retrying, failed };
}

/** Server times (ms) at which the retries of `jobId` were recorded, from the events stream ids. */
async function retryEventTimes(queue: Queue, jobId: string): Promise<number[]> {
  const events = await queue.readEvents('0-0', 1_000);
  return events
    .filter((event) => event.jobId === jobId && event.name === 'job:retrying')
    .map((event) => Number(event.id.split('-')[0]));
}

describe('retries with backoff', () => {
  it('a job failing twice then succeeding completes on attempt 3, its attempts spaced by a fixed backoff', async () => {
    const BACKOFF = 300;
    const starts: number[] = [];
    const failedAt: number[] = [];
    const dueAts: number[] = [];
    const attempts: number[] = [];
    const { queue, worker, errors, retrying, failed } = setUp(async (job) => {
      starts.push(Date.now());
      attempts.push(job.attempt);
      if (job.attempt > 1) dueAts.push((await queue.getJob(job.id))!.dueAt!);
      if (job.attempt < 3) {
        failedAt.push(Date.now());
        throw new Error(`failure ${job.attempt}`);
      }
      return { ok: job.attempt };
    });
    const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'fixed', delay: BACKOFF } });
    const done = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', result: { ok: 3 }, attempt: 3, attemptsMade: 2 });
    expect(attempts).toEqual([1, 2, 3]);
    expect(retrying.map(([j, err]) => [j.id, j.attemptsMade, err.message])).toEqual([
      [job.id, 1, 'failure 1'],
      [job.id, 2, 'failure 2'],
    ]);
    expect(failed).toEqual([]);

    // Each retry was due BACKOFF ms after its failure: the failure happened
    // before the retry time was computed, the retry was recorded after.
    const recordedAt = await retryEventTimes(queue, job.id);
    expect(recordedAt).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect(dueAts[i]! - failedAt[i]!).toBeGreaterThanOrEqual(BACKOFF);
      expect(dueAts[i]! - recordedAt[i]!).toBeLessThanOrEqual(BACKOFF);
      // And it did not start before it was due.
      expect(starts[i + 1]!).toBeGreaterThanOrEqual(dueAts[i]!);
    }
    for (let i = 0; i < 2; i++) {
      const gap = starts[i + 1]! - starts[i]!;
      expect(gap).toBeGreaterThanOrEqual(BACKOFF);
      expect(gap).toBeLessThan(BACKOFF + 2_000);
    }
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('an exponential backoff doubles from one attempt to the next', async () => {
    const DELAY = 150;
    const starts: number[] = [];
    const failedAt: number[] = [];
    const dueAts: number[] = [];
    const { queue, worker, errors } = setUp(async (job) => {
      starts.push(Date.now());
      if (job.attempt > 1) dueAts.push((await queue.getJob(job.id))!.dueAt!);
      if (job.attempt < 4) {
        failedAt.push(Date.now());
        throw new Error(`failure ${job.attempt}`);
      }
      return 'ok';
    });
    const job = await queue.add('flaky', {}, { attempts: 4, backoff: { type: 'exponential', delay: DELAY } });
    const done = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', attempt: 4, attemptsMade: 3 });

    const recordedAt = await retryEventTimes(queue, job.id);
    expect(recordedAt).toHaveLength(3);
    const nominal = [DELAY, DELAY * 2, DELAY * 4];
    for (let i = 0; i < 3; i++) {
      // failedAt + nominal <= dueAt <= recordedAt + nominal: the wait was exactly the nominal one.
      expect(dueAts[i]! - failedAt[i]!).toBeGreaterThanOrEqual(nominal[i]!);
      expect(dueAts[i]! - recordedAt[i]!).toBeLessThanOrEqual(nominal[i]!);
      const gap = starts[i + 1]! - starts[i]!;
      expect(gap).toBeGreaterThanOrEqual(nominal[i]!);
      expect(gap).toBeLessThan(nominal[i]! + 2_000);
    }
    expect(errors).toEqual([]);
    await worker.close();
  });
});

describe('failing for good', () => {
  it('a job that always fails ends failed after its attempts, with its last error and stack, and is dead-lettered; retryDead runs it again', async () => {
    let succeed = false;
    const calls: number[] = [];
    const { queue, worker, errors, retrying, failed } = setUp(async (job) => {
      calls.push(job.attempt);
      if (succeed) return 'finally';
      throw new Error(`always fails (attempt ${job.attempt})`);
    });
    const job = await queue.add('doomed', { x: 1 }, { attempts: 3 });
    const dead = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(dead).toMatchObject({ state: 'failed', attempt: 3, attemptsMade: 3, error: 'always fails (attempt 3)' });
    expect(dead.stack).toEqual(expect.stringContaining('Error: always fails (attempt 3)'));
    expect(dead.stack).toEqual(expect.stringContaining('retries.test'));
    expect(dead.finishedAt).toBeGreaterThan(0);
    expect(calls).toEqual([1, 2, 3]);
    expect(retrying.map(([, err]) => err.message)).toEqual(['always fails (attempt 1)', 'always fails (attempt 2)']);
    await waitUntil(() => failed.length === 1, { timeoutMs: 5_000, message: 'the failed event' });
    expect(failed[0]![0]).toMatchObject({ id: job.id, state: 'failed', attemptsMade: 3 });
    expect(failed[0]![1].message).toBe('always fails (attempt 3)');

    const letters = await queue.deadLetters();
    expect(letters.map((letter) => letter.id)).toEqual([job.id]);
    expect(letters[0]).toMatchObject({ state: 'failed', error: 'always fails (attempt 3)' });
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 1, completed: 0 });
    const events = await queue.readEvents('0-0', 1_000);
    expect(events.filter((event) => event.jobId === job.id).map((event) => event.name)).toEqual([
      'job:retrying',
      'job:retrying',
      'job:failed',
    ]);

    // Retry it from the dead letters: it runs again with fresh attempts, and completes.
    succeed = true;
    expect(await queue.retryDead(job.id)).toBe(true);
    const retried = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(retried).toMatchObject({ state: 'completed', result: 'finally', attempt: 1, attemptsMade: 0 });
    expect(calls).toEqual([1, 2, 3, 1]);
    expect(await queue.deadLetters()).toEqual([]);
    expect(await queue.retryDead(job.id)).toBe(false);
    expect(await queue.retryDead('no-such-job')).toBe(false);
    expect(await queue.counts()).toMatchObject({ failed: 0, completed: 1 });
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('an UnrecoverableError fails the job at once, without retries', async () => {
    let calls = 0;
    const { queue, worker, errors, retrying, failed } = setUp(async () => {
      calls++;
      throw new UnrecoverableError('bad input, do not retry');
    });
    const job = await queue.add('hopeless', {}, { attempts: 5, backoff: 10 });
    const done = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'failed', attemptsMade: 1, attempt: 1, error: 'bad input, do not retry' });
    expect(done.stack).toEqual(expect.stringContaining('UnrecoverableError'));
    expect(calls).toBe(1);
    expect(retrying).toEqual([]);
    await waitUntil(() => failed.length === 1, { timeoutMs: 5_000, message: 'the failed event' });
    expect(failed[0]![1]).toBeInstanceOf(UnrecoverableError);
    expect((await queue.deadLetters()).map((letter) => letter.id)).toEqual([job.id]);
    // Nothing left that could run it again.
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 1 });
    expect(errors).toEqual([]);
    await worker.close();
  });
});

describe('timeouts', () => {
  it('aborts the signal with a JobTimeoutError and fails the attempt; the next attempt runs', async () => {
    const TIMEOUT = 300;
    const aborted: { reason: unknown; after: number }[] = [];
    const { queue, worker, errors, retrying } = setUp(async (job, { signal }) => {
      if (job.attempt > 1) return 'second time lucky';
      const start = Date.now();
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      aborted.push({ reason: signal.reason, after: Date.now() - start });
      throw signal.reason;
    });
    const job = await queue.add('slow', {}, { attempts: 2, timeout: TIMEOUT });
    const done = await queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', result: 'second time lucky', attempt: 2, attemptsMade: 1 });
    expect(done.error).toBe(`Job timed out after ${TIMEOUT} ms`);
    expect(aborted).toHaveLength(1);
    expect(aborted[0]!.reason).toBeInstanceOf(JobTimeoutError);
    expect((aborted[0]!.reason as StreamJobsError).code).toBe('ERR_JOB_TIMEOUT');
    expect(aborted[0]!.after).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(aborted[0]!.after).toBeLessThan(TIMEOUT + 2_000);
    expect(retrying).toHaveLength(1);
    expect(retrying[0]![1]).toBeInstanceOf(JobTimeoutError);
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('fails the attempt on time even when the handler ignores its signal, and frees the slot', async () => {
    const TIMEOUT = 300;
    let stubbornSignal: AbortSignal | undefined;
    const { queue, worker, errors } = setUp(async (job, { signal }) => {
      if (job.name === 'quick') return 'quick';
      stubbornSignal = signal;
      // Ignores the signal and runs far past the timeout.
      await new Promise((resolve) => setTimeout(resolve, 4_000).unref());
      return 'too late';
    });
    const started = Date.now();
    const slow = await queue.add('stubborn', {}, { timeout: TIMEOUT });
    const failed = await queue.waitFor(slow.id, { timeoutMs: 30_000 });
    const elapsed = Date.now() - started;
    expect(failed).toMatchObject({ state: 'failed', attemptsMade: 1, error: `Job timed out after ${TIMEOUT} ms` });
    expect(failed.result).toBeUndefined();
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT);
    expect(elapsed).toBeLessThan(TIMEOUT + 2_500);
    // Concurrency 1: the next job runs while the stubborn handler is still going.
    const quick = await queue.add('quick', {});
    expect((await queue.waitFor(quick.id, { timeoutMs: 10_000 })).state).toBe('completed');
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(stubbornSignal!.aborted).toBe(true);
    expect(stubbornSignal!.reason).toBeInstanceOf(JobTimeoutError);
    expect(errors).toEqual([]);
    await worker.close();
  });
});

describe('retention', () => {
  it('removeOnComplete: true removes the job hash once completed', async () => {
    const { prefix, queue, worker } = setUp(async () => 'done');
    const completed = nextEvent<[Job, unknown]>(worker, 'completed', {
      filter: (job) => job.id === 'gone',
      timeoutMs: 30_000,
    });
    await queue.add('ephemeral', {}, { jobId: 'gone', removeOnComplete: true });
    const [job, result] = await completed;
    expect(result).toBe('done');
    expect(job.state).toBe('completed');
    expect(await queue.getJob('gone')).toBeNull();
    expect(await raw.sendCommand(['EXISTS', `${prefix}:{${QUEUE}}:job:gone`])).toBe(0);
    expect(await raw.sendCommand(['ZSCORE', `${prefix}:{${QUEUE}}:completed`, 'gone'])).toBeNull();
    expect(await queue.counts()).toMatchObject({ completed: 0, waiting: 0, active: 0 });
    // A job without the option is kept.
    const kept = await queue.add('kept', {});
    expect((await queue.waitFor(kept.id, { timeoutMs: 30_000 })).state).toBe('completed');
    expect(await queue.getJob(kept.id)).not.toBeNull();
    await worker.close();
  });

  it('removeOnComplete: N keeps the last N completed jobs', async () => {
    const { prefix, queue, worker } = setUp(async () => 'done');
    let completed = 0;
    worker.on('completed', () => void completed++);
    const ids = ['keep-1', 'keep-2', 'keep-3', 'keep-4', 'keep-5'];
    await queue.addBulk(ids.map((jobId) => ({ name: 'counted', data: {}, opts: { jobId, removeOnComplete: 2 } })));
    await waitUntil(() => completed === 5, { timeoutMs: 30_000, message: 'five completed jobs' });
    const present = await Promise.all(ids.map(async (id) => (await queue.getJob(id)) !== null));
    expect(present).toEqual([false, false, false, true, true]);
    expect(await raw.sendCommand(['LRANGE', `${prefix}:{${QUEUE}}:completed`, '0', '-1'])).toEqual(['keep-4', 'keep-5']);
    expect(await queue.counts()).toMatchObject({ completed: 2 });
    await worker.close();
  });

  it('removeOnFail: true removes a failed job instead of dead-lettering it', async () => {
    const { prefix, queue, worker, failed } = setUp(async () => {
      throw new Error('nope');
    });
    await queue.add('ephemeral', {}, { jobId: 'failing', removeOnFail: true });
    await waitUntil(() => failed.length === 1, { timeoutMs: 30_000, message: 'the failed event' });
    expect(await queue.getJob('failing')).toBeNull();
    expect(await raw.sendCommand(['EXISTS', `${prefix}:{${QUEUE}}:job:failing`])).toBe(0);
    expect(await queue.deadLetters()).toEqual([]);
    expect(await queue.counts()).toMatchObject({ failed: 0, waiting: 0, active: 0 });
    await worker.close();
  });
});
