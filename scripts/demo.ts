/**
 * The demo: a short, visible run of what streamjobs promises, against a real
 * Redis (REDIS_URL, else a redis-server it spawns, as the tests do).
 * Run with `pnpm demo`.
 */
import { Queue, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { provideRedis, spawnFixture, testPrefix } from '@streamjobs/testing';

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const say = (text = '') => process.stdout.write(`${text}\n`);
const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(2)}s`;

const redis = await provideRedis();
const connection = { url: redis.url };
const prefix = testPrefix('demo');
say(bold(`streamjobs demo`) + ` — Redis ${redis.url} (${redis.source}), key prefix ${prefix}`);

const queue = new Queue('demo', { connection, prefix });
const open: { close(): Promise<unknown> }[] = [queue];
try {
  await priorities();
  await delayedAndRetried();
  await crashAndReclaim();
  await gracefulHandBack();
  await cancelAnything();
  await scheduleWithCatchUp();
  await resumeAfterCrash();
  const counts = await queue.counts();
  say();
  say(bold('Final counts: ') + JSON.stringify({ ...counts, waitingByTier: undefined }));
} finally {
  for (const resource of open.reverse()) await resource.close();
  await redis.stop();
}

/** Jobs added lowest tier first, started by one worker highest tier first. */
async function priorities(): Promise<void> {
  say();
  say(bold('1. Priority tiers') + ' — 8 jobs added low → critical while no worker runs; one worker, concurrency 1:');
  const tiers = ['low', 'low', 'normal', 'normal', 'high', 'high', 'critical', 'critical'];
  const jobs = await queue.addBulk(tiers.map((tier, i) => ({ name: `${tier}-${i}`, data: {}, opts: { priority: tier } })));
  const started: string[] = [];
  const worker = new Worker('demo', async (job) => void started.push(job.name), { connection, prefix, concurrency: 1 });
  await Promise.all(jobs.map((job) => queue.waitFor(job.id)));
  await worker.close();
  say(`   added:   ${tiers.map((t, i) => `${t}-${i}`).join('  ')}`);
  say(`   started: ${started.join('  ')}`);
}

/** A delayed job runs when due; a flaky one is retried with exponential backoff. */
async function delayedAndRetried(): Promise<void> {
  say();
  say(bold('2. Delayed and retried') + ' — a job due in 1 s, and a job failing twice with exponential backoff (200 ms):');
  const attempts: number[] = [];
  const worker = new Worker(
    'demo',
    async (job) => {
      if (job.name === 'flaky') {
        attempts.push(Date.now());
        if (job.attempt < 3) throw new Error(`flaky failure ${job.attempt}`);
      }
      return { ranAt: Date.now() };
    },
    { connection, prefix, concurrency: 4 },
  );
  worker.on('retrying', (job, err) => say(`   ${job.name}: attempt ${job.attemptsMade} failed (${err.message}); retry scheduled`));
  const start = Date.now();
  const delayed = await queue.add('delayed', {}, { delay: 1_000 });
  const flaky = await queue.add('flaky', {}, { attempts: 5, backoff: { type: 'exponential', delay: 200 } });
  say(`   delayed job state right after add: ${delayed.state}`);
  const [doneDelayed, doneFlaky] = await Promise.all([queue.waitFor(delayed.id), queue.waitFor<unknown, { ranAt: number }>(flaky.id)]);
  await worker.close();
  const ranAt = (doneDelayed.result as { ranAt: number }).ranAt;
  say(`   delayed: due after 1.00s, ran after ${((ranAt - start) / 1000).toFixed(2)}s → ${doneDelayed.state}`);
  const gaps = attempts.slice(1).map((at, i) => `${at - attempts[i]!} ms`);
  say(`   flaky: ${doneFlaky.state} on attempt ${doneFlaky.attempt}; gaps between attempts: ${gaps.join(', ')}`);
}

/** A worker process is SIGKILLed mid-job; another worker reclaims its jobs after stallTimeout. */
async function crashAndReclaim(): Promise<void> {
  say();
  say(bold('3. Crash and reclaim') + ' — a worker process runs 3 long jobs and is SIGKILLed; stallTimeout is 2 s:');
  const victim = spawnFixture('worker-process', {
    url: redis.url,
    prefix,
    queue: 'demo',
    recordKey: `${prefix}:demo-records`,
    concurrency: 3,
    stallTimeout: 2_000,
  });
  await victim.waitForLine(/^ready/);
  const jobs = await queue.addBulk([1, 2, 3].map((n) => ({ name: `long-${n}`, data: { sleepMs: 60_000 } })));
  await victim.waitForLine(new RegExp(`^active ${jobs[2]!.id}`));
  const killedAt = Date.now();
  await victim.kill('SIGKILL');
  say(`   process ${victim.pid} killed with 3 jobs running`);
  const rescuer = new Worker('demo', async (job) => ({ rescuedBy: process.pid, job: job.name }), {
    connection,
    prefix,
    concurrency: 3,
    stallTimeout: 2_000,
  });
  rescuer.on('reclaimed', ({ requeued }) => say(`   after ${elapsed(killedAt)}: another worker reclaimed ${requeued} stalled job(s)`));
  const done = await Promise.all(jobs.map((job) => queue.waitFor(job.id, { timeoutMs: 20_000 })));
  await rescuer.close();
  say(`   ${done.map((job) => `${job.name}: ${job.state} (stalls: ${job.stalls})`).join(', ')} — ${elapsed(killedAt)} after the kill`);
}

/** A waiting job and a running one are canceled; the running handler's signal aborts. */
async function cancelAnything(): Promise<void> {
  say();
  say(bold('5. Cancel') + ' — one job running (it honours its signal), one waiting behind it; both canceled:');
  const aborted: string[] = [];
  let abortedAt = 0;
  const worker = new Worker(
    'demo',
    (job, { signal }) =>
      new Promise((_, reject) => {
        signal.addEventListener('abort', () => {
          abortedAt = Date.now();
          aborted.push(`${job.name} (${(signal.reason as Error).message})`);
          reject(signal.reason);
        });
      }),
    { connection, prefix, concurrency: 1 },
  );
  const running = await queue.add('report', {}, { attempts: 3 });
  const waiting = await queue.add('export', {});
  await new Promise<void>((resolve) => worker.once('active', () => resolve()));
  const canceledAt = Date.now();
  const answers = await queue.cancel([running.id, waiting.id], { reason: 'no longer needed', by: 'demo' });
  const [doneRunning, doneWaiting] = await Promise.all([queue.waitFor(running.id), queue.waitFor(waiting.id)]);
  while (aborted.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  say(`   cancel() answered ${JSON.stringify(answers)}; signal aborted ${abortedAt - canceledAt} ms later: ${aborted.join(', ')}`);
  say(`   report: ${doneRunning.state}, attempts made ${doneRunning.attemptsMade} (not retried); export: ${doneWaiting.state}, never started`);
  await worker.close();
}

/** A schedule defined while nothing runs misses occurrences; the first scheduler catches them up. */
async function scheduleWithCatchUp(): Promise<void> {
  say();
  say(bold('6. Schedules and catch-up') + ' — every 500 ms, catchUp "all"; no scheduler runs for the first 2.2 s:');
  const info = await queue.schedule('tick', { every: 500, catchUp: 'all' }, { name: 'tick', data: {} });
  const runs: string[] = [];
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  const worker = new Worker(
    'demo',
    async (job) => void runs.push(`+${job.scheduledFor! - info.anchor} ms (late ${job.lateMs} ms)`),
    { connection, prefix, concurrency: 1 },
  );
  while (runs.length < 7) await new Promise((resolve) => setTimeout(resolve, 20));
  await queue.unschedule('tick');
  await worker.close();
  say(`   caught up, oldest first: ${runs.slice(0, 4).join(', ')}`);
  say(`   then on time:            ${runs.slice(4).join(', ')}`);
}

/** A job of 6 steps; its worker process dies after step 3; another process resumes at step 4. */
async function resumeAfterCrash(): Promise<void> {
  say();
  say(bold('7. Resume') + ' — an import of 6 steps (ctx.step + ctx.checkpoint); its process is SIGKILLed after step 3:');
  const config = { url: redis.url, prefix, queue: 'resume', recordKey: `${prefix}:resume`, stallTimeout: 2_000 };
  const resumeQueue = new Queue('resume', { connection, prefix });
  open.push(resumeQueue);
  const first = spawnFixture('resumable-worker-process', config);
  await first.waitForLine(/^ready/);
  const job = await resumeQueue.add('import', { steps: 6, crashAfterStep: 3 });
  await first.exited;
  const stepsOf = (lines: string[]) => lines.filter((line) => line.startsWith(`step ${job.id} `)).map((line) => line.split(' ')[2]);
  say(`   process ${first.pid} ran steps ${stepsOf(first.lines).join(', ')} and died`);
  const second = spawnFixture('resumable-worker-process', config);
  const done = await resumeQueue.waitFor(job.id, { timeoutMs: 30_000 });
  // the fixture prints `active <id> <attempt> <job.checkpoint as JSON>` when an attempt starts
  const started = second.lines.find((line) => line.startsWith(`active ${job.id} `))?.split(' ').slice(3).join(' ');
  say(`   process ${second.pid} started with job.checkpoint ${started}, ran steps ${stepsOf(second.lines).join(', ')}`);
  say(`   the job: ${done.state} with ${(done.result as unknown[]).length} step results, stalls: ${done.stalls}`);
  await second.kill('SIGTERM');
}

/** close() lets short jobs finish and hands long ones back to another worker at once. */
async function gracefulHandBack(): Promise<void> {
  say();
  say(bold('4. Graceful close') + ' — worker A runs a 100 ms job and a 30 s job, then closes with a 1 s grace:');
  const workerA = new Worker(
    'demo',
    (job, { signal }) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve({ by: 'A', name: job.name }), (job.data as { ms: number }).ms);
        signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
      }),
    { connection, prefix, concurrency: 2, closeTimeout: 1_000 },
  );
  await workerA.waitUntilReady();
  const short = await queue.add('short', { ms: 100 });
  const long = await queue.add('long', { ms: 30_000 });
  await new Promise<void>((resolve) => workerA.on('active', () => workerA.activeCount === 2 && resolve()));
  const workerB = new Worker('demo', async (job) => ({ by: 'B', name: job.name }), { connection, prefix, concurrency: 2 });
  await workerB.waitUntilReady(); // B is idle, ready to take what A hands back
  const closedAt = Date.now();
  await workerA.close();
  const [doneShort, doneLong] = await Promise.all([queue.waitFor(short.id), queue.waitFor(long.id)]);
  await workerB.close();
  const by = (job: Job) => (job.result as { by: string }).by;
  say(`   short: ${doneShort.state} by ${by(doneShort)}; long: handed back, ${doneLong.state} by ${by(doneLong)} ${elapsed(closedAt)} after close() began`);
}
