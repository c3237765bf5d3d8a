/** close() lets short jobs finish and hands long ones back to another worker at once. */
import type { Job } from '@streamjobs/core';
import type { JobContext } from '@streamjobs/worker';
import type { Section } from '../section.js';

const GRACE_MS = 1_000;

/** Sleeps `data.ms`, or rejects when the signal aborts. */
const sleeper = (by: string) => (job: { name: string; data: { ms: number } }, { signal }: JobContext) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ by, name: job.name }), job.data.ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

export const gracefulHandBack: Section = {
  slug: 'handback',
  title: 'Graceful close',
  premise: `worker A runs a 100 ms job and a 30 s job, then closes with a ${GRACE_MS / 1000} s grace; worker B waits idle`,
  async run({ board, queue, worker }) {
    const workerA = worker(sleeper('A'), { concurrency: 2, closeTimeout: GRACE_MS, label: 'A' });
    await workerA.waitUntilReady();
    const bothRunning = new Promise<void>((resolve) => workerA.on('active', () => workerA.activeCount === 2 && resolve()));
    const short = await queue.add('short', { ms: 100 });
    const long = await queue.add('long', { ms: 30_000 });
    board.track(short);
    board.track(long);
    board.waitingFor('A to start both');
    await bothRunning;
    workerA.on('lost', (job) => board.log('handed-back', `${job.name}: A aborted it after the grace and gave it back`));
    const workerB = worker(async (job) => ({ by: 'B', name: job.name }), { concurrency: 2, label: 'B' });
    await workerB.waitUntilReady();
    const closedAt = Date.now();
    board.waitingFor(`A to close (grace ${GRACE_MS / 1000} s)`);
    await workerA.close();
    const [doneShort, doneLong] = await Promise.all([queue.waitFor(short.id), queue.waitFor(long.id)]);
    const by = (job: Job) => (job.result as { by: string } | undefined)?.by;
    const shown = by(doneShort) === 'A' && by(doneLong) === 'B' && doneLong.stalls === 0 && doneLong.attemptsMade === 0;
    const text =
      `short ${doneShort.state} by ${by(doneShort)} within the grace; long handed back and ${doneLong.state} by ${by(doneLong)} ` +
      `${((Date.now() - closedAt) / 1000).toFixed(2)} s after close() began (stalls: ${doneLong.stalls}, failed attempts: ${doneLong.attemptsMade})`;
    return { ok: shown, text: shown ? text : `expected short done by A, long by B with no stall or failed attempt; got: ${text}` };
  },
};
