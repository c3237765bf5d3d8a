/**
 * The graceful-shutdown example as its README tells it, with SIGTERM sent as
 * `docker stop` sends it: the worker finishes the jobs that end within
 * `closeTimeout`, hands back the one that does not, and exits by itself with
 * code 0. The handed-back job waits for the next worker, which starts it at
 * once (not after `stallTimeout`), as a first attempt.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Queue } from '@streamjobs/core';
import { OpenResources, connection, spawnScript, testPrefix, type FixtureProcess } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

function startWorker(env: NodeJS.ProcessEnv): FixtureProcess {
  const proc = spawnScript(fileURLToPath(new URL('./worker.ts', import.meta.url)), { env });
  open.track({ close: () => proc.kill('SIGKILL') });
  return proc;
}

describe('examples/graceful-shutdown', () => {
  it('on SIGTERM finishes short jobs, hands back a long one, and exits 0', async () => {
    const prefix = testPrefix('graceful');
    const env = { STREAMJOBS_PREFIX: prefix, CLOSE_TIMEOUT_MS: '2500' };
    const queue = open.track(new Queue('emails', { connection: connection(), prefix }));
    const stopped = startWorker(env);
    await stopped.waitForLine(/^ready$/);
    const short = await queue.addBulk([{ name: 'send', data: { ms: 1_200 } }, { name: 'send', data: { ms: 1_200 } }]);
    const long = await queue.add('send', { ms: 4_000 });
    for (const job of [...short, long]) await stopped.waitForLine(new RegExp(`^started ${job.id}$`));

    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toEqual({ code: 0, signal: null });
    // Closing: the short jobs finished, the long one was stopped, then the worker closed.
    const closing = stopped.lines.slice(stopped.lines.indexOf('SIGTERM: closing'));
    expect(closing[0]).toBe('SIGTERM: closing');
    expect(closing.slice(1, 3).sort()).toEqual(short.map((job) => `finished ${job.id}`).sort());
    expect(closing.slice(3)).toEqual([`stopped ${long.id}: worker is closing; job handed back`, 'closed']);
    for (const job of short) expect(await queue.getJob(job.id)).toMatchObject({ state: 'completed', result: { by: stopped.pid } });
    expect(await queue.getJob(long.id)).toMatchObject({ state: 'waiting', stalls: 0, attemptsMade: 0 });

    // Handed back, not abandoned: the next worker starts it at once, as a first attempt.
    const other = startWorker(env);
    await other.waitForLine(new RegExp(`^started ${long.id}$`));
    const done = await queue.waitFor(long.id, { timeoutMs: 30_000 });
    expect(done).toMatchObject({ state: 'completed', result: { by: other.pid }, stalls: 0, attemptsMade: 0 });
    const events = await queue.readEvents('0-0', 1_000);
    expect(events.filter((event) => event.name === 'job:handed-back').map((event) => event.jobId)).toEqual([long.id]);

    other.child.kill('SIGINT');
    expect(await other.exited).toEqual({ code: 0, signal: null });
  });
});
