/**
 * One chaos run against a Redis of its own: real worker and scheduler
 * processes, killed for real while jobs are added, canceled and run; then the
 * checks of verify.ts. `run.ts` is the command line around it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, RedisConnection } from '@streamjobs/core';
import { mulberry32, spawnFixture, testPrefix, type ChaosWorkerConfig } from '@streamjobs/testing';
import { Fleet } from './fleet.js';
import { Killer } from './killer.js';
import { planJobs } from './plan.js';
import { Producer } from './producer.js';
import { verify, type Verdict } from './verify.js';

export interface ChaosOptions {
  /** A Redis the run may fill (it writes under a fresh key prefix only). */
  url: string;
  /** Jobs added during the chaos phase (schedule occurrences come on top). */
  jobs: number;
  /** Length of the chaos phase: adds, kills and the schedule's occurrences (s). */
  seconds: number;
  workers: number;
  schedulers: number;
  concurrency: number;
  stallTimeout: number;
  maxStalls: number;
  lockTtl: number;
  workerKillEveryMs: number;
  leaderKillEveryMs: number;
  /** Interval of the repeat schedule (ms). */
  every: number;
  /** How long to wait after the chaos phase for every job to reach a final state (ms). */
  drainTimeoutMs: number;
  seed: number;
  log(line: string): void;
}

export interface ChaosResult extends Verdict {
  seed: number;
  /** Chaos phase, and the wait after it until nothing was left to run (ms). */
  chaosMs: number;
  drainMs: number;
  /** Per leader kill, ms until another scheduler held the lock. */
  leaderTakeoversMs: number[];
  /** `error` events the worker processes reported. */
  workerErrors: number;
}

const QUEUE = 'chaos';
const SCHEDULE_ID = 'tick';

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { url, log } = options;
  const prefix = testPrefix('chaos');
  const recordKey = `${prefix}:records`;
  const redis = RedisConnection.create({ url });
  const queue = new Queue(QUEUE, { connection: { url }, prefix });
  const workerConfig: ChaosWorkerConfig = {
    url,
    prefix,
    queue: QUEUE,
    recordKey,
    concurrency: options.concurrency,
    stallTimeout: options.stallTimeout,
    maxStalls: options.maxStalls,
  };
  const schedulerConfig = { url, prefix, queues: [QUEUE], lockTtl: options.lockTtl };
  const workers = new Fleet(() => spawnFixture('chaos-worker', workerConfig), options.workers);
  const schedulers = new Fleet(() => spawnFixture('scheduler-process', schedulerConfig), options.schedulers);
  try {
    await Promise.all([workers.ready(/^ready /), schedulers.ready(/^started /)]);
    log(`${options.workers} worker processes (concurrency ${options.concurrency}) and ${options.schedulers} scheduler processes ready`);

    const chaosMs = options.seconds * 1_000;
    const plan = planJobs(options.jobs, chaosMs, options.seed);
    const expected = await scheduleTicks(queue, redis, options.every, chaosMs);
    const started = Date.now();
    const producer = new Producer(queue);
    const killer = new Killer(workers, schedulers, redis, {
      workerKillEveryMs: options.workerKillEveryMs,
      leaderKillEveryMs: options.leaderKillEveryMs,
      leaderKey: queue.keys.leader,
      random: mulberry32(options.seed ^ 0x5eed),
    });
    const progress = setInterval(async () => {
      const counts = await queue.counts().catch(() => undefined);
      if (!counts) return;
      log(
        `  ${secondsSince(started)}  added ${producer.acked.size}/${options.jobs}  completed ${counts.completed}  ` +
          `canceled ${counts.canceled}  killed ${killer.killedWorkerPids.length} workers, ${killer.leaderTakeoversMs.length} leaders`,
      );
    }, 5_000);
    try {
      // the killer runs to its end whatever the producer does, so nothing is spawned after cleanup
      const phase = await Promise.allSettled([producer.run(plan, started), killer.run(started + chaosMs)]);
      for (const outcome of phase) if (outcome.status === 'rejected') throw outcome.reason;
      const chaosEnded = Date.now();
      log(`chaos over after ${secondsSince(started)}; waiting for every job to reach a final state`);
      await drain(queue, options.drainTimeoutMs);
      const drainMs = Date.now() - chaosEnded;
      const verdict = await verify({
        redis,
        queue,
        recordKey,
        planned: options.jobs,
        acked: producer.acked,
        cancelAnswers: producer.cancelAnswers,
        schedule: { id: SCHEDULE_ID, expected },
        killedWorkerPids: killer.killedWorkerPids,
        leaderKills: killer.leaderTakeoversMs.length,
        concurrency: options.concurrency,
      });
      return {
        ...verdict,
        seed: options.seed,
        chaosMs: chaosEnded - started,
        drainMs,
        leaderTakeoversMs: killer.leaderTakeoversMs,
        workerErrors: workers.lines().filter((line) => line.startsWith('error ')).length,
      };
    } finally {
      clearInterval(progress);
    }
  } finally {
    await Promise.all([workers.stop(10_000), schedulers.stop(10_000)]);
    await queue.close();
    redis.close();
  }
}

/**
 * Defines the repeat schedule: every `every` ms from 1 s after now (Redis
 * time) to 1 s before the chaos phase ends, catchUp 'all'. Returns the nominal
 * times that must each run exactly once.
 */
async function scheduleTicks(queue: Queue, redis: RedisConnection, every: number, chaosMs: number): Promise<number[]> {
  const now = await serverTime(redis);
  const startAt = now + 1_000;
  const endAt = now + chaosMs - 1_000;
  await queue.schedule(
    SCHEDULE_ID,
    { every, startAt, endAt, catchUp: 'all' },
    { name: SCHEDULE_ID, data: { sleepMs: 5 }, opts: { priority: 'critical' } },
  );
  return Array.from({ length: Math.floor((endAt - startAt) / every) + 1 }, (_, k) => startAt + k * every);
}

/** Waits until nothing is waiting, running or delayed and the schedule has ended (or the deadline passed). */
async function drain(queue: Queue, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [counts, schedule] = await Promise.all([queue.counts(), queue.getSchedule(SCHEDULE_ID)]);
    if (schedule?.ended && counts.waiting + counts.active + counts.delayed === 0) return;
    await sleep(250);
  }
}

async function serverTime(redis: RedisConnection): Promise<number> {
  const [seconds, micros] = await redis.call<[string, string]>(['TIME']);
  return Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
}

function secondsSince(start: number): string {
  return `${((Date.now() - start) / 1_000).toFixed(1)}s`;
}
