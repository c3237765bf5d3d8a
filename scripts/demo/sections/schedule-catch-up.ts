/** A schedule defined while nothing runs misses occurrences; the first scheduler catches them up, oldest first. */
import { setTimeout as sleep } from 'node:timers/promises';
import { deferred, within } from '../observe.js';
import type { Section } from '../section.js';

const EVERY_MS = 500;
/** How long no scheduler runs after the schedule is defined. */
const GAP_MS = 2_200;
const ON_TIME_RUNS = 3;

interface Run {
  /** Nominal time, from the schedule's anchor. */
  at: number;
  lateMs: number;
  caughtUp: boolean;
}

export const scheduleCatchUp: Section = {
  slug: 'schedule',
  title: 'Schedules and catch-up',
  premise: `every ${EVERY_MS} ms, catchUp "all"; no scheduler runs for the first ${GAP_MS / 1000} s`,
  async run({ board, queue, worker }) {
    const { anchor } = await queue.schedule('tick', { every: EVERY_MS, catchUp: 'all' }, { name: 'tick', data: {} });
    board.waitingFor(`${GAP_MS / 1000} s with no scheduler running: occurrences go by unrun`);
    await sleep(GAP_MS); // the premise, not a wait for something to happen
    const schedulerFrom = Date.now();
    // occurrences fall at anchor + k * EVERY_MS (k >= 1); those before schedulerFrom were missed
    const missed = Math.ceil((schedulerFrom - anchor) / EVERY_MS) - 1;
    board.log('started', `a worker and its scheduler; ${missed} occurrences were missed`);
    const runs: Run[] = [];
    board.measure(missed + ON_TIME_RUNS, 'runs', () => runs.length);
    const ranEnough = deferred();
    worker(
      async (job) => {
        const run = { at: job.scheduledFor! - anchor, lateMs: job.lateMs ?? 0, caughtUp: job.scheduledFor! < schedulerFrom };
        runs.push(run);
        board.log(run.caughtUp ? 'caught-up' : 'on-time', `tick of +${run.at} ms, started ${run.lateMs} ms late`);
        if (runs.length >= missed + ON_TIME_RUNS) ranEnough.resolve();
      },
      { concurrency: 1, quiet: ['started', 'completed'] },
    );
    board.waitingFor(`the ${missed} missed runs, then ${ON_TIME_RUNS} on time`);
    await within(ranEnough.promise, 30_000, `${missed + ON_TIME_RUNS} runs of the schedule`);
    await queue.unschedule('tick');
    const shownRuns = runs.slice(0, missed + ON_TIME_RUNS);
    // every occurrence once, oldest first: +1, +2, ... intervals after the anchor, the missed ones first
    const inOrder = shownRuns.every((run, i) => run.at === (i + 1) * EVERY_MS && run.caughtUp === i < missed);
    const caughtUp = shownRuns.filter((run) => run.caughtUp);
    const onTime = shownRuns.filter((run) => !run.caughtUp);
    const span = (list: Run[]) => `+${list[0]?.at}…+${list.at(-1)?.at} ms`;
    const text =
      `${caughtUp.length} missed runs ran first, oldest first (${span(caughtUp)}, ${caughtUp.map((run) => run.lateMs).join('/')} ms late), ` +
      `then ${onTime.length} on time (${span(onTime)}, ${onTime.map((run) => run.lateMs).join('/')} ms late)`;
    const shown = inOrder && missed >= Math.floor(GAP_MS / EVERY_MS);
    return { ok: shown, text: shown ? text : `expected every occurrence once, the missed ones first, oldest first; got: ${text}` };
  },
};
