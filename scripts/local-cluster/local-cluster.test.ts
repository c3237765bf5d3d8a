/**
 * `pnpm cluster` for real: the CLI (main.ts) runs the docker-compose
 * topology as processes (scheduler, producer, workers) against a Redis with
 * AOF, and this test drives it through its stdin as a person would: one
 * worker, then four, then one again (the three stopped with SIGTERM, as
 * `docker compose up --scale` does) while the producer adds jobs; then it
 * stops the producer, lets the queue drain and quits with Ctrl-C (SIGINT).
 *
 * What must hold: every job the producer added and every occurrence of the
 * repeat schedule completed, and was seen completed exactly once; no job
 * stalled (a SIGTERMed worker hands back what it cannot finish, it never
 * abandons a job); a job ran more than once only after a hand-back; resumed
 * imports started where their checkpoint said; and every process exited 0.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue, type Job } from '@streamjobs/core';
import { OpenResources, rawClient, spawnScript, startRedisServer, testPrefix, waitUntil } from '@streamjobs/testing';
import { QUEUE, WORKER_CLOSE_TIMEOUT_MS, recordKeys } from './config.js';
import { TICK, type ImportData, type ImportResult } from './jobs.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const composeFile = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));

describe('docker-compose.yml', () => {
  // CI checks the file's syntax with `docker-compose config`; this checks it runs what `pnpm cluster` runs.
  it('runs the same entry points as pnpm cluster, with AOF on and time for a graceful close', () => {
    const compose = readFileSync(composeFile, 'utf8');
    for (const role of ['scheduler', 'worker', 'producer']) {
      expect(compose).toMatch(new RegExp(`^  ${role}:$`, 'm'));
      expect(compose).toContain(`"scripts/compose-${role}.ts"`);
      expect(existsSync(fileURLToPath(new URL(`../compose-${role}.ts`, import.meta.url)))).toBe(true);
    }
    expect(compose).toContain('"--appendonly", "yes"');
    const grace = /stop_grace_period: (\d+)s/.exec(compose);
    expect(Number(grace?.[1]) * 1_000).toBeGreaterThan(WORKER_CLOSE_TIMEOUT_MS);
  });
});

describe('pnpm cluster', () => {
  it('scales workers 1 → 4 → 1 while jobs flow, and loses none', async () => {
    const redis = await startRedisServer(['--appendonly', 'yes']);
    open.track({ close: () => redis.stop() });
    const prefix = testPrefix('cluster');
    const cli = spawnScript(main, {
      env: { REDIS_URL: redis.url, STREAMJOBS_PREFIX: prefix },
      args: ['--workers', '1', '--rate', '20'],
      stdin: 'pipe',
    });
    open.track({ close: () => stopAll(cli) });
    const queue = open.track(new Queue(QUEUE, { connection: { url: redis.url }, prefix }));
    const keys = recordKeys(prefix);
    const records = await rawClient(redis.url);
    open.track({ close: () => records.destroy() });
    const completed = async () => records.hLen(keys.completed);
    const type = (command: string) => cli.child.stdin!.write(`${command}\n`);
    const processedAtLeast = async (n: number, message: string) =>
      waitUntil(async () => (await completed()) >= n, { timeoutMs: 60_000, intervalMs: 100, message });

    await Promise.all(['worker-1 +\\| ready', 'producer +\\| ready', 'scheduler +\\| leading'].map((p) => cli.waitForLine(new RegExp(`^${p}`), 60_000)));
    await cli.waitForLine(/^\[ *\d+s\] workers 1 · added \d+/);
    await processedAtLeast(20, '20 jobs completed by one worker');

    type('4');
    await Promise.all([2, 3, 4].map((n) => cli.waitForLine(new RegExp(`^worker-${n} +\\| ready`), 60_000)));
    await processedAtLeast((await completed()) + 60, '60 more jobs completed by four workers');

    type('1');
    await Promise.all([2, 3, 4].map((n) => cli.waitForLine(new RegExp(`^worker-${n} +\\| exited`), 30_000)));
    await processedAtLeast((await completed()) + 20, '20 more jobs completed by one worker');

    type('p');
    await cli.waitForLine(/^producer +\| exited/, 30_000);
    expect(await queue.pauseSchedule(TICK.id)).toBe(true); // no new occurrences: the queue can drain
    await waitUntil(
      async () => {
        const counts = await queue.counts();
        return counts.waiting + counts.active + counts.delayed === 0;
      },
      { timeoutMs: 60_000, intervalMs: 200, message: 'the queue drained' },
    );

    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.lines).toContain('stopped cleanly');
    for (const exit of cli.lines.filter((line) => / \| exited /.test(line))) expect(exit).toMatch(/exited \(0\)$/);
    for (const pid of childPids(cli.lines)) expect(isRunning(pid)).toBe(false);

    // Every job added, and every occurrence of the schedule, was seen completed exactly once.
    const added = await records.hGetAll(keys.added);
    const kinds = new Set(Object.values(added));
    expect([...kinds].sort()).toEqual(['delayed', 'import', 'work']);
    const ticks = (await queue.getSchedule(TICK.id))!.runs;
    expect(ticks).toBeGreaterThan(0);
    const completions = await records.hGetAll(keys.completed);
    const tickIds = Object.keys(completions).filter((id) => id.startsWith(`${TICK.id}@`));
    expect(tickIds).toHaveLength(ticks);
    expect(Object.keys(completions).sort()).toEqual([...Object.keys(added), ...tickIds].sort());
    expect(Object.entries(completions).filter(([, times]) => times !== '1')).toEqual([]);
    expect(await records.get(keys.completedTwice)).toBeNull();

    // No job stalled; a job ran again only after a closing worker handed it back.
    const handedBack = await handBacks(queue);
    const runs = await records.hGetAll(keys.runs);
    const jobs = await Promise.all(Object.keys(completions).map((id) => queue.getJob(id)));
    const tiers = new Set<string>();
    for (const job of jobs as Job[]) {
      expect({ id: job.id, state: job.state, stalls: job.stalls }).toEqual({ id: job.id, state: 'completed', stalls: 0 });
      const ran = Number(runs[job.id]);
      expect(ran).toBeGreaterThanOrEqual(1);
      expect(ran).toBeLessThanOrEqual(1 + (handedBack.get(job.id) ?? 0));
      tiers.add(job.priority);
    }
    expect([...tiers].sort()).toEqual(['critical', 'high', 'low', 'normal']);

    // Imports: all rows, each attempt starting from the last checkpoint (never back at row 0).
    for (const job of (jobs as Job<ImportData, ImportResult>[]).filter((j) => j.name === 'import')) {
      const { offset, startedAt } = job.result!;
      expect(offset).toBe(job.data.rows);
      expect(startedAt).toHaveLength(Number(runs[job.id]));
      expect(startedAt[0]).toBe(0);
      expect(startedAt).toEqual([...startedAt].sort((a, b) => a - b));
    }

    // The three workers that came and went took their share.
    const byScaledWorkers = cli.lines
      .filter((line) => /^worker-[234] +\| completed \d+ jobs in all/.test(line))
      .map((line) => Number(/completed (\d+)/.exec(line)![1]));
    expect(byScaledWorkers).toHaveLength(3);
    expect(byScaledWorkers.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});

/** The pids the CLI printed for the processes it started. */
function childPids(lines: string[]): number[] {
  return lines.flatMap((line) => {
    const match = / \| started \(pid (\d+)\)$/.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** After a failed test: Ctrl-C the CLI, and SIGKILL whatever is still running. */
async function stopAll(cli: ReturnType<typeof spawnScript>): Promise<void> {
  cli.child.kill('SIGINT');
  await Promise.race([cli.exited, new Promise((resolve) => setTimeout(resolve, 20_000).unref())]);
  for (const pid of childPids(cli.lines)) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  await cli.kill('SIGKILL');
}

/** Hand-backs per job id, from the queue's events stream. */
async function handBacks(queue: Queue): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let after = '0-0'; ; ) {
    const events = await queue.readEvents(after, 1_000);
    if (events.length === 0) return counts;
    for (const event of events) {
      if (event.name === 'job:handed-back') counts.set(event.jobId, (counts.get(event.jobId) ?? 0) + 1);
    }
    after = events[events.length - 1]!.id;
  }
}
