/** Jobs added lowest tier first, started by one worker highest tier first. */
import type { Section } from '../section.js';

const TIERS = ['low', 'low', 'normal', 'normal', 'high', 'high', 'critical', 'critical'];

export const priorities: Section = {
  slug: 'priorities',
  title: 'Priority tiers',
  premise: '8 jobs added low → critical while no worker runs; then one worker, concurrency 1',
  async run({ board, queue, worker }) {
    const jobs = await queue.addBulk(TIERS.map((tier, i) => ({ name: `${tier}-${i}`, data: {}, opts: { priority: tier } })));
    for (const job of jobs) board.track(job);
    board.log('added', `${jobs.map((job) => job.name).join(' ')} (lowest tier first)`);
    worker(async () => undefined, { concurrency: 1, quiet: ['completed'] });
    board.waitingFor('one worker running them one at a time');
    await Promise.all(jobs.map((job) => queue.waitFor(job.id)));
    // expected: tiers highest first, and within a tier the order they were added in
    const expected = [...jobs].sort((a, b) => a.tier - b.tier).map((job) => job.name);
    const started = board.startOrder();
    return started.join() === expected.join()
      ? { ok: true, text: `started highest tier first, in the order added within a tier: ${started.join(' ')}` }
      : { ok: false, text: `expected start order ${expected.join(' ')}, got ${started.join(' ')}` };
  },
};
