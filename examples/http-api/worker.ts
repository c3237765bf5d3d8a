/**
 * The worker of the HTTP API example, in a process of its own: runs the
 * report jobs the API adds, `WORKER_CONCURRENCY` (default 2) at a time,
 * highest priority first, reporting progress page by page. Start as many of
 * these processes as you like; stop one with SIGTERM or Ctrl-C and it
 * finishes (or hands back) its jobs first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@streamjobs/worker';
import { connection, prefix } from '../redis.js';

const PAGE_MS = 100;

const worker = new Worker<{ pages: number }>(
  'reports',
  async (job, ctx) => {
    for (let page = 1; page <= job.data.pages; page++) {
      await sleep(PAGE_MS, undefined, { signal: ctx.signal }); // render one page
      await ctx.progress({ page, of: job.data.pages });
    }
    return { pages: job.data.pages, renderedBy: process.pid };
  },
  { connection, prefix, concurrency: Number(process.env.WORKER_CONCURRENCY || 2) },
);
worker.on('active', (job) => console.log(`started ${job.id} (${job.priority})`));
worker.on('completed', (job) => console.log(`completed ${job.id}`));
worker.on('failed', (job, err) => console.log(`failed ${job.id}: ${err.message}`));

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void worker.close());
await worker.waitUntilReady();
console.log('ready');
