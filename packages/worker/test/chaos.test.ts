/**
 * The chaos run's CI form (`pnpm chaos` runs the full size): the real script,
 * scripts/chaos/run.ts, at a small size, in a process of its own with its own
 * redis-server, worker and scheduler processes, SIGKILLed for real. It must
 * exit 0 and print figures showing nothing lost, no doubled occurrence, no
 * canceled job completed, and reruns only where a process was killed.
 * Also: its checks do catch violations (so a pass means something), and the
 * script type-checks.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, RedisConnection } from '@streamjobs/core';
import { OpenResources, connection, testPrefix } from '@streamjobs/testing';
import type { PlannedJob } from '../../../scripts/chaos/plan.js';
import type { ChaosResult } from '../../../scripts/chaos/chaos.js';
import { verify } from '../../../scripts/chaos/verify.js';

const open = new OpenResources();
afterAll(() => open.closeAll());

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Runs `node <args>` from the repository root in a process group of its own;
 * resolves with its exit code and output. Past `timeoutMs` the whole group
 * (its redis-server and fixture processes too) is SIGKILLed.
 */
function runNode(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    open.track({ close: killGroup });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`node ${args.join(' ')} ran over ${timeoutMs} ms; output so far:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('chaos run (CI form)', () => {
  it('kills workers and the scheduler leader for real, and loses, doubles and wrongly completes nothing', async () => {
    const { code, stdout, stderr } = await runNode(
      ['--import', 'tsx', '--conditions=source', 'scripts/chaos/run.ts', '--jobs', '1500', '--seconds', '15', '--drain-seconds', '45'],
      85_000,
    );
    const line = stdout.split('\n').find((l) => l.startsWith('chaos-result '));
    if (!line) throw new Error(`no chaos-result line (exit ${code}):\n${stdout}\n${stderr}`);
    const result = JSON.parse(line.slice('chaos-result '.length)) as ChaosResult;
    console.log(stdout.slice(stdout.indexOf('Results'), stdout.indexOf('chaos-result')));

    expect(result.violations).toEqual([]);
    expect(code).toBe(0);
    const f = result.figures;
    expect(f.jobs).toMatchObject({ planned: 1500, acked: 1500, failed: 0, notFinal: 0, lost: 0 });
    expect(f.jobs.completed + f.jobs.canceled).toBe(1500);
    // the faults really happened: ~2 s between worker kills, ~10 s before the leader's
    expect(f.kills.workers).toBeGreaterThanOrEqual(4);
    expect(f.kills.leaders).toBeGreaterThanOrEqual(1);
    expect(result.leaderTakeoversMs.length).toBe(f.kills.leaders);
    // reruns only where a kill cut a run short, and within kills × concurrency
    expect(f.ranTwice.inKilledProcesses).toBe(f.ranTwice.attempts);
    expect(f.ranTwice.extraRuns).toBeLessThanOrEqual(f.ranTwice.bound);
    // every occurrence from start to end, once, run; none missed despite the leader kill
    expect(f.schedule.expected).toBeGreaterThanOrEqual(20);
    expect(f.schedule).toMatchObject({ materialised: f.schedule.expected, completed: f.schedule.expected, missing: 0, unexpected: 0, missed: 0 });
    expect(f.cancel.canceled).toBeGreaterThan(0);
    expect(f.cancel).toMatchObject({ startedLater: 0, completedAfterCancel: 0 });
    expect(f.cancel.canceled).toBe(f.jobs.canceled);
    expect(f.retried).toBeGreaterThan(0);
  });

  it('its checks report lost, unfinished, doubled and late-started canceled jobs, and missing occurrences', async () => {
    const prefix = testPrefix('chaos-verify');
    const queue = open.track(new Queue('chaos-verify', { connection: connection(), prefix }));
    const redis = RedisConnection.create(connection());
    open.track({ close: () => redis.close() });
    const recordKey = `${prefix}:records`;
    await queue.add('short', {}, { jobId: 'waiting' }); // no worker runs: it stays waiting
    await queue.add('short', {}, { jobId: 'canceled' });
    expect(await queue.cancel('canceled')).toBe(true);
    const canceledAt = Date.now();
    await redis.call([
      'HSET',
      `${recordKey}:runs`,
      // two starts of the same attempt, in a process that was never killed
      'waiting|1|a',
      '4242|1000',
      'waiting|1|b',
      '4242|2000',
      // a start long after the job was canceled
      'canceled|1|c',
      `4242|${canceledAt + 10_000}`,
    ]);
    const planned = (id: string): PlannedJob => ({ id, kind: 'short', data: {}, opts: { jobId: id }, addAt: 0 });

    const { violations } = await verify({
      redis,
      queue,
      recordKey,
      planned: 3,
      acked: new Map([
        ['waiting', planned('waiting')],
        ['canceled', planned('canceled')],
        ['ghost', planned('ghost')], // acknowledged, never stored
      ]),
      cancelAnswers: new Map([['canceled', { canceled: true, at: canceledAt }]]),
      schedule: { id: 'tick', expected: [1_000, 1_500] },
      killedWorkerPids: [],
      leaderKills: 0,
      concurrency: 1,
    });
    const kinds = violations.map((line) => line.slice(0, line.indexOf(':')));
    expect(kinds).toEqual(
      expect.arrayContaining([
        'lost (acknowledged add, no job in Redis)',
        'not in a final state at the end',
        'schedule occurrence never materialised',
        'schedule missing',
        'ran twice without its process being killed',
        'started after it was canceled',
        'more reruns than kills × concurrency',
        'jobs left unfinished in the queue',
      ]),
    );
    expect(violations.find((line) => line.startsWith('lost'))).toContain('ghost');
  });

  it('type-checks scripts/chaos', async () => {
    const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
    const { code, stdout, stderr } = await runNode([tsc, '-p', 'scripts/chaos/tsconfig.json'], 60_000);
    expect(`${stdout}${stderr}`).toBe('');
    expect(code).toBe(0);
  });
});
