/**
 * Redis shut down and restarted in the middle of a run (semantics 1 and 8),
 * with `appendonly yes` and `appendfsync always` (every acknowledged write is
 * on disk before its reply): two worker processes and a scheduler process keep
 * running across the restart and reconnect by themselves, while this process
 * keeps adding jobs (some delayed, some failing once and retried through the
 * delayed set, so the scheduler must promote after the restart). Adds made
 * while Redis is down reject with `ConnectionError`; of those acknowledged,
 * none is lost and none runs twice.
 *
 * Runs are counted by the chaos-worker fixture in `<recordKey>:runs` (one
 * field per handler start: `<jobId>|<attempt>|<token>`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConnectionError, Queue, RedisConnection, type BulkJob } from '@streamjobs/core';
import {
  OpenResources,
  parseRunRecord,
  spawnFixture,
  startRedisServer,
  testPrefix,
  waitUntil,
  type ChaosJobData,
  type ChaosWorkerConfig,
  type FixtureProcess,
} from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

/** Far above the outage: a job running across the restart is never reclaimed, so nothing runs twice. */
const STALL_TIMEOUT = 10_000;
const CONNECT_TIMEOUT = 1_000;
const QUEUE = 'restart';

function track(fixture: FixtureProcess): FixtureProcess {
  open.track({ close: () => fixture.kill('SIGKILL') });
  return fixture;
}

/**
 * Adds a batch of 10 jobs every 20 ms until stopped: every 5th delayed by
 * 0.2-1 s, every 7th failing its first attempt (retried after 200 ms).
 * Remembers the ids of acknowledged adds, and the errors of the others.
 */
function produce(queue: Queue) {
  /** Acknowledged job ids and their names (`short`, `delayed` or `flaky`). */
  const acked = new Map<string, string>();
  const rejected: unknown[] = [];
  let stopped = false;
  let n = 0;
  const done = (async () => {
    while (!stopped) {
      const batch: BulkJob<ChaosJobData>[] = Array.from({ length: 10 }, () => {
        const i = n++;
        const opts = { jobId: `r-${i}`, priority: i % 4 };
        if (i % 5 === 0) return { name: 'delayed', data: { sleepMs: 5 }, opts: { ...opts, delay: 200 + (i % 9) * 100 } };
        if (i % 7 === 0) return { name: 'flaky', data: { failOnce: true }, opts: { ...opts, attempts: 2, backoff: 200 } };
        return { name: 'short', data: { sleepMs: i % 20 }, opts };
      });
      try {
        await queue.addBulk(batch);
        for (const job of batch) acked.set(job.opts!.jobId!, job.name);
      } catch (err) {
        rejected.push(err);
      }
      await sleep(20); // pacing
    }
  })();
  return {
    acked,
    rejected,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** How Redis goes down: a clean SHUTDOWN (flushes the AOF, then exits), or a crash (SIGKILL). */
type Stop = 'SHUTDOWN' | 'SIGKILL';

describe('Redis stopped and restarted mid-run, with appendfsync always', () => {
  it.each<Stop>(['SHUTDOWN', 'SIGKILL'])(
    '%s: workers and the scheduler reconnect by themselves; no acknowledged add is lost, none runs twice',
    (stop) => restartMidRun(stop),
  );
});

async function restartMidRun(stop: Stop): Promise<void> {
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  open.track({ close: () => server.stop() });
  const url = server.url;
  const prefix = testPrefix('restart');
  const recordKey = `${prefix}:records`;
  const workerConfig: ChaosWorkerConfig = {
    url,
    prefix,
    queue: QUEUE,
    recordKey,
    concurrency: 5,
    stallTimeout: STALL_TIMEOUT,
    connectTimeout: CONNECT_TIMEOUT,
  };
  const workers = [0, 1].map(() => track(spawnFixture('chaos-worker', workerConfig)));
  const scheduler = track(spawnFixture('scheduler-process', { url, prefix, queues: [QUEUE], lockTtl: 2_000 }));
  await Promise.all([...workers.map((w) => w.waitForLine(/^ready /, 60_000)), scheduler.waitForLine(/^elected /, 60_000)]);
  const queue = open.track(new Queue(QUEUE, { connection: { url }, prefix, connectTimeout: CONNECT_TIMEOUT }));
  const redis = RedisConnection.create({ url }, CONNECT_TIMEOUT);
  open.track({ close: () => redis.close() });

  const producer = produce(queue);
  await waitUntil(async () => (await queue.counts()).completed >= 150 && scheduler.lines.some((l) => l.startsWith('promoted ')), {
    message: '150 jobs completed and delayed ones promoted before the shutdown',
  });

  if (stop === 'SIGKILL') await server.kill();
  else {
    const exited = new Promise((resolve) => server.process.once('exit', resolve));
    await redis.call(['SHUTDOWN']).catch(() => undefined); // the reply never comes
    await exited;
  }
  const linesAtShutdown = { workers: workers.map((w) => w.lines.length), scheduler: scheduler.lines.length };
  const ackedAtShutdown = producer.acked.size;
  const errorsAfterShutdown = (w: FixtureProcess, i: number) => w.lines.slice(linesAtShutdown.workers[i]).filter((l) => l.startsWith('error '));

  // What users see while Redis is down: adds reject with ConnectionError, workers emit error events.
  await waitUntil(() => producer.rejected.length >= 2 && workers.every((w, i) => errorsAfterShutdown(w, i).length > 0), {
    message: 'adds to reject and both workers to report errors while Redis is down',
  });
  await server.restart();

  await waitUntil(() => producer.acked.size >= ackedAtShutdown + 150, { message: '150 more adds acknowledged after the restart' });
  await producer.stop();
  await waitUntil(
    async () => {
      const counts = await queue.counts();
      return counts.waiting + counts.active + counts.delayed === 0;
    },
    { timeoutMs: 60_000, message: 'every job to reach a final state after the restart' },
  );

  // Every acknowledged add survived and completed; failing-once jobs on their second attempt.
  const ids = [...producer.acked.keys()];
  const stored = await Promise.all(ids.map((id) => redis.call<(string | null)[]>(['HMGET', queue.keys.job(id), 'state', 'attemptsMade'])));
  const attempts = (i: number) => Number(stored[i]![1]) + 1;
  expect(ids.filter((_, i) => stored[i]![0] !== 'completed')).toEqual([]);
  // failing-once jobs completed on their second attempt, the others on their first
  expect(ids.filter((id, i) => attempts(i) !== (producer.acked.get(id) === 'flaky' ? 2 : 1))).toEqual([]);

  // Each attempt started once: the restart made nothing run twice.
  const flat = await redis.call<string[]>(['HGETALL', `${recordKey}:runs`]);
  const starts = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) {
    const { id, attempt } = parseRunRecord(flat[i]!, flat[i + 1]!);
    starts.set(`${id}|${attempt}`, (starts.get(`${id}|${attempt}`) ?? 0) + 1);
  }
  expect([...starts].filter(([, count]) => count > 1)).toEqual([]);
  expect(ids.filter((id, i) => !starts.has(`${id}|${attempts(i)}`))).toEqual([]);

  expect(producer.acked.size).toBeGreaterThan(ackedAtShutdown);
  expect(producer.rejected.length).toBeGreaterThanOrEqual(2);
  for (const err of producer.rejected) expect(err).toBeInstanceOf(ConnectionError);
  // The processes reconnected by themselves: still running, and the scheduler promoted again after the restart.
  for (const fixture of [...workers, scheduler]) expect(fixture.child.exitCode).toBeNull();
  expect(scheduler.lines.slice(linesAtShutdown.scheduler).some((l) => l.startsWith('promoted '))).toBe(true);
  const workerErrors = workers.flatMap((w, i) => errorsAfterShutdown(w, i));
  console.log(
    `${stop} and restart: ${producer.acked.size} adds acknowledged (${ackedAtShutdown} before the shutdown), ${producer.rejected.length} rejected while Redis was down; ` +
      `worker error events: ${workerErrors.length}, e.g. ${workerErrors.slice(0, 2).join(' | ')}`,
  );
  expect(workerErrors.every((line) => line.startsWith('error ERR_CONNECTION '))).toBe(true);
}
