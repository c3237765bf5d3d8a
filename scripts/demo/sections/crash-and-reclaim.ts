/** A worker process is SIGKILLed mid-job; another worker reclaims its jobs after stallTimeout. */
import type { Section } from '../section.js';

const STALL_TIMEOUT_MS = 2_000;

export const crashAndReclaim: Section = {
  slug: 'reclaim',
  title: 'Crash and reclaim',
  premise: `a worker process runs 3 long jobs and is SIGKILLed; stallTimeout is ${STALL_TIMEOUT_MS / 1000} s`,
  async run({ board, queue, prefix, spawn, worker }) {
    const victim = spawn('worker-process', {
      queue: queue.name,
      recordKey: `${prefix}:reclaim-records`,
      concurrency: 3,
      stallTimeout: STALL_TIMEOUT_MS,
    });
    board.waitingFor(`worker process ${victim.pid} to start`);
    await victim.waitForLine(/^ready/);
    const jobs = await queue.addBulk([1, 2, 3].map((n) => ({ name: `long-${n}`, data: { sleepMs: 60_000 } })));
    for (const job of jobs) board.track(job);
    board.waitingFor(`process ${victim.pid} to start all 3`);
    await Promise.all(
      jobs.map(async (job) => {
        await victim.waitForLine(new RegExp(`^active ${job.id}`));
        board.started(job);
        board.log('started', `${job.name} in process ${victim.pid}`);
      }),
    );
    await victim.kill('SIGKILL');
    const killedAt = Date.now();
    board.log('killed', `process ${victim.pid} (SIGKILL) with 3 jobs running`);

    let reclaimedAfter = 0;
    const rescuer = worker(async () => ({ rescuedBy: process.pid }), { concurrency: 3, stallTimeout: STALL_TIMEOUT_MS, label: 'rescuer' });
    rescuer.once('reclaimed', () => (reclaimedAfter = Date.now() - killedAt));
    board.waitingFor(`their entries to stay idle for stallTimeout (${STALL_TIMEOUT_MS / 1000} s)`);
    const done = await Promise.all(jobs.map((job) => queue.waitFor<unknown, { rescuedBy: number }>(job.id, { timeoutMs: 30_000 })));
    const shown = done.every((job) => job.state === 'completed' && job.stalls === 1 && job.result?.rescuedBy === process.pid);
    const outcomes = new Set(done.map((job) => `${job.state} by ${job.result?.rescuedBy === process.pid ? 'the rescuer' : 'another worker'}`));
    const text =
      `all ${done.length} jobs reclaimed ${(reclaimedAfter / 1000).toFixed(2)} s after the kill, then ${[...outcomes].join(', ')} ` +
      `(stalls: ${done.map((job) => job.stalls).join('/')})`;
    return { ok: shown, text: shown ? text : `expected 3 jobs completed by the rescuer with 1 stall each; got: ${text}` };
  },
};
