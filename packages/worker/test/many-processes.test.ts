/**
 * Many worker processes share one queue: 10,000 jobs over the four default
 * tiers, three worker child processes with concurrency 20 each. Every job must
 * run exactly once and complete; nothing is lost, nothing runs twice.
 *
 * Runs are counted in Redis by the worker fixture (packages/testing/src/fixtures/worker-process.ts):
 * `<recordKey>:starts` and `<recordKey>:done` (job id -> count), `<recordKey>:order` (`id|pid|ms`).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, type BulkJob } from '@streamjobs/core';
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

const TIERS = ['critical', 'high', 'normal', 'low'] as const;
const TOTAL = 10_000;
const BATCH = 1_000;
const PROCESSES = 3;
const CONCURRENCY = 20;

function trackProcess(proc: FixtureProcess): FixtureProcess {
  open.track({ close: () => proc.kill('SIGKILL') });
  return proc;
}

describe('many worker processes on one queue', () => {
  it(`runs ${TOTAL} jobs over ${TIERS.length} tiers in ${PROCESSES} processes exactly once each`, async () => {
    const prefix = testPrefix('many');
    const queueName = 'many';
    const recordKey = `${prefix}:records`;
    const redis = await rawClient();
    open.track({ close: () => redis.destroy() });
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));

    const config: WorkerFixtureConfig = {
      url: redisUrl(),
      prefix,
      queue: queueName,
      recordKey,
      concurrency: CONCURRENCY,
      // The default (30 s): no job may be reclaimed from a live worker, so any
      // second run would be a bug, not a stall.
      stallTimeout: 30_000,
      scheduler: false,
    };
    const workers = Array.from({ length: PROCESSES }, () => trackProcess(spawnFixture('worker-process', config)));
    await Promise.all(workers.map((worker) => worker.waitForLine(/^ready /, 60_000)));

    // Add while the workers run, in batches of 1,000, spread round-robin over the tiers.
    const ids: string[] = [];
    const perTier = new Map<string, number>();
    for (let start = 0; start < TOTAL; start += BATCH) {
      const batch: BulkJob<FixtureJobData & { n: number }>[] = [];
      for (let n = start; n < start + BATCH; n++) {
        const priority = TIERS[n % TIERS.length]!;
        // Most jobs return at once; some sleep a few ms, so slots free up out of order.
        batch.push({ name: 'count', data: { n, sleepMs: n % 7 === 0 ? 1 + (n % 5) : 0 }, opts: { priority, jobId: `job-${n}` } });
      }
      const added = await queue.addBulk(batch);
      expect(added).toHaveLength(BATCH);
      for (const job of added) {
        ids.push(job.id);
        perTier.set(job.priority, (perTier.get(job.priority) ?? 0) + 1);
      }
    }
    expect(new Set(ids).size).toBe(TOTAL);
    expect(Object.fromEntries(perTier)).toEqual({ critical: 2_500, high: 2_500, normal: 2_500, low: 2_500 });

    let last = await queue.counts();
    await waitUntil(
      async () => {
        last = await queue.counts();
        return last.completed === TOTAL && last.waiting === 0 && last.active === 0;
      },
      { timeoutMs: 120_000, intervalMs: 250, message: `all ${TOTAL} jobs completed` },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last counts ${JSON.stringify(last)}`);
    });

    // Every worker process is still alive: nothing crashed along the way.
    for (const worker of workers) expect(worker.child.exitCode).toBeNull();

    const counts = await queue.counts();
    expect(counts).toMatchObject({ completed: TOTAL, waiting: 0, active: 0, delayed: 0, failed: 0, canceled: 0 });
    expect(counts.waitingByTier).toEqual({ critical: 0, high: 0, normal: 0, low: 0 });

    // Exactly one start and one finish per job id, and no id we did not add.
    const starts = await redis.hGetAll(`${recordKey}:starts`);
    const done = await redis.hGetAll(`${recordKey}:done`);
    const ranTwice = Object.entries(starts).filter(([, count]) => count !== '1');
    expect(ranTwice).toEqual([]);
    expect(Object.keys(starts).sort()).toEqual([...ids].sort());
    expect(Object.entries(done).filter(([, count]) => count !== '1')).toEqual([]);
    expect(Object.keys(done).sort()).toEqual([...ids].sort());
    expect(await redis.lLen(`${recordKey}:order`)).toBe(TOTAL);

    // The work was shared: each process ran some of it.
    const order = await redis.lRange(`${recordKey}:order`, 0, -1);
    const perPid = new Map<number, number>();
    for (const line of order) {
      const pid = Number(line.split('|')[1]);
      perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
    }
    expect([...perPid.keys()].sort()).toEqual(workers.map((worker) => worker.pid).sort());
    for (const count of perPid.values()) expect(count).toBeGreaterThan(0);

    // Every job record says completed, on its first attempt, never stalled (the counters stay absent).
    const stateCounts = new Map<string, number>();
    for (let start = 0; start < TOTAL; start += BATCH) {
      const replies = await Promise.all(
        ids.slice(start, start + BATCH).map((id) => redis.hmGet(queue.keys.job(id), ['state', 'stalls', 'attemptsMade'])),
      );
      for (const [state, stalls, attemptsMade] of replies) {
        const key = `${state}/${stalls}/${attemptsMade}`;
        stateCounts.set(key, (stateCounts.get(key) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(stateCounts)).toEqual({ 'completed/null/null': TOTAL });

    // Graceful exit of all three processes.
    for (const worker of workers) worker.child.kill('SIGTERM');
    const exits = await Promise.all(workers.map((worker) => worker.exited));
    for (const exit of exits) expect(exit).toEqual({ code: 0, signal: null });
  });
});
