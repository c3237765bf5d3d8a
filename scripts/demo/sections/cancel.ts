/** A waiting job and a running one are canceled; the running handler's signal aborts. */
import type { Section } from '../section.js';
import { deferred, within } from '../observe.js';

export const cancelAnything: Section = {
  slug: 'cancel',
  title: 'Cancel',
  premise: 'one job running (it honours its signal), one waiting behind it (concurrency 1); both canceled',
  async run({ board, queue, worker }) {
    let canceledAt = 0;
    const aborted = deferred<number>();
    const runner = worker(
      (job, { signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted.resolve(Date.now() - canceledAt);
            board.log('aborted', `${job.name}'s signal: ${(signal.reason as Error).message}`);
            reject(signal.reason);
          });
        }),
      { concurrency: 1 },
    );
    const started = new Promise<void>((resolve) => runner.once('active', () => resolve()));
    const running = await queue.add('report', {}, { attempts: 3 });
    const waiting = await queue.add('export', {});
    board.track(running);
    board.track(waiting);
    board.waitingFor('report to start');
    await started;
    canceledAt = Date.now();
    const answers = await queue.cancel([running.id, waiting.id], { reason: 'no longer needed', by: 'demo' });
    board.log('canceled', `cancel(report, export) answered ${JSON.stringify(answers)}`);
    const [doneRunning, doneWaiting] = await Promise.all([queue.waitFor(running.id), queue.waitFor(waiting.id)]);
    board.move(waiting.id, doneWaiting.state);
    const abortedAfter = await within(aborted.promise, 10_000, "the running job's abort");
    const shown =
      answers.every(Boolean) &&
      doneRunning.state === 'canceled' &&
      doneRunning.attemptsMade === 0 &&
      doneWaiting.state === 'canceled' &&
      !board.startOrder().includes('export');
    const text =
      `report's signal aborted ${abortedAfter} ms after cancel(); report ${doneRunning.state}, not retried ` +
      `(failed attempts: ${doneRunning.attemptsMade}); export ${doneWaiting.state} and never started`;
    return { ok: shown, text: shown ? text : `expected both canceled, report not retried, export never run; got: ${text}` };
  },
};
