/**
 * Cancel-to-abort latency of a job running in another process: one worker
 * process (the test fixture, default settings, so its heartbeat backstop runs
 * only every 10 s and what is measured is the pub/sub notice), and this
 * process adding a job that waits on its signal, waiting until it runs,
 * canceling it. Latency: from just before `queue.cancel()` here to the moment
 * the handler's signal fired there, as the fixture records it (both clocks
 * are the machine's wall clock, read to the microsecond).
 * Run with `pnpm measure:cancel` (REDIS_URL, else a redis-server it spawns).
 */
import { cpus } from 'node:os';
import { Queue } from '@streamjobs/core';
import {
  provideRedis,
  rawClient,
  spawnFixture,
  testPrefix,
  type FixtureJobData,
  type FixtureProcess,
  type WorkerFixtureConfig,
} from '@streamjobs/testing';

const RUNS = Number(process.env.RUNS ?? 200);
const WARM_UP = 10;

const say = (text = '') => process.stdout.write(`${text}\n`);
/** Epoch ms with µs digits, as the fixture records abort times. */
const now = () => performance.timeOrigin + performance.now();

const redis = await provideRedis();
process.env.REDIS_URL = redis.url; // for rawClient()
const prefix = testPrefix('measure-cancel');
const queueName = 'measure';
const recordKey = `${prefix}:records`;
const queue = new Queue(queueName, { connection: { url: redis.url }, prefix });
const raw = await rawClient();
let worker: FixtureProcess | undefined;

try {
  const info = String(await raw.sendCommand(['INFO', 'server']));
  const version = /(?:redis|valkey)_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  const cpu = cpus();
  say(`cancel-to-abort latency, job running in another process`);
  say(`machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores; Node ${process.version}`);
  say(`Redis ${version} at ${redis.url} (${redis.source}), loopback`);

  const config: WorkerFixtureConfig = { url: redis.url, prefix, queue: queueName, recordKey, concurrency: 1, scheduler: false };
  worker = spawnFixture('worker-process', config);
  await worker.waitForLine(/^ready /, 60_000);

  const data: FixtureJobData = { waitForAbort: true };
  const latencies: number[] = [];
  for (let run = 0; run < WARM_UP + RUNS; run++) {
    const id = `m${run}`;
    await queue.add('wait-for-cancel', data, { jobId: id });
    await worker.waitForLine(new RegExp(`^active ${id}$`));
    const before = now();
    if (!(await queue.cancel(id, { reason: 'measure', by: 'measure-cancel' }))) throw new Error(`cancel of ${id} returned false`);
    await worker.waitForLine(new RegExp(`^aborted ${id}$`));
    const record = await raw.hGet(`${recordKey}:aborts`, id);
    const [at, kind, reason] = String(record).split('|');
    if (kind !== 'JobCanceledError' || reason !== 'measure') throw new Error(`unexpected abort of ${id}: ${record}`);
    if (run >= WARM_UP) latencies.push(Number(at) - before);
  }

  const counts = await queue.counts();
  if (counts.canceled !== WARM_UP + RUNS || counts.active !== 0) {
    throw new Error(`expected ${WARM_UP + RUNS} canceled jobs and none active, got ${JSON.stringify(counts)}`);
  }

  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const ms = (value: number) => `${value.toFixed(2)} ms`;
  say(`${RUNS} cancels (after ${WARM_UP} warm-up cancels, not counted), one at a time:`);
  say(`  p50 ${ms(pct(50))}   p95 ${ms(pct(95))}   p99 ${ms(pct(99))}   max ${ms(sorted.at(-1)!)}   (min ${ms(sorted[0]!)})`);
} finally {
  if (worker) {
    const closed = worker.kill('SIGTERM');
    const timeout = setTimeout(() => void worker?.kill('SIGKILL'), 15_000);
    await closed;
    clearTimeout(timeout);
  }
  await queue.close();
  // leave nothing behind in a Redis we did not start
  for await (const keys of raw.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1_000 })) {
    if (keys.length > 0) await raw.unlink(keys);
  }
  raw.destroy();
  await redis.stop();
}
