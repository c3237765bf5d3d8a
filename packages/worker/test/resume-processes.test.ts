/**
 * Resumable jobs with real worker processes (semantics 6), killed, stopped and
 * stalled for real:
 * (1) a job of 10 steps whose process is SIGKILLed right after step 6: after the
 *     stall reclaim, the next attempt (another process) runs steps 7 to 10 only, and
 *     the job completes with all 10 results;
 * (2) SIGTERM to a worker process mid-job (its fixture closes the worker, closeTimeout
 *     short, stallTimeout 60 s): another process resumes from the last checkpoint at once;
 * (3) a process whose event loop is blocked longer than stallTimeout loses its job to
 *     another worker; when it wakes, its checkpoint, step record and progress reject with
 *     LeaseLostError, its signal aborts, and its completion is discarded: the final result,
 *     checkpoint, steps and progress are the new owner's;
 * (4) a job failed for stalling too often is removed with its checkpoint under removeOnFail.
 *
 * The fixture (packages/testing/src/fixtures/resumable-worker-process.ts) runs step i as
 * `ctx.step('step:<i>')` whose fn increments `<recordKey>:effects:<i>` and returns
 * `{ step: i, value: i * 10, pid }`, saves the checkpoint `{ done: i, pid }` after each step,
 * and returns the array of step results.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import {
  OpenResources,
  connection,
  rawClient,
  redisUrl,
  spawnFixture,
  testPrefix,
  waitUntil,
  type FixtureProcess,
} from '@streamjobs/testing';
import type {
  ResumableFixtureConfig,
  ResumableJobData,
  WakeRecord,
} from '../../testing/src/fixtures/resumable-worker-process.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

type RawClient = Awaited<ReturnType<typeof rawClient>>;

const stepResult = (i: number, pid: number) => ({ step: i, value: i * 10, pid });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, n) => from + n);

interface Setup {
  prefix: string;
  queueName: string;
  recordKey: string;
  queue: Queue;
  redis: RawClient;
  spawn(overrides?: Partial<ResumableFixtureConfig>): FixtureProcess;
  /** `<recordKey>:effects:<i>` for i in 1..steps, as numbers (0 when never run). */
  effects(steps: number): Promise<number[]>;
  /** The job's checkpoint hash, JSON values parsed. */
  savedState(id: string): Promise<Record<string, unknown>>;
  /** An in-process step with the fixture's side effect and result. */
  runStep(i: number): Promise<{ step: number; value: number; pid: number }>;
}

async function setUp(label: string, stallTimeout: number): Promise<Setup> {
  const prefix = testPrefix(label);
  const queueName = label;
  const recordKey = `${prefix}:records`;
  const redis = await rawClient();
  open.track({ close: () => redis.destroy() });
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  return {
    prefix,
    queueName,
    recordKey,
    queue,
    redis,
    spawn(overrides = {}) {
      const config: ResumableFixtureConfig = {
        url: redisUrl(),
        prefix,
        queue: queueName,
        recordKey,
        concurrency: 1,
        stallTimeout,
        scheduler: false,
        ...overrides,
      };
      const proc = spawnFixture('resumable-worker-process', config);
      open.track({ close: () => proc.kill('SIGKILL') });
      return proc;
    },
    async effects(steps) {
      const values = await Promise.all(range(1, steps).map((i) => redis.get(`${recordKey}:effects:${i}`)));
      return values.map((value) => Number(value ?? 0));
    },
    async savedState(id) {
      const hash = await redis.hGetAll(queue.keys.checkpoint(id));
      return Object.fromEntries(Object.entries(hash).map(([field, value]) => [field, value === '' ? undefined : JSON.parse(value)]));
    },
    async runStep(i) {
      await redis.incr(`${recordKey}:effects:${i}`);
      return stepResult(i, process.pid);
    },
  };
}

/** The `step <id> <i>` lines a fixture printed: the steps whose fn it ran. */
function stepsRun(proc: FixtureProcess, id: string): number[] {
  return proc.lines.filter((line) => line.startsWith(`step ${id} `)).map((line) => Number(line.split(' ')[2]));
}

/** The `active <id> <attempt> <checkpoint>` lines a fixture printed, parsed. */
function startsIn(proc: FixtureProcess, id: string): { attempt: number; checkpoint: unknown }[] {
  return proc.lines
    .filter((line) => line.startsWith(`active ${id} `))
    .map((line) => {
      const [, , attempt, ...rest] = line.split(' ');
      return { attempt: Number(attempt), checkpoint: JSON.parse(rest.join(' ')) };
    });
}

function collect<T>(worker: Worker, event: 'active' | 'completed' | 'lost' | 'error' | 'reclaimed'): T[] {
  const seen: T[] = [];
  worker.on(event, (first: unknown) => seen.push(first as T));
  return seen;
}

describe('resumable jobs across processes', () => {
  it('(1) SIGKILLed after step 6 of 10: the next attempt, in another process, runs steps 7 to 10 only', async () => {
    const STALL_TIMEOUT = 2_000;
    const s = await setUp('resume-kill', STALL_TIMEOUT);
    const victim = s.spawn();
    await victim.waitForLine(/^ready /, 60_000);

    const job = await s.queue.add('import', { steps: 10, crashAfterStep: 6 } satisfies ResumableJobData, { jobId: 'kill-6' });
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();

    // Killed right after step 6 was saved: steps 1-6 ran once, 7-10 not at all.
    expect(stepsRun(victim, job.id)).toEqual(range(1, 6));
    expect(await s.effects(10)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    const stalled = await s.queue.getJob(job.id);
    expect(stalled).toMatchObject({ state: 'active', checkpoint: { done: 5, pid: victim.pid } });
    const saved = await s.savedState(job.id);
    expect(saved).toEqual({
      state: { done: 5, pid: victim.pid },
      ...Object.fromEntries(range(1, 6).map((i) => [`step:step:${i}`, stepResult(i, victim.pid)])),
    });

    // Another process takes over once the job's entry has been idle for stallTimeout.
    const rescuer = s.spawn();
    await rescuer.waitForLine(/^ready /, 60_000);
    const final = await s.queue.waitFor(job.id, { timeoutMs: 45_000 });
    const completedAt = Date.now();

    expect(final).toMatchObject({
      state: 'completed',
      stalls: 1,
      attemptsMade: 0,
      checkpoint: { done: 10, pid: rescuer.pid },
    });
    // All 10 results: 1-6 as saved by the killed process, 7-10 from the rescuer.
    expect(final.result).toEqual(range(1, 10).map((i) => stepResult(i, i <= 6 ? victim.pid : rescuer.pid)));
    // The rescuer's attempt started from the killed one's checkpoint and ran steps 7-10 only.
    expect(startsIn(rescuer, job.id)).toEqual([{ attempt: 1, checkpoint: { done: 5, pid: victim.pid } }]);
    expect(stepsRun(rescuer, job.id)).toEqual(range(7, 10));
    // Every side effect happened exactly once.
    expect(await s.effects(10)).toEqual(range(1, 10).map(() => 1));
    expect(rescuer.lines).toContain(`completed ${job.id}`);
    expect(rescuer.lines.filter((line) => line.startsWith('error '))).toEqual([]);
    expect(completedAt - killedAt).toBeLessThan(45_000);

    await rescuer.kill('SIGTERM');
    expect(await rescuer.exited).toEqual({ code: 0, signal: null });
  });

  it('(2) SIGTERM mid-job: another process resumes from the last checkpoint at once, long before stallTimeout', async () => {
    const STALL_TIMEOUT = 60_000;
    const CLOSE_TIMEOUT = 500;
    const PROMPT_MS = 15_000;
    const s = await setUp('resume-term', STALL_TIMEOUT);
    const closing = s.spawn({ closeTimeout: CLOSE_TIMEOUT });
    await closing.waitForLine(/^ready /, 60_000);

    const job = await s.queue.add('import', { steps: 8, waitForAbortAfterStep: 3 } satisfies ResumableJobData, {
      jobId: 'term-3',
    });
    await closing.waitForLine(new RegExp(`^waiting ${job.id}$`), 30_000);
    expect(await s.queue.getJob(job.id)).toMatchObject({ state: 'active', checkpoint: { done: 3, pid: closing.pid } });

    // The other process starts now: nothing is waiting, so it can only get the job handed back.
    const other = s.spawn();
    await other.waitForLine(/^ready /, 60_000);

    const termAt = Date.now();
    await closing.kill('SIGTERM');
    expect(await closing.exited).toEqual({ code: 0, signal: null });
    await other.waitForLine(new RegExp(`^active ${job.id} `), PROMPT_MS);
    const resumedAfter = Date.now() - termAt;
    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });

    // The closing process was aborted with the closing reason and discarded its attempt.
    expect(closing.lines).toContain(`aborted ${job.id} StreamJobsError ERR_WORKER_CLOSING`);
    expect(closing.lines).toContain(`lost ${job.id}`);
    expect(closing.lines).not.toContain(`completed ${job.id}`);
    expect(closing.lines.at(-1)).toBe('closed');
    // Resumed at once (hand-back, not stall reclaim), from the last checkpoint, running steps 4-8 only.
    expect(resumedAfter).toBeLessThan(PROMPT_MS);
    expect(startsIn(other, job.id)).toEqual([{ attempt: 1, checkpoint: { done: 3, pid: closing.pid } }]);
    expect(stepsRun(closing, job.id)).toEqual([1, 2, 3]);
    expect(stepsRun(other, job.id)).toEqual(range(4, 8));
    expect(await s.effects(8)).toEqual(range(1, 8).map(() => 1));
    expect(final).toMatchObject({ state: 'completed', stalls: 0, attemptsMade: 0, checkpoint: { done: 8, pid: other.pid } });
    expect(final.result).toEqual(range(1, 8).map((i) => stepResult(i, i <= 3 ? closing.pid : other.pid)));
    const events = await s.queue.readEvents('0-0', 1_000);
    expect(events.filter((event) => event.name === 'job:handed-back').map((event) => event.jobId)).toEqual([job.id]);
    expect(events.filter((event) => event.name === 'job:stalled')).toEqual([]);

    await other.kill('SIGTERM');
    expect(await other.exited).toEqual({ code: 0, signal: null });
  });

  describe('(3) a worker whose event loop is blocked longer than stallTimeout loses the job', () => {
    const STALL_TIMEOUT = 1_000;
    const BLOCK_MS = 3_000;

    /**
     * The fixture runs steps 1-3 of 5, then blocks its event loop for at least BLOCK_MS and
     * until the release file exists. An in-process worker (started once the fixture blocks, so
     * it can only get the job by reclaiming it) takes the job over when its entry has been idle
     * for stallTimeout, resumes it, runs steps 4-5, saves its checkpoint and progress, and only
     * then releases the blocked process; it completes the job once that process has woken and
     * given up the job. So the blocked process always wakes while the new owner holds the job.
     */
    async function stall(label: string, afterBlock: 'write' | 'return') {
      const s = await setUp(label, STALL_TIMEOUT);
      const releaseFile = join(tmpdir(), `${s.prefix}-release`);
      open.track({ close: () => rmSync(releaseFile, { force: true }) });
      const blocked = s.spawn();
      await blocked.waitForLine(/^ready /, 60_000);

      const data: ResumableJobData = { steps: 5, blockAfterStep: 3, blockMs: BLOCK_MS, releaseFile, afterBlock };
      const job = await s.queue.add('import', data, { jobId: `blocked-${afterBlock}` });
      await blocked.waitForLine(new RegExp(`^blocking ${job.id}$`), 30_000);
      const blockedAt = Date.now();

      const takeover: { checkpoint?: unknown; attempt?: number; savedAfterWake?: Record<string, unknown>; progressAfterWake?: unknown } = {};
      const worker = open.track(
        new Worker<ResumableJobData>(
          s.queueName,
          async (active, ctx) => {
            takeover.checkpoint = active.checkpoint;
            takeover.attempt = active.attempt;
            const results: unknown[] = [];
            for (let i = 1; i <= active.data.steps; i++) results.push(await ctx.step(`step:${i}`, () => s.runStep(i)));
            await ctx.checkpoint({ done: 5, pid: process.pid });
            await ctx.progress({ by: 'new', pid: process.pid });
            writeFileSync(releaseFile, '');
            // The blocked process wakes, tries its writes (or its completion), and gives the job up.
            await blocked.waitForLine(new RegExp(`^woke ${job.id}$`), 30_000);
            await blocked.waitForLine(new RegExp(`^lost ${job.id}$`), 30_000);
            takeover.savedAfterWake = await s.savedState(job.id);
            takeover.progressAfterWake = (await s.queue.getJob(job.id))?.progress;
            return { by: 'new', pid: process.pid, results };
          },
          { connection: connection(), prefix: s.prefix, stallTimeout: STALL_TIMEOUT, heartbeatInterval: 200, scheduler: false },
        ),
      );
      const active = collect<Job>(worker, 'active');
      const errors = collect<Error>(worker, 'error');
      await worker.waitUntilReady();

      const final = await s.queue.waitFor(job.id, { timeoutMs: 45_000 });
      const wake = JSON.parse((await s.redis.get(`${s.recordKey}:wake:${job.id}`)) ?? 'null') as WakeRecord;
      const expectedSaved = {
        state: { done: 5, pid: process.pid },
        ...Object.fromEntries(range(1, 5).map((i) => [`step:step:${i}`, stepResult(i, i <= 3 ? blocked.pid : process.pid)])),
      };

      // The new owner took over by reclaim while the old one was blocked, and resumed after step 3.
      expect(active.map((j) => j.id)).toEqual([job.id]);
      expect(takeover).toMatchObject({ attempt: 1, checkpoint: { done: 3, pid: blocked.pid } });
      expect(wake.blockedMs).toBeGreaterThanOrEqual(BLOCK_MS);
      expect(wake.blockedMs).toBeGreaterThan(STALL_TIMEOUT);
      expect(wake.abortedAtWake).toBe(false);
      // The blocked process's attempt was discarded: it reported the job lost, never completed.
      expect(blocked.lines).toContain(`lost ${job.id}`);
      expect(blocked.lines).not.toContain(`completed ${job.id}`);
      expect(blocked.child.exitCode).toBeNull();
      // Whatever the old owner tried after waking changed nothing: state, steps and progress
      // were the new owner's right after, and stayed so.
      expect(takeover.savedAfterWake).toEqual(expectedSaved);
      expect(takeover.progressAfterWake).toEqual({ by: 'new', pid: process.pid });
      expect(await s.savedState(job.id)).toEqual(expectedSaved);
      expect(final).toMatchObject({
        state: 'completed',
        stalls: 1,
        attemptsMade: 0,
        result: { by: 'new', pid: process.pid, results: range(1, 5).map((i) => stepResult(i, i <= 3 ? blocked.pid : process.pid)) },
        checkpoint: { done: 5, pid: process.pid },
        progress: { by: 'new', pid: process.pid },
      });
      expect(await s.effects(5)).toEqual([1, 1, 1, 1, 1]);
      expect(errors).toEqual([]);
      expect(Date.now() - blockedAt).toBeLessThan(45_000);
      await worker.close();
      await blocked.kill('SIGTERM');
      expect(await blocked.exited).toEqual({ code: 0, signal: null });
      return { wake, blocked };
    }

    it('its checkpoint, step record and progress reject with LeaseLostError, its signal aborts', async () => {
      const { wake } = await stall('resume-block-write', 'write');
      // Calls made on waking, before the worker knew: each reached Redis and was fenced off there.
      expect(wake.first).toEqual({ checkpoint: 'LeaseLostError', step: 'LeaseLostError', progress: 'LeaseLostError' });
      // Calls made once it knew: rejected the same way, and the step's fn did not run.
      expect(wake.second).toEqual({ checkpoint: 'LeaseLostError', step: 'LeaseLostError', progress: 'LeaseLostError' });
      expect(wake.lateStepRuns[1]).toBe(0);
      expect(wake.abortedAfter).toBe(true);
      expect(wake.abortReason).toBe('LeaseLostError');
    });

    it('its completion on waking is discarded; the result is the new owner\'s', async () => {
      const { wake } = await stall('resume-block-return', 'return');
      expect(wake.first).toEqual({ checkpoint: 'not called', step: 'not called', progress: 'not called' });
    });
  });

  it('(4) a job failed for stalling too often is removed with its checkpoint under removeOnFail', async () => {
    const STALL_TIMEOUT = 1_500;
    const MAX_STALLS = 1;
    const s = await setUp('resume-poison', STALL_TIMEOUT);
    // Two processes that each die right after step 1 of any job: one takes the job first and
    // dies; the other reclaims it after stallTimeout and dies of it too.
    const procs = [s.spawn({ crashAfterStep: 1, maxStalls: MAX_STALLS }), s.spawn({ crashAfterStep: 1, maxStalls: MAX_STALLS })];
    await Promise.all(procs.map((proc) => proc.waitForLine(/^ready /, 60_000)));
    const job = await s.queue.add('import', { steps: 3 } satisfies ResumableJobData, {
      jobId: 'poison',
      attempts: 3,
      removeOnFail: true,
    });
    for (const proc of procs) expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await s.redis.exists(s.queue.keys.checkpoint(job.id))).toBe(1);
    expect(await s.effects(3)).toEqual([1, 0, 0]);

    // A third worker reclaims it once more: more than maxStalls stalls, it fails for good.
    const worker = open.track(
      new Worker(s.queueName, async () => 'never runs', {
        connection: connection(),
        prefix: s.prefix,
        stallTimeout: STALL_TIMEOUT,
        maxStalls: MAX_STALLS,
        scheduler: false,
      }),
    );
    const active = collect<Job>(worker, 'active');
    await waitUntil(
      async () => (await s.queue.readEvents('0-0', 1_000)).some((event) => event.name === 'job:failed' && event.jobId === job.id),
      { timeoutMs: 30_000, message: 'the poison job to fail' },
    );
    expect(active).toEqual([]);
    // removeOnFail: true: the failed job is removed, with its checkpoint and steps.
    expect(await s.redis.exists(s.queue.keys.checkpoint(job.id))).toBe(0);
    expect(await s.queue.getJob(job.id)).toBeNull();
    await worker.close();
  });
});
