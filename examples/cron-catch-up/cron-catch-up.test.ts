/**
 * The cron example as its README tells it: two every-second schedules run
 * live; the scheduler is stopped for a few seconds, then started again. The
 * `catchUp: 'all'` schedule runs every occurrence it missed, oldest first, so
 * its runs cover every second without a gap; the `catchUp: 'latest'` one runs
 * only the newest missed occurrence and counts the rest as missed. No
 * occurrence runs twice.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Queue } from '@streamjobs/core';
import { OpenResources, connection, spawnScript, testPrefix, waitUntil, type FixtureProcess } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

const OUTAGE_MS = 4_500;

function start(name: string, env: NodeJS.ProcessEnv): FixtureProcess {
  const proc = spawnScript(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), { env });
  open.track({ close: () => proc.kill('SIGKILL') });
  return proc;
}

/** Nominal times (ms) of the runs of `schedule` the worker printed, in the order they ran. */
function runs(worker: FixtureProcess, schedule: string): { nominal: number; late: number }[] {
  return worker.lines.flatMap((line) => {
    const match = new RegExp(`^ran ${schedule} (\\d+) \\(\\S+\\) late (\\d+)$`).exec(line);
    return match ? [{ nominal: Number(match[1]), late: Number(match[2]) }] : [];
  });
}

function gaps(nominals: number[]): number[] {
  return nominals.slice(1).map((at, i) => at - nominals[i]!);
}

describe('examples/cron-catch-up', () => {
  it('catches up the occurrences missed while the scheduler was down, as each catchUp policy says', async () => {
    const prefix = testPrefix('cron');
    const env = { STREAMJOBS_PREFIX: prefix };
    const queue = open.track(new Queue('cron', { connection: connection(), prefix }));
    const worker = start('worker', env);
    let scheduler = start('scheduler', env);
    const define = start('schedules', env);
    expect(await define.exited).toEqual({ code: 0, signal: null });
    expect(define.lines).toHaveLength(2);

    await waitUntil(() => runs(worker, 'report').length >= 2 && runs(worker, 'refresh').length >= 2, {
      timeoutMs: 60_000,
      message: 'two live runs of each schedule',
    });

    await scheduler.kill('SIGTERM');
    expect(await scheduler.exited).toEqual({ code: 0, signal: null });
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)); // the outage: occurrences pass unseen
    const restartedAt = Date.now();
    scheduler = start('scheduler', env);
    await scheduler.waitForLine(/^leading$/);
    await waitUntil(
      () => runs(worker, 'report').some((run) => run.nominal > restartedAt + 1_000) && runs(worker, 'refresh').some((run) => run.nominal > restartedAt + 1_000),
      { timeoutMs: 60_000, message: 'both schedules caught up and running live again' },
    );

    // catchUp 'all': every second from the first run to the last, each once, oldest first.
    const report = runs(worker, 'report');
    const reportTimes = report.map((run) => run.nominal);
    expect(gaps(reportTimes).every((gap) => gap === 1_000)).toBe(true);
    expect(Math.max(...report.map((run) => run.late))).toBeGreaterThanOrEqual(OUTAGE_MS - 1_000); // the oldest missed one ran late
    expect((await queue.getSchedule('report'))!.missed).toBe(0);

    // catchUp 'latest': one jump over the outage, the occurrences in it counted as missed.
    const refreshTimes = runs(worker, 'refresh').map((run) => run.nominal);
    expect(new Set(refreshTimes).size).toBe(refreshTimes.length);
    const jumps = gaps(refreshTimes).filter((gap) => gap !== 1_000);
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toBeGreaterThanOrEqual(OUTAGE_MS - 1_000);
    expect((await queue.getSchedule('refresh'))!.missed).toBe(jumps[0]! / 1_000 - 1);
    expect(scheduler.lines.some((line) => /^queued \d+ occurrence\(s\), [1-9]\d* missed$/.test(line))).toBe(true);

    await Promise.all([scheduler.kill('SIGTERM'), worker.kill('SIGTERM')]);
    expect(await scheduler.exited).toEqual({ code: 0, signal: null });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});
