/** The docker-compose `producer` service: adds a steady mix of prioritised and delayed jobs. */
import { Queue } from '@streamjobs/core';

const queue = new Queue('compose', { connection: { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } });
const tiers = ['critical', 'high', 'normal', 'low'];
let n = 0;
const timer = setInterval(() => {
  n += 1;
  const priority = tiers[n % tiers.length]!;
  const delay = n % 5 === 0 ? 2_000 : 0;
  void queue.add(`job-${n}`, { ms: 50 + (n % 10) * 20 }, { priority, delay, attempts: 3, backoff: 500 });
}, 100);
process.once('SIGTERM', () => {
  clearInterval(timer);
  void queue.close().then(() => process.exit(0));
});
