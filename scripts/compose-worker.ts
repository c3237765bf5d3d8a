/** The docker-compose `worker` service: runs the `compose` queue until SIGTERM, then closes gracefully. */
import { Worker } from '@streamjobs/worker';

const connection = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
const worker = new Worker(
  'compose',
  async (job, { signal }) => {
    const ms = (job.data as { ms?: number }).ms ?? 100;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    });
    return { by: worker.consumer };
  },
  { connection, concurrency: 10 },
);
worker.on('completed', (job) => console.log(`completed ${job.priority.padEnd(8)} ${job.name} ${job.id}`));
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
