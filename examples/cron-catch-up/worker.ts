/**
 * Runs the `cron` queue's jobs, one at a time. It runs no scheduler of its own
 * (`scheduler: false`), so that stopping scheduler.ts alone is an outage.
 *
 * Prints `ran <schedule> <nominal time, ms> (<ISO>) late <ms>` for each run:
 * `job.scheduledFor` is the occurrence's nominal time, whenever the run starts.
 */
import { Worker } from '@streamjobs/worker';
import { connection, prefix } from '../redis.js';

const worker = new Worker(
  'cron',
  async (job) => {
    console.log(`ran ${job.scheduleId} ${job.scheduledFor} (${new Date(job.scheduledFor!).toISOString()}) late ${job.lateMs}`);
    return { for: job.scheduledFor };
  },
  { connection, prefix, concurrency: 1, scheduler: false },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void worker.close());
await worker.waitUntilReady();
console.log('ready');
