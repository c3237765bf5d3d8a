/** A delayed job runs when due; a flaky one is retried with exponential backoff. */
import type { Section } from '../section.js';

const DELAY_MS = 1_000;
const BACKOFF_MS = 200;
/** Timestamps of two processes' clocks on one machine agree within this. */
const CLOCK_SLACK_MS = 10;

export const delayedAndRetried: Section = {
  slug: 'delayed',
  title: 'Delayed and retried',
  premise: `a job due in ${DELAY_MS / 1000} s, and a job failing twice with exponential backoff (${BACKOFF_MS} ms)`,
  async run({ board, queue, worker }) {
    const attemptsAt: number[] = [];
    worker(
      async (job) => {
        if (job.name === 'flaky') {
          attemptsAt.push(Date.now());
          if (job.attempt < 3) throw new Error(`flaky failure ${job.attempt}`);
        }
        return { ranAt: Date.now() };
      },
      { concurrency: 4 },
    );
    const addedAt = Date.now();
    const delayed = await queue.add('delayed', {}, { delay: DELAY_MS });
    const flaky = await queue.add('flaky', {}, { attempts: 5, backoff: { type: 'exponential', delay: BACKOFF_MS } });
    board.track(delayed);
    board.track(flaky);
    board.log('added', `delayed (state right after add: ${delayed.state}), flaky (attempts 5)`);
    board.waitingFor(`the delayed job to come due and the flaky one to succeed`);
    const [doneDelayed, doneFlaky] = await Promise.all([queue.waitFor<unknown, { ranAt: number }>(delayed.id), queue.waitFor(flaky.id)]);
    const ranAfter = doneDelayed.result!.ranAt - addedAt;
    const gaps = attemptsAt.slice(1).map((at, i) => at - attemptsAt[i]!);
    // exponential: the n-th retry waits BACKOFF_MS * 2^(n-1) at least
    const backoffKept = gaps.length === 2 && gaps.every((gap, i) => gap >= BACKOFF_MS * 2 ** i - CLOCK_SLACK_MS);
    const shown =
      delayed.state === 'delayed' &&
      doneDelayed.state === 'completed' &&
      ranAfter >= DELAY_MS - CLOCK_SLACK_MS &&
      doneFlaky.state === 'completed' &&
      doneFlaky.attempt === 3 &&
      backoffKept;
    const text =
      `delayed job ran ${(ranAfter / 1000).toFixed(2)} s after add (due in ${DELAY_MS / 1000} s); ` +
      `flaky job ${doneFlaky.state} on attempt ${doneFlaky.attempt}, ${gaps.map((gap) => `${gap} ms`).join(' then ')} between attempts`;
    return { ok: shown, text: shown ? text : `expected a delayed run after 1 s and retries 200 ms, 400 ms apart; got: ${text}` };
  },
};
