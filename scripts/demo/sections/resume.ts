/** A job of 6 steps; its worker process dies after step 3; another process resumes it at step 4. */
import type { Job } from '@streamjobs/core';
import type { FixtureProcess } from '@streamjobs/testing';
import { deferred, followLines, within } from '../observe.js';
import type { Section } from '../section.js';

const STEPS = 6;
const CRASH_AFTER_STEP = 3;
const STALL_TIMEOUT_MS = 2_000;

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export const resumeElsewhere: Section = {
  slug: 'resume',
  title: 'Resume',
  premise: `an import of ${STEPS} steps (ctx.step + ctx.checkpoint) whose process is SIGKILLed after step ${CRASH_AFTER_STEP}; a second process takes over`,
  async run({ board, queue, prefix, spawn }) {
    const config = { queue: queue.name, recordKey: `${prefix}:resume`, stallTimeout: STALL_TIMEOUT_MS };
    const stepsBy = { A: [] as number[], B: [] as number[] };
    const checkpointSeenBy = { A: '', B: '' };
    board.measure(STEPS, 'steps', () => new Set([...stepsBy.A, ...stepsBy.B]).size);
    const added = deferred<Job>();
    const completedInB = deferred();

    /**
     * Shows what a fixture process prints about the job (see fixtures/resumable-worker-process.ts):
     * `active <id> <attempt> <job.checkpoint>`, `step <id> <i>`, `completed <id>`; lines wait, in order, for the job's id.
     */
    const follow = (child: FixtureProcess, label: 'A' | 'B') =>
      followLines(child, (line) =>
        added.promise.then((job) => {
          const [word, id, ...rest] = line.split(' ');
          if (id !== job.id) return;
          if (word === 'active') {
            const checkpoint = rest.slice(1).join(' ');
            checkpointSeenBy[label] = checkpoint;
            board.started(job);
            if (checkpoint === 'null') board.log('started', `import in process ${label} (${child.pid}), no checkpoint yet`);
            else board.log('resumed', `import in process ${label} (${child.pid}) with job.checkpoint ${checkpoint}`);
          } else if (word === 'step') {
            stepsBy[label].push(Number(rest[0]));
            board.log('step', `step ${rest[0]} ran in process ${label}`);
          } else if (word === 'completed' && label === 'B') {
            completedInB.resolve();
          }
        }),
      );

    const first = spawn('resumable-worker-process', config);
    const firstEnded = follow(first, 'A');
    board.waitingFor('process A to start');
    await first.waitForLine(/^ready/);
    const job = await queue.add('import', { steps: STEPS, crashAfterStep: CRASH_AFTER_STEP });
    board.track(job);
    added.resolve(job);
    board.waitingFor(`process A to run steps 1–${CRASH_AFTER_STEP}`);
    await within(firstEnded, 30_000, `process A dying after step ${CRASH_AFTER_STEP}`);
    board.log('killed', `process A SIGKILLed itself after step ${CRASH_AFTER_STEP}, before checkpointing it`);

    const second = spawn('resumable-worker-process', config);
    follow(second, 'B');
    board.waitingFor(`process B to reclaim the job after stallTimeout (${STALL_TIMEOUT_MS / 1000} s)`);
    const done = await queue.waitFor<unknown, unknown[]>(job.id, { timeoutMs: 30_000 });
    if (done.state === 'completed') await within(completedInB.promise, 10_000, 'process B reporting the job completed');
    board.move(job.id, done.state);
    board.log(done.state === 'completed' ? 'completed' : 'failed', `import ${done.state} in process B`);

    const shown =
      stepsBy.A.join() === range(1, CRASH_AFTER_STEP).join() &&
      stepsBy.B.join() === range(CRASH_AFTER_STEP + 1, STEPS).join() &&
      checkpointSeenBy.B !== 'null' &&
      done.state === 'completed' &&
      done.result?.length === STEPS &&
      done.stalls === 1;
    const text =
      `A ran steps ${stepsBy.A.join(', ')}; B started with job.checkpoint ${checkpointSeenBy.B}, ran only steps ${stepsBy.B.join(', ')} ` +
      `(the others returned A's saved results); import ${done.state} with ${done.result?.length} step results (stalls: ${done.stalls})`;
    return { ok: shown, text: shown ? text : `expected A to run steps 1–${CRASH_AFTER_STEP} and B the rest, from a checkpoint; got: ${text}` };
  },
};
