/**
 * One benchmark worker process, for either library. Spawned by run.ts with an
 * IPC channel and its config as JSON in BENCH_WORKER. Protocol (IPC messages):
 *
 *   child → { type: 'ready' }                 modules loaded, nothing connected yet
 *   parent → { type: 'go' }                   construct the Worker (library defaults
 *                                             except concurrency) and start taking jobs
 *   child → { type: 'started' }               the Worker is connected and ready
 *   child → { type: 'progress', done, firstStartAt, lastDoneAt }
 *                                             at most every 10 ms while jobs complete
 *   parent → { type: 'stop' }                 close the Worker gracefully
 *   child → { type: 'result', ... }           counts, CPU, latencies; then it exits
 *
 * Times are epoch ms with µs digits (`performance.timeOrigin + performance.now()`),
 * comparable across processes on this machine.
 */
import type { BenchWorkerConfig, ChildMessage, JobData, ParentMessage } from './protocol.js';

const config = JSON.parse(process.env.BENCH_WORKER ?? '{}') as BenchWorkerConfig;
const now = () => performance.timeOrigin + performance.now();
const send = (message: ChildMessage) => process.send!(message);

// The parent is gone (crashed or killed): do not linger.
process.on('disconnect', () => process.exit(2));

interface Running {
  close(): Promise<void>;
  ready(): Promise<void>;
}

let done = 0;
let failed = 0;
let firstStartAt = 0;
let lastDoneAt = 0;
let cpuAtFirstStart: NodeJS.CpuUsage | undefined;
let cpuAtLastDone: NodeJS.CpuUsage | undefined;
const latencies: number[] = [];

/** Called first thing in each handler: the same work for both libraries. */
function onStart(data: JobData | undefined): void {
  const at = now();
  if (firstStartAt === 0) {
    firstStartAt = at;
    cpuAtFirstStart = process.cpuUsage();
  }
  // `w`: a warm-up job of the latency run, not recorded.
  if (config.mode === 'latency' && data && typeof data.t === 'number' && !data.w) latencies.push(at - data.t);
}

function onCompleted(): void {
  done++;
  lastDoneAt = now();
}

// Load the library before 'ready', so module loading is not timed.
let start: () => Running;
if (config.lib === 'streamjobs') {
  const { Worker } = await import('@streamjobs/worker');
  start = () => {
    const worker = new Worker(
      config.queue,
      async (job) => {
        onStart(job.data as JobData);
        return undefined;
      },
      { connection: { url: config.url }, prefix: config.prefix, concurrency: config.concurrency },
    );
    worker.on('completed', onCompleted);
    worker.on('failed', () => void failed++);
    worker.on('error', (err) => process.stderr.write(`streamjobs worker error: ${err.message}\n`));
    return { close: () => worker.close(), ready: () => worker.waitUntilReady() };
  };
} else {
  const { Worker } = await import('bullmq');
  start = () => {
    const worker = new Worker(
      config.queue,
      async (job) => {
        onStart(job.data as JobData);
        return undefined;
      },
      { connection: { host: config.host, port: config.port }, concurrency: config.concurrency },
    );
    worker.on('completed', onCompleted);
    worker.on('failed', () => void failed++);
    worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
    return { close: () => worker.close(), ready: () => worker.waitUntilReady() };
  };
}

let running: Running | undefined;
let ticker: NodeJS.Timeout | undefined;
let reported = -1;

process.on('message', (message: ParentMessage) => {
  if (message.type === 'go') {
    running = start();
    void running.ready().then(
      () => send({ type: 'started' }),
      (err: Error) => {
        process.stderr.write(`worker did not start: ${err.message}\n`);
        process.exit(3);
      },
    );
    ticker = setInterval(() => {
      if (done === reported) return;
      reported = done;
      cpuAtLastDone = process.cpuUsage();
      send({ type: 'progress', done, failed, firstStartAt, lastDoneAt });
    }, 10);
  } else if (message.type === 'stop') {
    clearInterval(ticker);
    void (async () => {
      await running?.close();
      // CPU from the first handler start to the tick that saw the last completion (not the close).
      const cpuUs =
        cpuAtFirstStart && cpuAtLastDone
          ? cpuAtLastDone.user - cpuAtFirstStart.user + (cpuAtLastDone.system - cpuAtFirstStart.system)
          : 0;
      send({ type: 'result', done, failed, firstStartAt, lastDoneAt, cpuUs, latencies });
      process.disconnect();
    })().catch((err: Error) => {
      process.stderr.write(`close failed: ${err.message}\n`);
      process.exit(4);
    });
  }
});

send({ type: 'ready' });
