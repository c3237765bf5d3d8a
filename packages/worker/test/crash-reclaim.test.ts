/**
 * Stall reclaim with real processes killed for real (SIGKILL):
 * (a) the jobs of a killed worker are completed by another worker after `stallTimeout`;
 * (b) a live, heartbeating worker never loses a job that runs far longer than `stallTimeout`,
 *     while another worker is running and reclaiming;
 * (c) a job that kills its process every time fails for good after `maxStalls` stalls.
 *
 * Runs are counted in Redis by the worker fixture (packages/testing/src/fixtures/worker-process.ts):
 * `<recordKey>:starts` and `<recordKey>:done` (job id -> count), `<recordKey>:order` (`id|pid|ms`).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { CONSUMER_GROUP, Queue, type Job, type ReclaimResult } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import {
  OpenResources,
  connection,
  rawClient,
  redisUrl,
  spawnFixture,
  testPrefix,
  waitUntil,
  type FixtureJobData,
  type FixtureProcess,
  type WorkerFixtureConfig,
} from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

const STALL_TIMEOUT = 2_000;

type RawClient = Awaited<ReturnType<typeof rawClient>>;

interface Setup {
  prefix: string;
  queueName: string;
  recordKey: string;
  queue: Queue;
  redis: RawClient;
  fixtureConfig(overrides?: Partial<WorkerFixtureConfig>): WorkerFixtureConfig;
  spawnWorker(overrides?: Partial<WorkerFixtureConfig>): FixtureProcess;
  /** An in-process worker whose handler records to the same keys as the fixture, and returns at once. */
  inProcessWorker(options?: { maxStalls?: number; concurrency?: number }): Worker;
}

async function setUp(label: string): Promise<Setup> {
  const prefix = testPrefix(label);
  const queueName = label;
  const recordKey = `${prefix}:records`;
  const redis = await rawClient();
  open.track({ close: () => redis.destroy() });
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  const fixtureConfig = (overrides: Partial<WorkerFixtureConfig> = {}): WorkerFixtureConfig => ({
    url: redisUrl(),
    prefix,
    queue: queueName,
    recordKey,
    concurrency: 1,
    stallTimeout: STALL_TIMEOUT,
    scheduler: false,
    ...overrides,
  });
  return {
    prefix,
    queueName,
    recordKey,
    queue,
    redis,
    fixtureConfig,
    spawnWorker(overrides) {
      const proc = spawnFixture('worker-process', fixtureConfig(overrides));
      open.track({ close: () => proc.kill('SIGKILL') });
      return proc;
    },
    inProcessWorker({ maxStalls, concurrency = 10 } = {}) {
      return open.track(
        new Worker(
          queueName,
          async (job) => {
            await redis.hIncrBy(`${recordKey}:starts`, job.id, 1);
            await redis.rPush(`${recordKey}:order`, `${job.id}|${process.pid}|${Date.now()}`);
            await redis.hIncrBy(`${recordKey}:done`, job.id, 1);
            return { pid: process.pid };
          },
          {
            connection: connection(),
            prefix,
            concurrency,
            stallTimeout: STALL_TIMEOUT,
            ...(maxStalls ? { maxStalls } : {}),
            scheduler: false,
          },
        ),
      );
    },
  };
}

/** `<recordKey>:order` parsed: who started which job when. */
async function startsOf(redis: RawClient, recordKey: string): Promise<{ id: string; pid: number; ms: number }[]> {
  const order = await redis.lRange(`${recordKey}:order`, 0, -1);
  return order.map((line) => {
    const [id, pid, ms] = line.split('|');
    return { id: id!, pid: Number(pid), ms: Number(ms) };
  });
}

function collect<T>(worker: Worker, event: 'active' | 'completed' | 'reclaimed' | 'failed' | 'lost' | 'error'): T[] {
  const seen: T[] = [];
  worker.on(event, (first: unknown) => seen.push(first as T));
  return seen;
}

describe('stall reclaim across processes', () => {
  it('(a) completes the jobs of a SIGKILLed worker process in another worker after stallTimeout', async () => {
    const s = await setUp('crash-a');
    const JOBS = 8;
    const victim = s.spawnWorker({ concurrency: JOBS });
    await victim.waitForLine(/^ready /, 60_000);

    // Long enough that they are all still running when the process is killed; over all four tiers.
    const added = await s.queue.addBulk(
      Array.from({ length: JOBS }, (_, n) => ({
        name: 'long',
        data: { sleepMs: 120_000 } satisfies FixtureJobData,
        opts: { jobId: `a-${n}`, priority: n % 4 },
      })),
    );
    expect(new Set(added.map((job) => job.priority))).toEqual(new Set(['critical', 'high', 'normal', 'low']));
    const ids = added.map((job) => job.id);
    await Promise.all(ids.map((id) => victim.waitForLine(new RegExp(`^active ${id}$`), 30_000)));
    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await s.redis.hLen(`${s.recordKey}:done`)).toBe(0);
    expect(await s.queue.counts()).toMatchObject({ active: JOBS, waiting: 0, completed: 0 });

    const rescuer = s.inProcessWorker();
    const reclaimed = collect<ReclaimResult>(rescuer, 'reclaimed');
    const completed = collect<Job>(rescuer, 'completed');
    const errors = collect<Error>(rescuer, 'error');
    await rescuer.waitUntilReady();

    const finals = await Promise.all(ids.map((id) => s.queue.waitFor(id, { timeoutMs: 30_000 })));
    for (const job of finals) {
      expect(job).toMatchObject({ state: 'completed', stalls: 1, attemptsMade: 0, result: { pid: process.pid } });
    }
    expect(completed.map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(reclaimed.reduce((sum, r) => sum + r.requeued, 0)).toBe(JOBS);
    expect(reclaimed.reduce((sum, r) => sum + r.failed + r.unreadable, 0)).toBe(0);

    // Each job started twice (once in the killed process, once in the rescuer), finished once,
    // and the second start came no earlier than stallTimeout after the first.
    const starts = await startsOf(s.redis, s.recordKey);
    for (const id of ids) {
      const runs = starts.filter((start) => start.id === id);
      expect(runs.map((run) => run.pid)).toEqual([victim.pid, process.pid]);
      // Idle time is measured by Redis from the delivery, a little before the first recorded start.
      expect(runs[1]!.ms - runs[0]!.ms).toBeGreaterThanOrEqual(STALL_TIMEOUT - 250);
      expect(runs[1]!.ms).toBeGreaterThanOrEqual(killedAt - 250);
    }
    expect(await s.redis.hGetAll(`${s.recordKey}:done`)).toEqual(Object.fromEntries(ids.map((id) => [id, '1'])));
    expect(await s.queue.counts()).toMatchObject({ completed: JOBS, waiting: 0, active: 0, failed: 0 });
    expect(errors).toEqual([]);
    await rescuer.close();
  });

  it('(b) never reclaims a job from a live, heartbeating worker, however long it runs', async () => {
    const s = await setUp('crash-b');
    const LONG_MS = 3 * STALL_TIMEOUT;
    // Two worker processes: one will run the long job, the other is killed holding a job,
    // so that the reclaiming worker demonstrably reclaims during the long job's run.
    const first = s.spawnWorker();
    const second = s.spawnWorker();
    await Promise.all([first.waitForLine(/^ready /, 60_000), second.waitForLine(/^ready /, 60_000)]);

    const orphan = await s.queue.add('orphan', { sleepMs: 120_000 } satisfies FixtureJobData, { jobId: 'orphan' });
    const orphanLine = new RegExp(`^active ${orphan.id}$`);
    const [doomed, live] = await Promise.race([
      first.waitForLine(orphanLine, 30_000).then(() => [first, second] as const),
      second.waitForLine(orphanLine, 30_000).then(() => [second, first] as const),
    ]);
    await doomed.kill('SIGKILL');

    const long = await s.queue.add('long', { sleepMs: LONG_MS } satisfies FixtureJobData, { jobId: 'long', priority: 'high' });
    await live.waitForLine(new RegExp(`^active ${long.id}$`), 30_000);
    const lane = s.queue.keys.lane(long.tier);
    const longEntry = await waitUntil(async () => {
      const job = await s.queue.getJob(long.id);
      return job?.state === 'active' ? (await s.redis.hGet(s.queue.keys.job(long.id), 'entry')) : null;
    }, { message: 'the long job to be active' });

    // The reclaiming worker starts only now, so it cannot take the long job by fetching it.
    const reclaimer = s.inProcessWorker();
    const reclaimed = collect<ReclaimResult>(reclaimer, 'reclaimed');
    const active = collect<Job>(reclaimer, 'active');
    const errors = collect<Error>(reclaimer, 'error');
    await reclaimer.waitUntilReady();
    const reclaimerReadyAt = Date.now();

    // While the long job runs, its entry never gets anywhere near stallTimeout idle.
    let maxIdle = 0;
    let polls = 0;
    let watchError: unknown;
    const watchUntil = Date.now() + LONG_MS + 30_000;
    const watching = (async () => {
      while (Date.now() < watchUntil) {
        const pending = (await s.redis.sendCommand(['XPENDING', lane, CONSUMER_GROUP, '-', '+', '100'])) as [
          string,
          string,
          number,
          number,
        ][];
        const entry = pending.find(([id]) => id === longEntry);
        if (!entry) return;
        maxIdle = Math.max(maxIdle, Number(entry[2]));
        polls++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })().catch((err: unknown) => {
      watchError = err;
    });

    const finalLong = await s.queue.waitFor(long.id, { timeoutMs: LONG_MS + 30_000 });
    await watching;
    const finalOrphan = await s.queue.waitFor(orphan.id, { timeoutMs: 30_000 });

    // Sanity: the reclaimer was up for well over stallTimeout (and several reclaim rounds) of the long run.
    expect(finalLong.finishedAt! - reclaimerReadyAt).toBeGreaterThan(STALL_TIMEOUT + 1_000);
    expect(watchError).toBeUndefined();
    expect(polls).toBeGreaterThan(10);
    expect(maxIdle).toBeLessThan(STALL_TIMEOUT);

    // Reclaim did run meanwhile: the killed process's job was requeued (by the reclaiming
    // worker or the live one's own reclaimer) and run by the reclaiming worker, the only
    // free one, before the long job ended; the long job was never reclaimed.
    expect(finalOrphan).toMatchObject({ state: 'completed', stalls: 1, result: { pid: process.pid } });
    const orphanRuns = (await startsOf(s.redis, s.recordKey)).filter((start) => start.id === orphan.id);
    expect(orphanRuns.map((run) => run.pid)).toEqual([doomed.pid, process.pid]);
    expect(orphanRuns[1]!.ms).toBeLessThan(finalLong.finishedAt!);
    expect(reclaimed.reduce((sum, r) => sum + r.requeued, 0)).toBeLessThanOrEqual(1);
    expect(reclaimed.reduce((sum, r) => sum + r.failed + r.unreadable, 0)).toBe(0);
    expect(active.map((job) => job.id)).toEqual([orphan.id]);

    // The long job ran once, in the live process, to completion.
    expect(finalLong).toMatchObject({ state: 'completed', stalls: 0, attemptsMade: 0, result: { pid: live.pid } });
    expect(finalLong.finishedAt! - finalLong.startedAt!).toBeGreaterThanOrEqual(LONG_MS);
    const starts = await startsOf(s.redis, s.recordKey);
    expect(starts.filter((start) => start.id === long.id).map((start) => start.pid)).toEqual([live.pid]);
    expect(await s.redis.hGet(`${s.recordKey}:done`, long.id)).toBe('1');
    expect(live.lines.filter((line) => line === `active ${long.id}`)).toHaveLength(1);
    expect(live.child.exitCode).toBeNull();
    expect(await s.queue.counts()).toMatchObject({ completed: 2, waiting: 0, active: 0, failed: 0 });
    expect(errors).toEqual([]);

    await reclaimer.close();
    await live.kill('SIGTERM');
    expect(await live.exited).toEqual({ code: 0, signal: null });
  });

  it('(c) fails a job that kills its process every time after maxStalls stalls', async () => {
    const s = await setUp('crash-c');
    const MAX_STALLS = 2;
    const poison = await s.queue.add('poison', { crash: true } satisfies FixtureJobData, {
      jobId: 'poison',
      attempts: 5,
      priority: 'low',
    });

    // Keep one worker process alive at all times: each one takes the poison job (the
    // first fetches it; later ones reclaim it after stallTimeout) and dies of it,
    // until a reclaim finds it has stalled more than maxStalls times and fails it.
    const processes: FixtureProcess[] = [];
    const deadline = Date.now() + 90_000;
    let final: Job | null = null;
    for (;;) {
      const proc = s.spawnWorker({ maxStalls: MAX_STALLS });
      processes.push(proc);
      await proc.waitForLine(/^ready /, 60_000);
      const outcome = await waitUntil(
        async () => {
          if (proc.child.exitCode !== null || proc.child.signalCode !== null) return 'died' as const;
          return (await s.queue.getJob(poison.id))?.state === 'failed' ? ('failed' as const) : null;
        },
        { timeoutMs: Math.max(1, deadline - Date.now()), intervalMs: 100, message: 'the worker to die or the poison job to fail' },
      );
      if (outcome === 'failed') {
        final = await s.queue.getJob(poison.id);
        break;
      }
      expect(await proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
      if (processes.length > MAX_STALLS + 3) throw new Error(`spawned ${processes.length} processes and the poison job has not failed`);
    }

    const starts = Number(await s.redis.hGet(`${s.recordKey}:starts`, poison.id));
    expect(starts).toBe(MAX_STALLS + 1);
    expect(await s.redis.hGet(`${s.recordKey}:done`, poison.id)).toBeNull();
    // One process per start died of it; the last one reclaimed and failed it and is still alive.
    expect(processes).toHaveLength(MAX_STALLS + 2);
    const survivor = processes.at(-1)!;
    expect(survivor.child.exitCode).toBeNull();
    expect(survivor.lines.some((line) => line.startsWith('active '))).toBe(false);

    // the stall failure is recorded as the job's one failed attempt (the handler never threw)
    expect(final).toMatchObject({ state: 'failed', stalls: MAX_STALLS + 1, attemptsMade: 1 });
    expect(final!.error).toMatch(/stalled/);
    expect((await s.queue.deadLetters()).map((job) => job.id)).toEqual([poison.id]);
    expect(await s.queue.counts()).toMatchObject({ failed: 1, waiting: 0, active: 0, delayed: 0, completed: 0 });

    await survivor.kill('SIGTERM');
    expect(await survivor.exited).toEqual({ code: 0, signal: null });
  });
});
