/**
 * `pnpm bench`: streamjobs and BullMQ side by side, on one private
 * redis-server (no persistence) started here, same jobs, same concurrency,
 * each scenario `--runs` times (default 3) with the two libraries back to back
 * in alternating order, reporting medians. Prints a markdown table and writes
 * bench-results/latest.{md,json}.
 *
 *   --size N             jobs per bulk-add and processing run (default 50,000)
 *   --runs N             runs per scenario (default 3)
 *   --latency-seconds N  measured seconds of the latency run (default 10, after 1 s of warm-up)
 *   --latency-rate N     jobs/s added during the latency run (default 500)
 *   --cancels N          measured cancels per run (default 100, after 10 warm-up cancels)
 *   --only a,b           run only these scenarios: bulk, process, priority, latency, cancel
 *
 * Every worker runs in a child process of its own (worker.ts) with the
 * library's defaults except `concurrency`. Between runs the server is
 * FLUSHALLed (it is ours alone) and every run uses a fresh queue name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue as SjQueue } from '@streamjobs/core';
import { mulberry32, rawClient, spawnFixture, startRedisServer, type FixtureProcess, type RedisServerProcess } from '@streamjobs/testing';
import { Queue as BullQueue } from 'bullmq';
import type { BenchWorkerConfig, ChildMessage, JobData, Lib, Progress } from './protocol.js';

// ---------------------------------------------------------------- settings

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '3' },
    'latency-seconds': { type: 'string', default: '10' },
    'latency-rate': { type: 'string', default: '500' },
    cancels: { type: 'string', default: '100' },
    only: { type: 'string' },
  },
});
const positive = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
};
const SIZE = positive('size', args.size);
const RUNS = positive('runs', args.runs);
const LATENCY_SECONDS = positive('latency-seconds', args['latency-seconds']);
const LATENCY_RATE = positive('latency-rate', args['latency-rate']);
const LATENCY_WARMUP_SECONDS = 1;
const CANCELS = positive('cancels', args.cancels);
const CANCEL_WARMUP = 10;
const BATCH = 1_000;
const SCENARIOS = ['bulk', 'process', 'priority', 'latency', 'cancel'] as const;
type Scenario = (typeof SCENARIOS)[number];
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim())) : undefined;
for (const name of only ?? []) {
  if (!SCENARIOS.includes(name as Scenario)) throw new Error(`--only: unknown scenario ${name} (known: ${SCENARIOS.join(', ')})`);
}
const wanted = (scenario: Scenario) => !only || only.has(scenario);

/** streamjobs' default tiers, highest first; BullMQ priority = index + 1 (1 is its highest). */
const TIERS = ['critical', 'high', 'normal', 'low'] as const;
/** The processing configurations: processes × concurrency each. */
const SHAPES = [
  { procs: 1, concurrency: 1 },
  { procs: 1, concurrency: 10 },
  { procs: 1, concurrency: 100 },
  { procs: 2, concurrency: 50 },
] as const;
/** The shape whose runs also measure Redis CPU, commands, memory and worker CPU. */
const MEASURED_SHAPE = { procs: 1, concurrency: 100 };

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const workerScript = join(here, 'worker.ts');
const resultsDir = join(repoRoot, 'bench-results');
const LIBS: Lib[] = ['streamjobs', 'bullmq'];
const LIB_NAME: Record<Lib, string> = { streamjobs: 'streamjobs', bullmq: 'BullMQ' };

const now = () => performance.timeOrigin + performance.now();
const say = (text = '') => process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const fixtures = new Set<FixtureProcess>();
let redis: RedisServerProcess | undefined;
let raw: Awaited<ReturnType<typeof rawClient>> | undefined;

async function cleanUp(): Promise<void> {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  await Promise.all([...fixtures].map((fixture) => fixture.kill('SIGKILL').catch(() => undefined)));
  fixtures.clear();
  raw?.destroy();
  raw = undefined;
  await redis?.stop();
  redis = undefined;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`\n${signal}: stopping the workers and the redis-server`);
    void cleanUp().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- Redis INFO

interface RedisStats {
  cpuUs: number;
  commands: number;
  usedMemory: number;
  commandCalls: Record<string, number>;
}

async function redisStats(): Promise<RedisStats> {
  const text = String(await raw!.sendCommand(['INFO', 'cpu', 'stats', 'memory', 'commandstats']));
  const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  const commandCalls: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) commandCalls[match[1]!] = Number(match[2]);
  return {
    cpuUs: (field('used_cpu_sys') + field('used_cpu_user')) * 1e6,
    commands: field('total_commands_processed'),
    usedMemory: field('used_memory'),
    commandCalls,
  };
}

async function flushAll(): Promise<void> {
  await raw!.sendCommand(['FLUSHALL', 'SYNC']);
}

// ---------------------------------------------------------------- producers (this process)

interface JobSpec {
  data: JobData;
  /** Index into TIERS; none: the library's default (no priority). */
  tier?: number;
}

interface Producer {
  /** Connects (and, for streamjobs, initialises the queue) so the first add is not a cold start. */
  ready(): Promise<void>;
  addBulk(jobs: JobSpec[]): Promise<void>;
  add(job: JobSpec): Promise<void>;
  counts(): Promise<{ waiting: number; completed: number }>;
  close(): Promise<void>;
}

function producer(lib: Lib, queueName: string): Producer {
  const { url, port } = redis!;
  if (lib === 'streamjobs') {
    const queue = new SjQueue(queueName, { connection: { url } });
    const toBulk = (job: JobSpec) => ({
      name: 'noop',
      data: job.data,
      ...(job.tier === undefined ? {} : { opts: { priority: TIERS[job.tier]! } }),
    });
    return {
      ready: async () => void (await queue.getTiers()),
      addBulk: async (jobs) => void (await queue.addBulk(jobs.map(toBulk))),
      add: async (job) => void (await queue.add('noop', job.data, job.tier === undefined ? undefined : { priority: TIERS[job.tier]! })),
      counts: async () => {
        const counts = await queue.counts();
        return { waiting: counts.waiting, completed: counts.completed };
      },
      close: () => queue.close(),
    };
  }
  const queue = new BullQueue(queueName, { connection: { host: '127.0.0.1', port } });
  const toBulk = (job: JobSpec) => ({
    name: 'noop',
    data: job.data,
    ...(job.tier === undefined ? {} : { opts: { priority: job.tier + 1 } }),
  });
  return {
    ready: () => queue.waitUntilReady().then(() => undefined),
    addBulk: async (jobs) => void (await queue.addBulk(jobs.map(toBulk))),
    add: async (job) => {
      const { name, data, opts } = toBulk(job);
      await queue.add(name, data, opts);
    },
    counts: async () => {
      const counts = await queue.getJobCounts('wait', 'prioritized', 'completed');
      return { waiting: (counts.wait ?? 0) + (counts.prioritized ?? 0), completed: counts.completed ?? 0 };
    },
    close: () => queue.close(),
  };
}

/** A deterministic job list, so both libraries get the same priorities in the same order. */
function jobList(count: number, seed: number, withTiers: boolean): JobSpec[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, (_, i) =>
    withTiers ? { data: { i }, tier: Math.floor(random() * TIERS.length) } : { data: { i } },
  );
}

async function addAll(target: Producer, jobs: JobSpec[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += BATCH) await target.addBulk(jobs.slice(i, i + BATCH));
}

// ---------------------------------------------------------------- worker processes

class WorkerProcess {
  readonly child: ChildProcess;
  progress: Progress = { done: 0, failed: 0, firstStartAt: 0, lastDoneAt: 0 };
  readonly ready: Promise<void>;
  readonly started: Promise<void>;
  readonly result: Promise<Progress & { cpuUs: number; latencies: number[] }>;
  onProgress: () => void = () => undefined;

  constructor(config: BenchWorkerConfig) {
    this.child = spawn(process.execPath, ['--import', 'tsx', workerScript], {
      cwd: repoRoot,
      env: { ...process.env, BENCH_WORKER: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.child);
    const exited = new Promise<never>((_, reject) => {
      this.child.once('exit', (code, signal) => {
        children.delete(this.child);
        reject(new Error(`${config.lib} worker process exited (${code ?? signal}) early`));
      });
    });
    exited.catch(() => undefined);
    const waitFor = <T extends ChildMessage['type']>(type: T) =>
      Promise.race([
        new Promise<Extract<ChildMessage, { type: T }>>((resolve) => {
          const listener = (message: ChildMessage) => {
            if (message.type !== type) return;
            this.child.off('message', listener);
            resolve(message as Extract<ChildMessage, { type: T }>);
          };
          this.child.on('message', listener);
        }),
        exited,
      ]);
    this.child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') {
        this.progress = message;
        this.onProgress();
      }
    });
    this.ready = waitFor('ready').then(() => undefined);
    this.started = waitFor('started').then(() => undefined);
    this.result = waitFor('result');
    for (const promise of [this.ready, this.started, this.result]) promise.catch(() => undefined);
  }

  send(type: 'go' | 'stop'): void {
    this.child.send({ type });
  }

  /** Stops the worker gracefully and waits for its result and its exit (SIGKILL after 30 s). */
  async stop() {
    this.send('stop');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    try {
      const result = await this.result;
      if (this.child.exitCode === null && this.child.signalCode === null) {
        await new Promise((resolve) => this.child.once('exit', resolve));
      }
      return result;
    } finally {
      clearTimeout(timer);
    }
  }
}

function spawnWorkers(lib: Lib, queue: string, procs: number, concurrency: number, mode: BenchWorkerConfig['mode']) {
  const { url, port } = redis!;
  return Array.from(
    { length: procs },
    () => new WorkerProcess({ lib, url, host: '127.0.0.1', port, queue, prefix: 'sj', concurrency, mode }),
  );
}

/** Resolves once the workers together completed `total` jobs; rejects after `stallMs` without progress. */
function allDone(workers: WorkerProcess[], total: number, stallMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = -1;
    const check = () => {
      const done = workers.reduce((sum, worker) => sum + worker.progress.done, 0);
      if (done >= total) {
        clearInterval(watchdog);
        resolve();
      }
    };
    const watchdog = setInterval(() => {
      const done = workers.reduce((sum, worker) => sum + worker.progress.done, 0);
      if (done === last) {
        clearInterval(watchdog);
        reject(new Error(`no progress for ${stallMs / 1000} s: ${done} of ${total} jobs completed`));
      }
      last = done;
    }, stallMs);
    for (const worker of workers) worker.onProgress = check;
    for (const worker of workers) {
      worker.result.catch((err: Error) => {
        clearInterval(watchdog);
        reject(err);
      });
    }
    check();
  });
}

// ---------------------------------------------------------------- scenarios

let queueCounter = 0;
const freshQueue = (label: string) => `bench-${label}-${++queueCounter}`;

async function bulkAdd(lib: Lib, run: number): Promise<number> {
  await flushAll();
  const target = producer(lib, freshQueue('bulk'));
  try {
    await target.ready();
    const jobs = jobList(SIZE, run, false);
    const start = now();
    await addAll(target, jobs);
    const elapsed = now() - start;
    const { waiting } = await target.counts();
    if (waiting !== SIZE) throw new Error(`${lib}: ${waiting} jobs waiting after bulk add of ${SIZE}`);
    return (SIZE / elapsed) * 1000;
  } finally {
    await target.close();
  }
}

interface ProcessingResult {
  jobsPerSec: number;
  /** From "go" to the first handler start: connecting and starting the workers (not in jobsPerSec). */
  startupMs: number;
  workerCpuUsPerJob: number;
  redis?: { cpuUsPerJob: number; commandsPerJob: number; memoryPerJob: number; commandCalls: Record<string, number> };
}

async function processing(
  lib: Lib,
  run: number,
  shape: { procs: number; concurrency: number },
  withTiers: boolean,
  measureRedis: boolean,
): Promise<ProcessingResult> {
  await flushAll();
  const queue = freshQueue(`${withTiers ? 'prio' : 'proc'}-${shape.procs}x${shape.concurrency}`);
  const memoryBefore = (await redisStats()).usedMemory;
  const target = producer(lib, queue);
  try {
    await target.ready();
    await addAll(target, jobList(SIZE, 1_000 + run, withTiers));
  } finally {
    await target.close();
  }
  const workers = spawnWorkers(lib, queue, shape.procs, shape.concurrency, 'throughput');
  try {
    await Promise.all(workers.map((worker) => worker.ready));
    const before = await redisStats();
    const go = now();
    for (const worker of workers) worker.send('go');
    await allDone(workers, SIZE);
    const after = await redisStats();
    const results = await Promise.all(workers.map((worker) => worker.stop()));
    const done = results.reduce((sum, result) => sum + result.done, 0);
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    if (done !== SIZE || failed !== 0) throw new Error(`${lib}: ${done} completed and ${failed} failed of ${SIZE}`);
    const firstStart = Math.min(...results.filter((r) => r.firstStartAt > 0).map((r) => r.firstStartAt));
    const lastDone = Math.max(...results.map((r) => r.lastDoneAt));
    const result: ProcessingResult = {
      jobsPerSec: (SIZE / (lastDone - firstStart)) * 1000,
      startupMs: firstStart - go,
      workerCpuUsPerJob: results.reduce((sum, r) => sum + r.cpuUs, 0) / SIZE,
    };
    if (measureRedis) {
      // The workers' connections are closed now; only this process's INFO connection remains.
      const memoryAfter = (await redisStats()).usedMemory;
      const commandCalls: Record<string, number> = {};
      for (const [name, calls] of Object.entries(after.commandCalls)) {
        const delta = calls - (before.commandCalls[name] ?? 0);
        if (delta > 0) commandCalls[name] = delta / SIZE;
      }
      result.redis = {
        cpuUsPerJob: (after.cpuUs - before.cpuUs) / SIZE,
        commandsPerJob: (after.commands - before.commands) / SIZE,
        memoryPerJob: (memoryAfter - memoryBefore) / SIZE,
        commandCalls,
      };
    }
    const check = producer(lib, queue);
    try {
      const { completed } = await check.counts();
      if (completed !== SIZE) throw new Error(`${lib}: ${completed} completed jobs retained, expected ${SIZE}`);
    } finally {
      await check.close();
    }
    return result;
  } finally {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
  }
}

interface LatencyResult {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Jobs/s actually added during the measured part. */
  rate: number;
  samples: number;
}

async function latency(lib: Lib): Promise<LatencyResult> {
  await flushAll();
  const queue = freshQueue('latency');
  const target = producer(lib, queue);
  const [worker] = spawnWorkers(lib, queue, 1, 10, 'latency');
  try {
    await target.ready();
    await worker!.ready;
    worker!.send('go');
    await worker!.started;
    await sleep(200); // let it settle into waiting for jobs
    const warmUp = LATENCY_WARMUP_SECONDS * LATENCY_RATE;
    const total = warmUp + LATENCY_SECONDS * LATENCY_RATE;
    const interval = 1000 / LATENCY_RATE;
    const pending: Promise<void>[] = [];
    const start = now();
    let sent = 0;
    let measuredFrom = 0;
    while (sent < total) {
      while (sent < total && start + sent * interval <= now()) {
        if (sent === warmUp) measuredFrom = now();
        const data: JobData = sent < warmUp ? { i: sent, w: 1 } : { i: sent };
        data.t = now();
        pending.push(target.add({ data }));
        sent++;
      }
      await sleep(1);
    }
    const measuredUntil = now();
    await Promise.all(pending);
    await allDone([worker!], total, 30_000);
    const result = await worker!.stop();
    const sorted = [...result.latencies].sort((a, b) => a - b);
    if (sorted.length !== total - warmUp) throw new Error(`${lib}: ${sorted.length} latency samples, expected ${total - warmUp}`);
    return {
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1)!,
      rate: ((total - warmUp) / (measuredUntil - measuredFrom)) * 1000,
      samples: sorted.length,
    };
  } finally {
    await target.close();
    if (worker!.child.exitCode === null) worker!.child.kill('SIGKILL');
  }
}

/** streamjobs only: as scripts/measure-cancel.ts, a job waiting on its signal in another process, canceled from here. */
async function cancelLatency(): Promise<{ p50: number; p95: number; p99: number }> {
  await flushAll();
  const queueName = freshQueue('cancel');
  const prefix = 'sj';
  const recordKey = `bench:${queueName}:records`;
  const queue = new SjQueue(queueName, { connection: { url: redis!.url }, prefix });
  // The test fixture worker, with the Worker's defaults (embedded scheduler on) and concurrency 1.
  const worker = spawnFixture('worker-process', { url: redis!.url, prefix, queue: queueName, recordKey, concurrency: 1, scheduler: true });
  fixtures.add(worker);
  try {
    await worker.waitForLine(/^ready /, 60_000);
    const latencies: number[] = [];
    for (let n = 0; n < CANCEL_WARMUP + CANCELS; n++) {
      const id = `c${n}`;
      await queue.add('wait-for-cancel', { waitForAbort: true }, { jobId: id });
      await worker.waitForLine(new RegExp(`^active ${id}$`));
      const before = now();
      if (!(await queue.cancel(id, { reason: 'bench', by: 'bench' }))) throw new Error(`cancel of ${id} returned false`);
      await worker.waitForLine(new RegExp(`^aborted ${id}$`));
      const record = String(await raw!.hGet(`${recordKey}:aborts`, id));
      const [at, kind] = record.split('|');
      if (kind !== 'JobCanceledError') throw new Error(`unexpected abort of ${id}: ${record}`);
      if (n >= CANCEL_WARMUP) latencies.push(Number(at) - before);
    }
    const sorted = latencies.sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
  } finally {
    await worker.kill('SIGTERM');
    fixtures.delete(worker);
    await queue.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// ---------------------------------------------------------------- rows and report

type Better = 'higher' | 'lower';
interface Row {
  key: string;
  label: string;
  unit: string;
  better: Better;
  digits: number;
  runs: Record<Lib, number[]>;
  /** Shown instead of a BullMQ number. */
  bullmqNote?: string;
}
const rows: Row[] = [];
function row(key: string, label: string, unit: string, better: Better, digits: number, bullmqNote?: string): Row {
  let found = rows.find((r) => r.key === key);
  if (!found) {
    found = { key, label, unit, better, digits, runs: { streamjobs: [], bullmq: [] }, ...(bullmqNote ? { bullmqNote } : {}) };
    rows.push(found);
  }
  return found;
}
const details: Record<string, unknown> = {};

/** Both libraries once per run, back to back, in alternating order (drift hits both alike). */
function orderFor(run: number): Lib[] {
  return run % 2 === 0 ? LIBS : [...LIBS].reverse();
}

function logRun(label: string, run: number, lib: Lib, text: string): void {
  say(`  ${label.padEnd(26)} run ${run + 1}/${RUNS}  ${LIB_NAME[lib].padEnd(10)} ${text}`);
}

/** The table's rows, in the table's order (a row is filled by its scenario). */
function declareRows(): void {
  if (wanted('bulk')) row('bulk', `Bulk add (batches of ${fmt(BATCH)})`, 'jobs/s', 'higher', 0);
  for (const withTiers of [false, true]) {
    if (!wanted(withTiers ? 'priority' : 'process')) continue;
    for (const shape of SHAPES) {
      const label = `${withTiers ? 'Priorities' : 'Processing'} ${shape.procs} process${shape.procs > 1 ? 'es' : ''} × concurrency ${shape.concurrency}`;
      row(shapeKey(shape, withTiers), label, 'jobs/s', 'higher', 0);
    }
  }
  if (wanted('latency')) {
    row('latency-p50', 'Latency add → handler start, p50', 'ms', 'lower', 2);
    row('latency-p95', 'Latency add → handler start, p95', 'ms', 'lower', 2);
    row('latency-p99', 'Latency add → handler start, p99', 'ms', 'lower', 2);
  }
  if (wanted('process')) {
    row('redis-cpu', 'Redis CPU per job (1×100, processing only)', 'µs', 'lower', 1);
    row('redis-commands', 'Redis commands per job (1×100, processing only, incl. inside Lua)', 'commands', 'lower', 1);
    row('worker-cpu', 'Worker process CPU per job (1×100)', 'µs', 'lower', 1);
    row('memory', 'Redis memory per retained completed job', 'bytes', 'lower', 0);
  }
  if (wanted('cancel')) {
    row('cancel-p50', 'Cancel → abort in another process, p50', 'ms', 'lower', 2, CANCEL_NOTE);
    row('cancel-p99', 'Cancel → abort in another process, p99', 'ms', 'lower', 2, CANCEL_NOTE);
  }
}
const CANCEL_NOTE = 'not built in';
const shapeKey = (shape: { procs: number; concurrency: number }, withTiers: boolean) =>
  `${withTiers ? 'prio' : 'proc'}-${shape.procs}x${shape.concurrency}`;
/** A declared row. */
const rowOf = (key: string): Row => {
  const found = rows.find((r) => r.key === key);
  if (!found) throw new Error(`no row ${key}`);
  return found;
};

const startedAt = Date.now();
/** 1-minute load average when the bench started (the machine should be otherwise idle). */
let loadAtStart = 0;
declareRows();
let failure: unknown;
try {
  redis = await startRedisServer();
  process.env.REDIS_URL = redis.url; // for rawClient()
  raw = await rawClient();
  const serverInfo = String(await raw.sendCommand(['INFO', 'server']));
  const redisVersion = /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? 'unknown';
  const bullmqVersion = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
  const cpu = cpus();
  loadAtStart = loadavg()[0]!;
  const machine = {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    os: `${platform()} ${release()}`,
    node: process.version,
    redis: redisVersion,
    bullmq: bullmqVersion,
  };
  say(`streamjobs vs BullMQ ${bullmqVersion} — Redis ${redisVersion} (private redis-server, no persistence, ${redis.url})`);
  say(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${fmt(SIZE)} jobs per run, ${RUNS} run(s) per scenario`);

  if (wanted('bulk')) {
    say(`\nbulk add of ${fmt(SIZE)} jobs in batches of ${fmt(BATCH)} (sequential addBulk calls)`);
    const r = rowOf('bulk');
    for (let run = 0; run < RUNS; run++) {
      for (const lib of orderFor(run)) {
        const value = await bulkAdd(lib, run);
        r.runs[lib].push(value);
        logRun('bulk add', run, lib, `${fmt(value)} jobs/s`);
      }
    }
  }

  for (const withTiers of [false, true]) {
    if (!wanted(withTiers ? 'priority' : 'process')) continue;
    say(`\nprocessing ${fmt(SIZE)} pre-added no-op jobs${withTiers ? ', random priorities over 4 tiers' : ''}`);
    for (const shape of SHAPES) {
      const name = `${shape.procs}×${shape.concurrency}`;
      const key = shapeKey(shape, withTiers);
      const r = rowOf(key);
      const measure = !withTiers && shape.procs === MEASURED_SHAPE.procs && shape.concurrency === MEASURED_SHAPE.concurrency;
      const startup: Record<Lib, number[]> = { streamjobs: [], bullmq: [] };
      const commandCalls: Record<Lib, Record<string, number>[]> = { streamjobs: [], bullmq: [] };
      for (let run = 0; run < RUNS; run++) {
        for (const lib of orderFor(run)) {
          const result = await processing(lib, run, shape, withTiers, measure);
          r.runs[lib].push(result.jobsPerSec);
          startup[lib].push(result.startupMs);
          let text = `${fmt(result.jobsPerSec)} jobs/s (workers started in ${fmt(result.startupMs)} ms)`;
          if (measure && result.redis) {
            rowOf('redis-cpu').runs[lib].push(result.redis.cpuUsPerJob);
            rowOf('redis-commands').runs[lib].push(result.redis.commandsPerJob);
            rowOf('worker-cpu').runs[lib].push(result.workerCpuUsPerJob);
            rowOf('memory').runs[lib].push(result.redis.memoryPerJob);
            commandCalls[lib].push(result.redis.commandCalls);
            text +=
              `; Redis ${fmt(result.redis.cpuUsPerJob, 1)} µs CPU and ${fmt(result.redis.commandsPerJob, 1)} commands per job` +
              `; worker ${fmt(result.workerCpuUsPerJob, 1)} µs CPU per job; ${fmt(result.redis.memoryPerJob)} B per retained job`;
          }
          logRun(name + (withTiers ? ' priorities' : ''), run, lib, text);
        }
      }
      details[`startupMs:${key}`] = { streamjobs: startup.streamjobs, bullmq: startup.bullmq };
      if (measure) details.commandsPerJobByName = averageCalls(commandCalls);
    }
  }

  if (wanted('latency')) {
    say(`\nlatency from add to handler start: ${LATENCY_RATE} jobs/s for ${LATENCY_SECONDS} s (after ${LATENCY_WARMUP_SECONDS} s of warm-up), one worker process at concurrency 10`);
    const rates: Record<Lib, number[]> = { streamjobs: [], bullmq: [] };
    const maxima: Record<Lib, number[]> = { streamjobs: [], bullmq: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const lib of orderFor(run)) {
        const result = await latency(lib);
        rowOf('latency-p50').runs[lib].push(result.p50);
        rowOf('latency-p95').runs[lib].push(result.p95);
        rowOf('latency-p99').runs[lib].push(result.p99);
        rates[lib].push(result.rate);
        maxima[lib].push(result.max);
        logRun('latency', run, lib, `p50 ${result.p50.toFixed(2)} ms  p95 ${result.p95.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  max ${result.max.toFixed(2)} ms  (${fmt(result.samples)} jobs at ${fmt(result.rate)}/s)`);
      }
    }
    details.latencyAddRate = rates;
    details.latencyMaxMs = maxima;
  }

  if (wanted('cancel')) {
    say(`\ncancel-to-abort latency of a job running in another process (${CANCELS} cancels per run after ${CANCEL_WARMUP} warm-up)`);
    for (let run = 0; run < RUNS; run++) {
      const result = await cancelLatency();
      rowOf('cancel-p50').runs.streamjobs.push(result.p50);
      rowOf('cancel-p99').runs.streamjobs.push(result.p99);
      logRun('cancel', run, 'streamjobs', `p50 ${result.p50.toFixed(2)} ms  p95 ${result.p95.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms`);
    }
  }

  const seconds = (Date.now() - startedAt) / 1000;
  const report = buildReport(machine, seconds);
  say(`\n${report.markdown}`);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.md'), report.markdown);
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(report.json, null, 2)}\n`);
  say(`written: bench-results/latest.md, bench-results/latest.json (total ${fmt(seconds)} s)`);
} catch (err) {
  failure = err;
} finally {
  await cleanUp();
}
if (failure) {
  process.stderr.write(`bench failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : String(failure)}\n`);
  process.exit(1);
}

function averageCalls(perRun: Record<Lib, Record<string, number>[]>): Record<Lib, Record<string, number>> {
  const out = { streamjobs: {}, bullmq: {} } as Record<Lib, Record<string, number>>;
  for (const lib of LIBS) {
    const runs = perRun[lib];
    const names = new Set(runs.flatMap((calls) => Object.keys(calls)));
    const averaged = [...names].map((name) => [name, runs.reduce((sum, calls) => sum + (calls[name] ?? 0), 0) / runs.length] as const);
    out[lib] = Object.fromEntries(
      averaged.filter(([, value]) => value >= 0.001).sort((a, b) => b[1] - a[1]).map(([name, value]) => [name, Number(value.toFixed(3))]),
    );
  }
  return out;
}

/** Markdown lines: Redis commands per job by name in the 1×100 runs (mean over runs), most frequent first. */
function commandsByName(): string[] {
  const byName = details.commandsPerJobByName as Record<Lib, Record<string, number>> | undefined;
  if (!byName) return [];
  const list = (lib: Lib) =>
    Object.entries(byName[lib])
      .filter(([, perJob]) => perJob >= 0.01)
      .map(([name, perJob]) => `${name} ${fmt(perJob, 2)}`)
      .join(', ');
  return ['', 'Redis commands per job by name, 1×100 (commands run inside Lua scripts counted under their own names):', '', ...LIBS.map((lib) => `- ${LIB_NAME[lib]}: ${list(lib)}`)];
}

function buildReport(machine: Record<string, string | number>, seconds: number) {
  const date = new Date().toISOString();
  const table = rows.map((r) => {
    const sj = r.runs.streamjobs.length ? median(r.runs.streamjobs) : undefined;
    const bull = r.runs.bullmq.length ? median(r.runs.bullmq) : undefined;
    const ratio = sj === undefined || bull === undefined ? undefined : r.better === 'higher' ? sj / bull : bull / sj;
    return { ...r, streamjobs: sj, bullmq: bull, ratio };
  });
  const cell = (value: number | undefined, digits: number) => (value === undefined ? '—' : fmt(value, digits));
  const lines = [
    `## streamjobs vs BullMQ`,
    ``,
    `${date.slice(0, 10)} · ${machine.cpu}, ${machine.cores} cores · ${machine.os} · Node ${machine.node} · Redis ${machine.redis} (private redis-server on loopback, no persistence) · BullMQ ${machine.bullmq}`,
    ``,
    `Medians of ${RUNS} run${RUNS > 1 ? 's' : ''}; ${fmt(SIZE)} jobs per bulk-add and processing run. Ratio: how many times better streamjobs is (> 1: streamjobs better) — streamjobs ÷ BullMQ where higher is better, BullMQ ÷ streamjobs where lower is better.`,
    ``,
    `| metric | unit | streamjobs | BullMQ | ratio (> 1: streamjobs better) |`,
    `|---|---|--:|--:|--:|`,
    ...table.map((r) => {
      const ratio = r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}× (${r.better === 'higher' ? 'sj ÷ BullMQ' : 'BullMQ ÷ sj'})`;
      const bull = r.bullmqNote ?? cell(r.bullmq, r.digits);
      return `| ${r.label} | ${r.unit}${r.better === 'lower' ? ' (lower is better)' : ''} | ${cell(r.streamjobs, r.digits)} | ${bull} | ${ratio} |`;
    }),
    ``,
    `How it is measured:`,
    `- Every worker runs in a child process of its own, with the library's defaults except \`concurrency\` (streamjobs: embedded scheduler on; BullMQ: Worker defaults). Both keep completed jobs (their defaults: streamjobs keeps all, BullMQ's \`removeOnComplete\` unset).`,
    `- Each run: FLUSHALL, a fresh queue name, the two libraries back to back in alternating order.`,
    `- Bulk add: ${fmt(SIZE / BATCH)} sequential \`addBulk\` calls of ${fmt(BATCH)} jobs from one process, after the queue's connection is ready.`,
    `- Processing: ${fmt(SIZE)} jobs added first (not timed), then the worker processes start; jobs/s from the first handler start (any process) to the last completion (the \`completed\` event, after the library recorded it in Redis), times read in the workers. Priorities: each job gets a tier at random (the same sequence for both): streamjobs \`priority\` critical/high/normal/low, BullMQ \`priority\` 1–4.`,
    `- Redis CPU and commands per job: \`INFO\` deltas (used_cpu_sys + used_cpu_user; total_commands_processed, which counts the commands Lua scripts run too) from just before the workers start to the last completion of the 1×100 run, adding not included. Worker CPU: \`process.cpuUsage()\` of the worker process from its first handler start to its last completion.`,
    `- Memory: \`INFO memory\` used_memory after the 1×100 run (workers closed, all ${fmt(SIZE)} completed jobs retained) minus before the jobs were added, ÷ ${fmt(SIZE)}; includes each library's capped events stream.`,
    `- Latency: one process adds one job at a time (\`add\`) at ${LATENCY_RATE}/s for ${LATENCY_SECONDS} s (after ${LATENCY_WARMUP_SECONDS} s of warm-up, not counted), each carrying its send time; one worker process at concurrency 10 records now − send time when its handler starts (same machine clock).`,
    `- Cancel: as \`pnpm measure:cancel\`: a job waits on its signal in a worker process (the test fixture, defaults, concurrency 1); from \`queue.cancel()\` here to its signal firing there, ${CANCELS} cancels per run. BullMQ has no built-in cancel of a job running in another process: \`worker.cancelJob(id)\` aborts only in the process that calls it (its docs show wiring one up with its Relay pub/sub and \`worker.cancelJob\`).`,
    ``,
    `Per run (streamjobs | BullMQ):`,
    ``,
    ...table.map(
      (r) =>
        `- ${r.label}: ${r.runs.streamjobs.map((v) => fmt(v, r.digits)).join(', ') || '—'} | ${r.bullmqNote ?? (r.runs.bullmq.map((v) => fmt(v, r.digits)).join(', ') || '—')}`,
    ),
    ...commandsByName(),
    ``,
    `Total run time ${fmt(seconds)} s. Load average (1 min) at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)} (on ${machine.cores} cores; the bench itself keeps them busy).`,
    ``,
  ];
  const json = {
    date,
    machine,
    settings: {
      size: SIZE,
      runs: RUNS,
      batch: BATCH,
      latencyRate: LATENCY_RATE,
      latencySeconds: LATENCY_SECONDS,
      latencyWarmUpSeconds: LATENCY_WARMUP_SECONDS,
      cancels: CANCELS,
      retention: 'completed jobs kept on both (library defaults)',
      redisMeasuredDuring: 'processing only, 1 process × concurrency 100',
    },
    rows: table.map((r) => ({
      key: r.key,
      label: r.label,
      unit: r.unit,
      better: r.better,
      streamjobs: r.streamjobs ?? null,
      bullmq: r.bullmq ?? null,
      bullmqNote: r.bullmqNote ?? null,
      ratio: r.ratio ?? null,
      ratioIs: r.better === 'higher' ? 'streamjobs / bullmq' : 'bullmq / streamjobs',
      runs: r.runs,
    })),
    details,
    loadAverage: { start: loadAtStart, end: loadavg()[0]! },
    totalSeconds: seconds,
  };
  return { markdown: lines.join('\n'), json };
}
