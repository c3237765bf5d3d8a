/**
 * Resumable jobs in process (semantics 6): checkpoints, steps and progress.
 * - a job that throws after saving a checkpoint resumes from it on retry;
 * - a worker closed mid-job hands the job back and another worker resumes from the
 *   last checkpoint at once (stallTimeout 60 s: no stall reclaim is involved);
 * - checkpoint state over `maxCheckpointBytes` rejects with PayloadTooLargeError and the
 *   previous checkpoint stays; state JSON cannot represent rejects with SerializationError;
 * - `ctx.progress` is visible through getJob and a `job:progress` event;
 * - `ctx.step` runs its fn once per job (to success) and returns the saved result on
 *   later attempts; steps named per loop iteration compose with a checkpoint;
 * - checkpoints and steps are removed with the job under its retention policy.
 * The process-level cases (SIGKILL, SIGTERM, a blocked event loop) are in resume-processes.test.ts.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  LeaseLostError,
  PayloadTooLargeError,
  Queue,
  SerializationError,
  StreamJobsError,
  type Job,
  type JobOptions,
} from '@streamjobs/core';
import { Worker, type Handler, type WorkerOptions } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

type RawClient = Awaited<ReturnType<typeof rawClient>>;

interface Setup {
  prefix: string;
  queueName: string;
  queue: Queue;
  redis: RawClient;
  worker(handler: Handler, options?: Partial<WorkerOptions>): Worker;
  /** The job's checkpoint hash, JSON values parsed ('' is undefined). */
  savedState(id: string): Promise<Record<string, unknown>>;
}

async function setUp(label: string): Promise<Setup> {
  const prefix = testPrefix(label);
  const queueName = label;
  const redis = await rawClient();
  open.track({ close: () => redis.destroy() });
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  return {
    prefix,
    queueName,
    queue,
    redis,
    worker(handler, options = {}) {
      return open.track(new Worker(queueName, handler, { connection: connection(), prefix, scheduler: false, ...options }));
    },
    async savedState(id) {
      const hash = await redis.hGetAll(queue.keys.checkpoint(id));
      return Object.fromEntries(Object.entries(hash).map(([field, value]) => [field, value === '' ? undefined : JSON.parse(value)]));
    },
  };
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

function errorsOf(worker: Worker): Error[] {
  const errors: Error[] = [];
  worker.on('error', (err) => errors.push(err));
  return errors;
}

/** Resolves with the rejection of `promise`, or fails when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('resumable jobs', () => {
  it('a job that throws after saving a checkpoint resumes from it on retry', async () => {
    const s = await setUp('resume-retry');
    const secondAttempt = gate();
    const starts: { attempt: number; checkpoint: unknown }[] = [];
    let fetchCalls = 0;
    const saved = { cursor: 2, seen: ['a', 'b'], at: { page: 1, of: 3 } };
    const worker = s.worker(async (job, ctx) => {
      starts.push({ attempt: job.attempt, checkpoint: job.checkpoint });
      const rows = await ctx.step('fetch rows', () => {
        fetchCalls++;
        return ['a', 'b', 'c'];
      });
      if (job.attempt === 1) {
        await ctx.checkpoint({ cursor: 1, seen: ['a'] });
        await ctx.checkpoint(saved);
        throw new Error('boom after the checkpoint');
      }
      await secondAttempt.wait;
      await ctx.checkpoint({ cursor: 3, seen: rows });
      return { resumedFrom: job.checkpoint, rows };
    });
    const errors = errorsOf(worker);
    const retrying = nextEvent<[Job, Error]>(worker, 'retrying');
    await worker.waitUntilReady();

    const job = await s.queue.add('import', {}, { jobId: 'retry-1', attempts: 2 });
    const [, error] = await retrying;
    expect(error.message).toBe('boom after the checkpoint');
    await waitUntil(() => starts.length === 2, { message: 'the second attempt to start' });

    // Between attempts (the second waits on the gate), the job shows the checkpoint saved last.
    expect(await s.queue.getJob(job.id)).toMatchObject({
      state: 'active',
      attempt: 2,
      attemptsMade: 1,
      error: 'boom after the checkpoint',
      checkpoint: saved,
    });
    secondAttempt.open();
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    expect(starts).toEqual([
      { attempt: 1, checkpoint: null },
      { attempt: 2, checkpoint: saved },
    ]);
    expect(final).toMatchObject({
      state: 'completed',
      attemptsMade: 1,
      result: { resumedFrom: saved, rows: ['a', 'b', 'c'] },
      checkpoint: { cursor: 3, seen: ['a', 'b', 'c'] },
    });
    expect(fetchCalls).toBe(1);
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('close() mid-job hands the job back: another worker resumes from the last checkpoint at once', async () => {
    const STALL_TIMEOUT = 60_000;
    const CLOSE_TIMEOUT = 300;
    const PROMPT_MS = 15_000;
    const STEPS = 6;
    const s = await setUp('resume-close');
    const effects = new Map<number, number>();
    const effect = (by: string, i: number) => {
      effects.set(i, (effects.get(i) ?? 0) + 1);
      return { i, by };
    };

    // The closing worker runs steps 1-3, saving a checkpoint after each, then waits for its signal.
    let abortReason: unknown;
    let lateCheckpoint: Error | undefined;
    let lastSaved: unknown = null;
    const waiting = gate();
    const closing = s.worker(
      async (job, ctx) => {
        for (let i = 1; i <= 3; i++) {
          await ctx.step(`item:${i}`, () => effect('closing', i));
          await ctx.checkpoint({ done: i });
          lastSaved = { done: i };
        }
        waiting.open();
        await new Promise<never>((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        }).catch(async (reason: unknown) => {
          abortReason = reason;
          // Handed back: nothing it saves from now on counts.
          lateCheckpoint = await rejectionOf(ctx.checkpoint({ done: 99 }));
          throw reason;
        });
        return 'never';
      },
      { stallTimeout: STALL_TIMEOUT, closeTimeout: CLOSE_TIMEOUT },
    );
    const closingErrors = errorsOf(closing);
    const lost = nextEvent<[Job]>(closing, 'lost');
    await closing.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'close-1' });
    await waiting.wait;

    // The other worker starts now: nothing is waiting, so it can only get the job handed back.
    let resumed: { checkpoint: unknown; attempt: number; at: number } | undefined;
    const other = s.worker(
      async (active, ctx) => {
        resumed = { checkpoint: active.checkpoint, attempt: active.attempt, at: Date.now() };
        const results: unknown[] = [];
        for (let i = 1; i <= STEPS; i++) {
          results.push(await ctx.step(`item:${i}`, () => effect('other', i)));
          await ctx.checkpoint({ done: i });
        }
        return results;
      },
      { stallTimeout: STALL_TIMEOUT },
    );
    const otherErrors = errorsOf(other);
    await other.waitUntilReady();

    const closeStartedAt = Date.now();
    await closing.close();
    const [lostJob] = await lost;
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    expect(lostJob.id).toBe(job.id);
    expect(abortReason).toBeInstanceOf(StreamJobsError);
    expect((abortReason as StreamJobsError).code).toBe('ERR_WORKER_CLOSING');
    expect(lateCheckpoint).toBeInstanceOf(LeaseLostError);
    // Resumed at once from the last checkpoint the closing worker saved.
    expect(resumed).toBeDefined();
    expect(resumed!.at - closeStartedAt).toBeLessThan(PROMPT_MS);
    expect(resumed).toMatchObject({ attempt: 1, checkpoint: { done: 3 } });
    expect(lastSaved).toEqual({ done: 3 });
    // Steps 1-3 ran in the closing worker only, 4-6 in the other one only.
    expect(Object.fromEntries(effects)).toEqual({ 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1 });
    expect(final).toMatchObject({ state: 'completed', stalls: 0, attemptsMade: 0, checkpoint: { done: STEPS } });
    expect(final.result).toEqual([1, 2, 3, 4, 5, 6].map((i) => ({ i, by: i <= 3 ? 'closing' : 'other' })));
    const events = await s.queue.readEvents('0-0', 1_000);
    expect(events.filter((event) => event.name === 'job:handed-back').map((event) => event.jobId)).toEqual([job.id]);
    expect(closingErrors).toEqual([]);
    expect(otherErrors).toEqual([]);
    await other.close();
  });

  it('state over maxCheckpointBytes rejects with PayloadTooLargeError and the previous checkpoint stays', async () => {
    const LIMIT = 200;
    const s = await setUp('resume-limit');
    const seen: Record<string, unknown> = {};
    // JSON of exactly LIMIT bytes, and one byte more.
    const exact = { fill: 'y'.repeat(LIMIT - '{"fill":""}'.length) };
    const over = { fill: 'y'.repeat(LIMIT + 1 - '{"fill":""}'.length) };
    const worker = s.worker(
      async (job, ctx) => {
        const stored = async () => (await s.savedState(job.id)).state;
        await ctx.checkpoint({ page: 1 });
        seen.big = await rejectionOf(ctx.checkpoint({ page: 2, blob: 'x'.repeat(5 * LIMIT) }));
        seen.afterBig = await stored();
        await ctx.checkpoint(exact);
        seen.afterExact = await stored();
        seen.over = await rejectionOf(ctx.checkpoint(over));
        seen.afterOver = await stored();
        // Bytes, not characters: 100 'é' are 111 characters of JSON but 211 bytes.
        seen.multibyte = await rejectionOf(ctx.checkpoint({ fill: 'é'.repeat(100) }));
        seen.bigStep = await rejectionOf(ctx.step('big step', () => 'x'.repeat(5 * LIMIT)));
        seen.bigProgress = await rejectionOf(ctx.progress('x'.repeat(5 * LIMIT)));
        seen.hashAtEnd = await s.savedState(job.id);
        return 'done';
      },
      { maxCheckpointBytes: LIMIT },
    );
    const errors = errorsOf(worker);
    await worker.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'limit-1' });
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    expect(seen.big).toBeInstanceOf(PayloadTooLargeError);
    expect(seen.big).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', limit: LIMIT });
    expect((seen.big as PayloadTooLargeError).size).toBeGreaterThan(LIMIT);
    expect(seen.afterBig).toEqual({ page: 1 });
    // The limit is inclusive: exactly LIMIT bytes is accepted, one more is not.
    expect(seen.afterExact).toEqual(exact);
    expect(seen.over).toBeInstanceOf(PayloadTooLargeError);
    expect(seen.over).toMatchObject({ size: LIMIT + 1, limit: LIMIT });
    expect(seen.afterOver).toEqual(exact);
    expect(seen.multibyte).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', size: 211, limit: LIMIT });
    // The same limit holds for step results (not saved) and progress values (not stored).
    expect(seen.bigStep).toBeInstanceOf(PayloadTooLargeError);
    expect(seen.bigProgress).toBeInstanceOf(PayloadTooLargeError);
    expect(seen.hashAtEnd).toEqual({ state: exact });
    expect(final).toMatchObject({ state: 'completed', result: 'done', checkpoint: exact });
    expect(final.progress).toBeUndefined();
    const events = await s.queue.readEvents('0-0', 1_000);
    expect(events.filter((event) => (event.name as string) === 'job:progress')).toEqual([]);
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('state JSON cannot represent rejects with SerializationError and the previous checkpoint stays', async () => {
    const s = await setUp('resume-serial');
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const bad: Record<string, unknown> = {
      cycle: cyclic,
      function: { run: () => 1 },
      bigint: { n: 10n },
      map: new Map([['a', 1]]),
      nan: { ratio: Number.NaN },
      undefined: undefined,
      symbol: { s: Symbol('x') },
    };
    const rejections: Record<string, unknown> = {};
    let stepRejection: unknown;
    let progressRejection: unknown;
    let hashAtEnd: unknown;
    const worker = s.worker(async (job, ctx) => {
      await ctx.checkpoint({ good: true, when: new Date(0) });
      for (const [name, state] of Object.entries(bad)) rejections[name] = await rejectionOf(ctx.checkpoint(state));
      stepRejection = await rejectionOf(ctx.step('returns a function', () => () => 1));
      progressRejection = await rejectionOf(ctx.progress({ n: 1n }));
      hashAtEnd = await s.savedState(job.id);
      return 'done';
    });
    const errors = errorsOf(worker);
    await worker.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'serial-1' });
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    expect(Object.keys(rejections)).toEqual(Object.keys(bad));
    for (const [name, rejection] of Object.entries(rejections)) {
      expect([name, rejection]).toEqual([name, expect.any(SerializationError)]);
      expect((rejection as SerializationError).code).toBe('ERR_NOT_SERIALIZABLE');
    }
    expect(stepRejection).toBeInstanceOf(SerializationError);
    expect(progressRejection).toBeInstanceOf(SerializationError);
    // A Date serialises (as its ISO string); nothing after it was written.
    const good = { good: true, when: new Date(0).toISOString() };
    expect(hashAtEnd).toEqual({ state: good });
    expect(final).toMatchObject({ state: 'completed', checkpoint: good });
    expect(final.progress).toBeUndefined();
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('ctx.progress is visible through getJob and a job:progress event', async () => {
    const s = await setUp('resume-progress');
    const finish = gate();
    const worker = s.worker(async (_job, ctx) => {
      await ctx.progress({ done: 1, of: 4 });
      await ctx.progress(0.5);
      await finish.wait;
      await ctx.progress({ done: 4, of: 4 });
      return 'done';
    });
    const errors = errorsOf(worker);
    await worker.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'progress-1' });

    const running = await waitUntil(
      async () => {
        const current = await s.queue.getJob(job.id);
        return current?.progress === 0.5 ? current : null;
      },
      { message: 'progress 0.5 through getJob' },
    );
    expect(running.state).toBe('active');
    finish.open();
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(final).toMatchObject({ state: 'completed', progress: { done: 4, of: 4 } });

    const progressEvents = (await s.queue.readEvents('0-0', 1_000)).filter((event) => (event.name as string) === 'job:progress');
    expect(progressEvents.map((event) => ({ jobId: event.jobId, progress: JSON.parse(event.fields.progress!) }))).toEqual([
      { jobId: job.id, progress: { done: 1, of: 4 } },
      { jobId: job.id, progress: 0.5 },
      { jobId: job.id, progress: { done: 4, of: 4 } },
    ]);
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('ctx.step runs fn once per job to success and returns the saved result on later attempts', async () => {
    const s = await setUp('resume-steps');
    const calls = { shape: 0, nothing: 0, flaky: 0 };
    const seen: { attempt: number; shape: unknown; again: unknown; nothing: unknown }[] = [];
    const worker = s.worker(async (job, ctx) => {
      const shape = await ctx.step('shape', () => {
        calls.shape++;
        return { attempt: job.attempt, list: [1, 'two', null, { deep: [true] }], empty: {} };
      });
      // The same name again in the same attempt: the saved result, fn not run.
      const again = await ctx.step('shape', () => {
        calls.shape++;
        return 'must not run';
      });
      const nothing = await ctx.step('returns nothing', () => {
        calls.nothing++;
        return undefined;
      });
      seen.push({ attempt: job.attempt, shape, again, nothing });
      if (job.attempt === 1) throw new Error('fail after two steps');
      // fails in attempt 2: not saved, so attempt 3 runs it again
      const flaky = await ctx.step('flaky', async () => {
        calls.flaky++;
        if (job.attempt === 2) throw new Error('flaky fails once');
        return `ok on attempt ${job.attempt}`;
      });
      return { shape, flaky };
    });
    const errors = errorsOf(worker);
    await worker.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'steps-1', attempts: 3 });
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    const shape = { attempt: 1, list: [1, 'two', null, { deep: [true] }], empty: {} };
    expect(seen).toEqual([1, 2, 3].map((attempt) => ({ attempt, shape, again: shape, nothing: undefined })));
    expect(calls).toEqual({ shape: 1, nothing: 1, flaky: 2 });
    expect(final).toMatchObject({ state: 'completed', attemptsMade: 2, result: { shape, flaky: 'ok on attempt 3' } });
    expect(await s.savedState(job.id)).toEqual({
      'step:shape': shape,
      'step:returns nothing': undefined,
      'step:flaky': 'ok on attempt 3',
    });
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('steps named per loop iteration compose with a checkpoint', async () => {
    const s = await setUp('resume-loop');
    const BATCHES = 6;
    const batchCalls = Array.from({ length: BATCHES }, () => 0);
    const starts: { attempt: number; checkpoint: unknown }[] = [];
    const worker = s.worker(async (job, ctx) => {
      starts.push({ attempt: job.attempt, checkpoint: job.checkpoint });
      const from = (job.checkpoint as { next: number; total: number } | null) ?? { next: 0, total: 0 };
      let total = from.total;
      for (let b = from.next; b < BATCHES; b++) {
        const sum = await ctx.step(`batch:${b}`, async () => {
          batchCalls[b]!++;
          if (b === 4 && job.attempt === 2) throw new Error('batch 4 fails in attempt 2');
          return b * b;
        });
        // Attempt 1 dies between batch 3's step and its checkpoint: attempt 2 restarts at
        // batch 3 and must get its saved result rather than run it again.
        if (b === 3 && job.attempt === 1) throw new Error('died after batch 3, before its checkpoint');
        total += sum;
        await ctx.checkpoint({ next: b + 1, total });
      }
      return total;
    });
    const errors = errorsOf(worker);
    await worker.waitUntilReady();
    const job = await s.queue.add('import', {}, { jobId: 'loop-1', attempts: 3 });
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    expect(starts).toEqual([
      { attempt: 1, checkpoint: null },
      { attempt: 2, checkpoint: { next: 3, total: 0 + 1 + 4 } },
      { attempt: 3, checkpoint: { next: 4, total: 0 + 1 + 4 + 9 } },
    ]);
    // Every batch ran once to success; batch 4 ran twice because its first run failed.
    expect(batchCalls).toEqual([1, 1, 1, 1, 2, 1]);
    expect(final).toMatchObject({ state: 'completed', result: 55, checkpoint: { next: BATCHES, total: 55 } });
    const saved = await s.savedState(job.id);
    expect(saved).toEqual({
      state: { next: BATCHES, total: 55 },
      ...Object.fromEntries(batchCalls.map((_, b) => [`step:batch:${b}`, b * b])),
    });
    expect(errors).toEqual([]);
    await worker.close();
  });

  describe('checkpoints and steps are removed with the job under its retention policy', () => {
    /** A handler that saves a checkpoint and a step, then waits for `hold` (if given) and completes or fails. */
    function saving(hold?: Promise<void>): Handler {
      return async (job, ctx) => {
        await ctx.step('one', () => job.id);
        await ctx.checkpoint({ id: job.id });
        await hold;
        if ((job.data as { fail?: boolean }).fail) throw new Error('planned failure');
        return job.id;
      };
    }

    async function keysOf(s: Setup, id: string): Promise<{ job: number; checkpoint: number }> {
      return {
        job: await s.redis.exists(s.queue.keys.job(id)),
        checkpoint: await s.redis.exists(s.queue.keys.checkpoint(id)),
      };
    }

    it('removeOnComplete: true and removeOnFail: true remove the checkpoint at once', async () => {
      const s = await setUp('resume-keep-none');
      const hold = gate();
      const worker = s.worker(saving(hold.wait), { concurrency: 2 });
      const errors = errorsOf(worker);
      await worker.waitUntilReady();
      const opts: JobOptions = { removeOnComplete: true, removeOnFail: true };
      const done = await s.queue.add('import', {}, { ...opts, jobId: 'gone-completed' });
      const failed = await s.queue.add('import', { fail: true }, { ...opts, jobId: 'gone-failed', attempts: 1 });

      // While they run, their checkpoints (state and step) exist.
      await waitUntil(
        async () => (await s.redis.hLen(s.queue.keys.checkpoint(done.id))) === 2 && (await s.redis.hLen(s.queue.keys.checkpoint(failed.id))) === 2,
        { message: 'both checkpoints saved' },
      );
      hold.open();
      const [finalDone, finalFailed] = await Promise.all([
        s.queue.waitFor(done.id, { timeoutMs: 30_000 }),
        s.queue.waitFor(failed.id, { timeoutMs: 30_000 }),
      ]);
      expect(finalDone.state).toBe('completed');
      expect(finalFailed.state).toBe('failed');
      expect(await keysOf(s, done.id)).toEqual({ job: 0, checkpoint: 0 });
      expect(await keysOf(s, failed.id)).toEqual({ job: 0, checkpoint: 0 });
      expect(errors).toEqual([]);
      await worker.close();
    });

    it('keep-last-N removes the checkpoints of the jobs it trims; the kept ones keep theirs', async () => {
      const s = await setUp('resume-keep-two');
      const worker = s.worker(saving(), { concurrency: 1 });
      const errors = errorsOf(worker);
      await worker.waitUntilReady();
      const ids = ['keep-0', 'keep-1', 'keep-2', 'keep-3'];
      await s.queue.addBulk(ids.map((jobId) => ({ name: 'import', data: {}, opts: { jobId, removeOnComplete: 2 } })));
      await Promise.all(ids.map((id) => s.queue.waitFor(id, { timeoutMs: 30_000 })));

      expect(await keysOf(s, 'keep-0')).toEqual({ job: 0, checkpoint: 0 });
      expect(await keysOf(s, 'keep-1')).toEqual({ job: 0, checkpoint: 0 });
      for (const id of ['keep-2', 'keep-3']) {
        expect(await s.queue.getJob(id)).toMatchObject({ state: 'completed', result: id, checkpoint: { id } });
        expect(await s.savedState(id)).toEqual({ state: { id }, 'step:one': id });
      }
      expect(errors).toEqual([]);
      await worker.close();
    });

    it('the default (keep all) keeps the checkpoint with the finished job', async () => {
      const s = await setUp('resume-keep-all');
      const worker = s.worker(saving());
      await worker.waitUntilReady();
      const job = await s.queue.add('import', {}, { jobId: 'kept' });
      expect(await s.queue.waitFor(job.id, { timeoutMs: 30_000 })).toMatchObject({ state: 'completed', checkpoint: { id: 'kept' } });
      expect(await s.savedState(job.id)).toEqual({ state: { id: 'kept' }, 'step:one': 'kept' });
      await worker.close();
    });
  });
});
