/**
 * How close to their nominal time live schedule occurrences start (issue 4:
 * "within 100 ms at p99 with a leader present"). Runs one Scheduler and one
 * Worker (scheduler: false) in this process against a real Redis (REDIS_URL,
 * else a redis-server it spawns, as the demo does), two schedules — a cron
 * every second (`* * * * * *`) and `every: 250` — for MEASURE_SECONDS
 * (default 40), and prints the start lateness of every run, i.e. `job.lateMs`
 * = handler start (Redis time) − scheduledFor, as p50/p95/p99/max, split into
 * its two legs: materialised (job created − scheduledFor: the scheduler's
 * part) and picked up (started − created: the worker's part).
 *
 * Run with `pnpm measure:schedule`. Knobs (environment): MEASURE_SECONDS,
 * MEASURE_POLL_INTERVAL (the Scheduler's pollInterval, default its own 200),
 * MEASURE_LOCK_TTL (default the Scheduler's 5000).
 */
import { cpus, loadavg } from 'node:os';
import { Queue, RedisConnection } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { Scheduler } from '@streamjobs/scheduler';
import { provideRedis, testPrefix } from '@streamjobs/testing';

const TARGET_P99_MS = 100;
const seconds = envNumber('MEASURE_SECONDS', 40);
const pollInterval = envNumber('MEASURE_POLL_INTERVAL', undefined);
const lockTtl = envNumber('MEASURE_LOCK_TTL', undefined);

const say = (text = '') => process.stdout.write(`${text}\n`);

interface Sample {
  scheduleId: string;
  scheduledFor: number;
  /** job.lateMs: startedAt (Redis time, set when the worker claimed it) − scheduledFor. */
  lateMs: number;
  /** Job created (materialised, Redis time) − scheduledFor. */
  materialisedMs: number;
  /** startedAt − created. */
  pickupMs: number;
  /** Handler entry (this process's clock) − scheduledFor. */
  handlerMs: number;
}

const redis = await provideRedis();
const connection = { url: redis.url };
const prefix = testPrefix('measure');
const queueName = 'measure';
const info = RedisConnection.create(connection);
const redisVersion = /redis_version:(\S+)/.exec(String(await info.call(['INFO', 'server'])))?.[1] ?? 'unknown';
info.close();

const cpu = cpus();
say(`measure:schedule — start lateness of live schedule occurrences (target p99 ≤ ${TARGET_P99_MS} ms)`);
say(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
say(`node ${process.version}; Redis ${redisVersion} at ${redis.url} (${redis.source}); key prefix ${prefix}`);
say(
  `scheduler: pollInterval ${pollInterval ?? '200 (default)'} ms, lockTtl ${lockTtl ?? '5000 (default)'} ms; ` +
    `one Worker (concurrency 10, scheduler: false); ${seconds} s`,
);

const queue = new Queue(queueName, { connection, prefix });
const samples: Sample[] = [];
const errors: Error[] = [];
const scheduler = new Scheduler({
  connection,
  prefix,
  queues: [queueName],
  ...(pollInterval !== undefined ? { pollInterval } : {}),
  ...(lockTtl !== undefined ? { lockTtl } : {}),
});
scheduler.on('error', (err) => errors.push(err));
const worker = new Worker(
  queueName,
  async (job) => {
    const handlerAt = Date.now();
    samples.push({
      scheduleId: job.scheduleId!,
      scheduledFor: job.scheduledFor!,
      lateMs: job.lateMs!,
      materialisedMs: job.createdAt - job.scheduledFor!,
      pickupMs: job.startedAt - job.createdAt,
      handlerMs: handlerAt - job.scheduledFor!,
    });
  },
  { connection, prefix, concurrency: 10, scheduler: false },
);
worker.on('error', (err) => errors.push(err));

try {
  await worker.waitUntilReady();
  const electedBy = Date.now() + 30_000;
  while (!scheduler.isLeader(queueName)) {
    if (Date.now() > electedBy) throw new Error('the scheduler was not elected within 30 s');
    await sleep(20);
  }
  const schedules = [
    { id: 'cron-1s', spec: { cron: '* * * * * *' } },
    { id: 'every-250', spec: { every: 250 } },
  ];
  for (const { id, spec } of schedules) await queue.schedule(id, spec, { name: id });
  const startedAt = Date.now();
  say(`measuring for ${seconds} s...`);
  while (Date.now() - startedAt < seconds * 1000) {
    await sleep(5_000);
    say(`  ${Math.round((Date.now() - startedAt) / 1000)} s: ${samples.length} runs`);
  }
  for (const { id } of schedules) await queue.pauseSchedule(id);
  // let what was materialised before the pause run
  const drainBy = Date.now() + 10_000;
  for (;;) {
    const counts = await queue.counts();
    if (counts.waiting + counts.active === 0 || Date.now() > drainBy) break;
    await sleep(50);
  }

  say();
  say('start lateness (ms)                      n     p50    p95    p99    max');
  const row = (label: string, values: number[]) =>
    say(
      `${label.padEnd(36)} ${String(values.length).padStart(5)} ${[50, 95, 99, 100]
        .map((p) => String(percentile(values, p)).padStart(6))
        .join(' ')}`,
    );
  for (const { id } of schedules) {
    row(`${id}: job.lateMs`, samples.filter((s) => s.scheduleId === id).map((s) => s.lateMs));
  }
  row('all: job.lateMs', samples.map((s) => s.lateMs));
  row('all: materialised (created − nominal)', samples.map((s) => s.materialisedMs));
  row('all: picked up (started − created)', samples.map((s) => s.pickupMs));
  row('all: handler entry − nominal', samples.map((s) => s.handlerMs));

  say();
  let intact = true;
  for (const { id } of schedules) {
    const schedule = (await queue.getSchedule(id))!;
    const nominal = samples.filter((s) => s.scheduleId === id).map((s) => s.scheduledFor);
    const unique = new Set(nominal).size;
    const ok = unique === nominal.length && nominal.length === schedule.runs && schedule.missed === 0 && schedule.skipped === 0;
    intact &&= ok;
    say(
      `${id}: ${nominal.length} runs (${unique} distinct occurrences), schedule says runs ${schedule.runs}, ` +
        `missed ${schedule.missed}, skipped ${schedule.skipped}${ok ? '' : '  <-- MISMATCH'}`,
    );
  }
  const early = samples.filter((s) => s.handlerMs < 0).length;
  if (early > 0) say(`${early} runs entered their handler before their nominal time  <-- WRONG`);
  if (errors.length > 0) say(`errors: ${errors.map((e) => e.message).join('; ')}`);

  const p99 = percentile(samples.map((s) => s.lateMs), 99);
  say();
  say(
    p99 <= TARGET_P99_MS
      ? `RESULT: p99 start lateness ${p99} ms ≤ ${TARGET_P99_MS} ms: target met`
      : `RESULT: p99 start lateness ${p99} ms > ${TARGET_P99_MS} ms: target MISSED`,
  );
  if (!intact || early > 0 || errors.length > 0) process.exitCode = 1;
} finally {
  await worker.close();
  await scheduler.close();
  for (const id of ['cron-1s', 'every-250']) await queue.unschedule(id).catch(() => false);
  await queue.close();
  await redis.stop();
}

/** Nearest-rank percentile; p = 100 is the max. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const ordered = [...values].sort((a, b) => a - b);
  return ordered[Math.min(ordered.length - 1, Math.max(0, Math.ceil((p / 100) * ordered.length) - 1))]!;
}

function envNumber(name: string, fallback: number): number;
function envNumber(name: string, fallback: undefined): number | undefined;
function envNumber(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${JSON.stringify(raw)})`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
