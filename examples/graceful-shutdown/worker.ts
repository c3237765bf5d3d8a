/**
 * A worker that shuts down cleanly when its container is stopped. `docker
 * stop`, a scale-down or a rolling deploy sends SIGTERM, waits (10 s by
 * default), then SIGKILLs. On SIGTERM (or Ctrl-C) this worker:
 *
 * 1. stops taking jobs;
 * 2. lets running jobs finish, for up to `closeTimeout` (CLOSE_TIMEOUT_MS,
 *    default 8,000: keep it below the container's grace period);
 * 3. aborts the jobs still running (their `signal` fires) and hands them back,
 *    so other workers start them at once instead of after `stallTimeout`;
 * 4. closes its connections, after which the process exits by itself, code 0.
 *
 * Prints `ready`, `started <job>`, `finished <job>`, `stopped <job>: <reason>`,
 * `<signal>: closing`, `closed`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@streamjobs/worker';
import { connection, prefix } from '../redis.js';

const closeTimeout = Number(process.env.CLOSE_TIMEOUT_MS || 8_000);

const worker = new Worker<{ ms: number }>(
  'emails',
  async (job, { signal }) => {
    console.log(`started ${job.id}`);
    try {
      await sleep(job.data.ms, undefined, { signal }); // the work; pass `signal` on to fetch() and the like
    } catch (err) {
      console.log(`stopped ${job.id}: ${(signal.reason as Error).message}`);
      throw err;
    }
    console.log(`finished ${job.id}`);
    return { by: process.pid };
  },
  { connection, prefix, concurrency: 4, closeTimeout },
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: closing`);
    await worker.close();
    console.log('closed'); // nothing is left open: the process ends here
  });
}
await worker.waitUntilReady();
console.log('ready');
