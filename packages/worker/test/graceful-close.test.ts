/**
 * Graceful close hands unfinished jobs back at once: `close()` (or SIGTERM to a
 * worker process, whose fixture then closes its worker) lets the jobs that finish
 * within `closeTimeout` complete, and the rest are handed back and started by
 * another worker promptly, long before `stallTimeout` (60 s here, so a stall
 * reclaim cannot be what moves them). Every job completes exactly once.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue, StreamJobsError, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import {
  OpenResources,
  connection,
  nextEvent,
  rawClient,
  redisUrl,
  spawnFixture,
  testPrefix,
  waitUntil,
  type FixtureJobData,
} from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

const STALL_TIMEOUT = 60_000;
/** Handed-back jobs must start well within this after close begins: a fraction of stallTimeout. */
const PROMPT_MS = 15_000;

type RawClient = Awaited<ReturnType<typeof rawClient>>;

interface Seen {
  worker: string;
  event: 'active' | 'completed' | 'lost' | 'failed' | 'retrying';
  id: string;
  at: number;
}

/** Records a worker's job events, with the time they happened. */
function watch(worker: Worker, label: string, seen: Seen[]): Error[] {
  for (const event of ['active', 'completed', 'lost', 'failed', 'retrying'] as const) {
    worker.on(event, (job: Job) => seen.push({ worker: label, event, id: job.id, at: Date.now() }));
  }
  const errors: Error[] = [];
  worker.on('error', (err) => errors.push(err));
  return errors;
}

/** A worker that takes over handed-back jobs: records each start in Redis and finishes at once. */
function takeover(queueName: string, prefix: string, redis: RawClient, recordKey: string): Worker {
  return open.track(
    new Worker(
      queueName,
      async (job) => {
        await redis.hIncrBy(`${recordKey}:starts`, job.id, 1);
        await redis.rPush(`${recordKey}:order`, `${job.id}|${process.pid}|${Date.now()}`);
        await redis.hIncrBy(`${recordKey}:done`, job.id, 1);
        return { by: 'takeover' };
      },
      { connection: connection(), prefix, concurrency: 4, stallTimeout: STALL_TIMEOUT, scheduler: false },
    ),
  );
}

async function handedBackIds(queue: Queue): Promise<string[]> {
  const events = await queue.readEvents('0-0', 1_000);
  return events.filter((event) => event.name === 'job:handed-back').map((event) => event.jobId).sort();
}

describe('graceful close', () => {
  it('in process: completes what finishes within closeTimeout, hands back the rest for another worker', async () => {
    const prefix = testPrefix('close-in');
    const queueName = 'close-in';
    const recordKey = `${prefix}:records`;
    const CLOSE_TIMEOUT = 2_000;
    const redis = await rawClient();
    open.track({ close: () => redis.destroy() });
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));

    // Short jobs wait for a gate the test opens after close() begins; long jobs run until aborted.
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const abortReasons = new Map<string, unknown>();
    const closing = open.track(
      new Worker(
        queueName,
        async (job, { signal }) => {
          await redis.hIncrBy(`${recordKey}:starts`, job.id, 1);
          if ((job.data as { kind: string }).kind === 'short') {
            await gate;
          } else {
            await new Promise<never>((_, reject) => {
              signal.addEventListener('abort', () => (abortReasons.set(job.id, signal.reason), reject(signal.reason)), {
                once: true,
              });
            });
          }
          await redis.hIncrBy(`${recordKey}:done`, job.id, 1);
          return { by: 'closing' };
        },
        {
          connection: connection(),
          prefix,
          concurrency: 4,
          stallTimeout: STALL_TIMEOUT,
          closeTimeout: CLOSE_TIMEOUT,
          scheduler: false,
        },
      ),
    );
    const seen: Seen[] = [];
    const closingErrors = watch(closing, 'closing', seen);
    await closing.waitUntilReady();

    const added = await queue.addBulk([
      { name: 'short', data: { kind: 'short' }, opts: { jobId: 'short-1', priority: 'high' } },
      { name: 'short', data: { kind: 'short' }, opts: { jobId: 'short-2', priority: 'normal' } },
      { name: 'long', data: { kind: 'long' }, opts: { jobId: 'long-1', priority: 'critical' } },
      { name: 'long', data: { kind: 'long' }, opts: { jobId: 'long-2', priority: 'low' } },
    ]);
    const ids = added.map((job) => job.id);
    const shortIds = ['short-1', 'short-2'];
    const longIds = ['long-1', 'long-2'];
    await waitUntil(() => closing.activeCount === 4, { timeoutMs: 30_000, message: 'all four jobs running in the closing worker' });

    // The other worker starts now: nothing is waiting, so it can only get what is handed back.
    const other = takeover(queueName, prefix, redis, recordKey);
    const otherErrors = watch(other, 'other', seen);
    await other.waitUntilReady();

    const closedEvent = nextEvent(closing, 'closed', { timeoutMs: 60_000 });
    const closeStartedAt = Date.now();
    const closed = closing.close();
    openGate();
    await closed;
    await closedEvent;
    const closedAt = Date.now();

    const finals = await Promise.all(ids.map((id) => queue.waitFor(id, { timeoutMs: 30_000 })));
    // a worker emits `completed` once its round's reply is back, which can be after waitFor saw the job final
    await waitUntil(() => seen.filter((s) => s.event === 'completed').length >= ids.length, { message: 'a completed event per job' });

    // The short ones finished in the closing worker, within closeTimeout.
    for (const id of shortIds) {
      const done = seen.filter((s) => s.id === id && s.event === 'completed');
      expect(done.map((s) => s.worker)).toEqual(['closing']);
      expect(done[0]!.at - closeStartedAt).toBeLessThan(CLOSE_TIMEOUT);
    }
    // The long ones were aborted with the closing reason, handed back, started by the other
    // worker promptly (not before closeTimeout, far before stallTimeout), and completed there.
    for (const id of longIds) {
      const reason = abortReasons.get(id);
      expect(reason).toBeInstanceOf(StreamJobsError);
      expect((reason as StreamJobsError).code).toBe('ERR_WORKER_CLOSING');
      expect(seen.filter((s) => s.id === id && s.event === 'lost').map((s) => s.worker)).toEqual(['closing']);
      const restarts = seen.filter((s) => s.id === id && s.event === 'active' && s.worker === 'other');
      expect(restarts).toHaveLength(1);
      const startedAfter = restarts[0]!.at - closeStartedAt;
      expect(startedAfter).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 50);
      expect(startedAfter).toBeLessThan(PROMPT_MS);
      expect(seen.filter((s) => s.id === id && s.event === 'completed').map((s) => s.worker)).toEqual(['other']);
    }
    // close() itself returned promptly after closeTimeout.
    expect(closedAt - closeStartedAt).toBeLessThan(PROMPT_MS);

    // Each job completed exactly once, never stalled, and no attempt was counted for the hand-back.
    for (const job of finals) expect(job).toMatchObject({ state: 'completed', stalls: 0, attemptsMade: 0 });
    expect(Object.fromEntries(finals.map((job) => [job.id, job.result]))).toEqual({
      'short-1': { by: 'closing' },
      'short-2': { by: 'closing' },
      'long-1': { by: 'takeover' },
      'long-2': { by: 'takeover' },
    });
    const completions = seen.filter((s) => s.event === 'completed').map((s) => s.id).sort();
    expect(completions).toEqual([...ids].sort());
    expect(await redis.hGetAll(`${recordKey}:done`)).toEqual({ 'short-1': '1', 'short-2': '1', 'long-1': '1', 'long-2': '1' });
    expect(await redis.hGetAll(`${recordKey}:starts`)).toEqual({ 'short-1': '1', 'short-2': '1', 'long-1': '2', 'long-2': '2' });
    expect(await handedBackIds(queue)).toEqual(longIds);
    expect(seen.filter((s) => s.event === 'active' && s.worker === 'other').map((s) => s.id).sort()).toEqual(longIds);
    expect(await queue.counts()).toMatchObject({ completed: 4, waiting: 0, active: 0, failed: 0 });
    expect(closingErrors).toEqual([]);
    expect(otherErrors).toEqual([]);
    await other.close();
  });

  it('child process on SIGTERM: completes what finishes within closeTimeout, hands back the rest', async () => {
    const prefix = testPrefix('close-proc');
    const queueName = 'close-proc';
    const recordKey = `${prefix}:records`;
    const CLOSE_TIMEOUT = 5_000;
    const SHORT_MS = 2_000;
    const redis = await rawClient();
    open.track({ close: () => redis.destroy() });
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    await queue.lastEventId(); // this test reads events: job:completed events are written from now on

    const proc = spawnFixture('worker-process', {
      url: redisUrl(),
      prefix,
      queue: queueName,
      recordKey,
      concurrency: 4,
      stallTimeout: STALL_TIMEOUT,
      closeTimeout: CLOSE_TIMEOUT,
      scheduler: false,
    });
    open.track({ close: () => proc.kill('SIGKILL') });
    await proc.waitForLine(/^ready /, 60_000);

    const added = await queue.addBulk<FixtureJobData>([
      { name: 'short', data: { sleepMs: SHORT_MS }, opts: { jobId: 'short-1', priority: 'critical' } },
      { name: 'short', data: { sleepMs: SHORT_MS }, opts: { jobId: 'short-2', priority: 'low' } },
      { name: 'long', data: { sleepMs: 10 * STALL_TIMEOUT }, opts: { jobId: 'long-1', priority: 'high' } },
      { name: 'long', data: { sleepMs: 10 * STALL_TIMEOUT }, opts: { jobId: 'long-2', priority: 'low' } },
    ]);
    const ids = added.map((job) => job.id);
    const shortIds = ['short-1', 'short-2'];
    const longIds = ['long-1', 'long-2'];
    await Promise.all(ids.map((id) => proc.waitForLine(new RegExp(`^active ${id}$`), 30_000)));

    const other = takeover(queueName, prefix, redis, recordKey);
    const seen: Seen[] = [];
    const otherErrors = watch(other, 'other', seen);
    await other.waitUntilReady();

    const termAt = Date.now();
    proc.child.kill('SIGTERM');
    const exit = await proc.exited;
    const exitedAt = Date.now();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(proc.lines).toContain('closed');
    // Exited after the long jobs were given up (closeTimeout), and promptly so.
    expect(exitedAt - termAt).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 100);
    expect(exitedAt - termAt).toBeLessThan(PROMPT_MS);

    const finals = await Promise.all(ids.map((id) => queue.waitFor(id, { timeoutMs: 30_000 })));
    const order = (await redis.lRange(`${recordKey}:order`, 0, -1)).map((line) => {
      const [id, pid, ms] = line.split('|');
      return { id: id!, pid: Number(pid), ms: Number(ms) };
    });

    // The short ones were still running at SIGTERM and finished in the process within closeTimeout.
    for (const id of shortIds) {
      const runs = order.filter((run) => run.id === id);
      expect(runs.map((run) => run.pid)).toEqual([proc.pid]);
      expect(runs[0]!.ms + SHORT_MS).toBeGreaterThan(termAt);
      const job = finals.find((final) => final.id === id)!;
      expect(job).toMatchObject({ state: 'completed', result: { pid: proc.pid } });
      expect(job.finishedAt! - termAt).toBeLessThan(CLOSE_TIMEOUT);
    }
    // The long ones were handed back and started by the other worker promptly, far before stallTimeout.
    for (const id of longIds) {
      const runs = order.filter((run) => run.id === id);
      expect(runs.map((run) => run.pid)).toEqual([proc.pid, process.pid]);
      const restarts = seen.filter((s) => s.id === id && s.event === 'active');
      expect(restarts).toHaveLength(1);
      expect(restarts[0]!.at - termAt).toBeGreaterThanOrEqual(CLOSE_TIMEOUT - 100);
      expect(restarts[0]!.at - termAt).toBeLessThan(PROMPT_MS);
      expect(finals.find((final) => final.id === id)).toMatchObject({ state: 'completed', result: { by: 'takeover' } });
    }

    // Each job completed exactly once, never stalled, no attempt counted for the hand-back.
    for (const job of finals) expect(job).toMatchObject({ state: 'completed', stalls: 0, attemptsMade: 0 });
    expect(await redis.hGetAll(`${recordKey}:done`)).toEqual({ 'short-1': '1', 'short-2': '1', 'long-1': '1', 'long-2': '1' });
    expect(await redis.hGetAll(`${recordKey}:starts`)).toEqual({ 'short-1': '1', 'short-2': '1', 'long-1': '2', 'long-2': '2' });
    expect(seen.filter((s) => s.event === 'completed').map((s) => s.id).sort()).toEqual(longIds);
    expect(seen.filter((s) => s.event !== 'active' && s.event !== 'completed')).toEqual([]);
    expect(await handedBackIds(queue)).toEqual(longIds);
    const completedEvents = (await queue.readEvents('0-0', 1_000)).filter((event) => event.name === 'job:completed');
    expect(completedEvents.map((event) => event.jobId).sort()).toEqual([...ids].sort());
    expect(await queue.counts()).toMatchObject({ completed: 4, waiting: 0, active: 0, failed: 0 });
    expect(otherErrors).toEqual([]);
    await other.close();
  });

  it('closing an idle worker while jobs arrive: whatever the claim behind its blocking read took still runs; nothing stays pending for it', async () => {
    const prefix = testPrefix('close-idle');
    const queueName = 'close-idle';
    const redis = await rawClient();
    open.track({ close: () => redis.destroy() });
    const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
    const ranBy = new Map<string, string[]>();
    const handler = (label: string) => async (job: { id: string }) => {
      ranBy.set(job.id, [...(ranBy.get(job.id) ?? []), label]);
    };
    const ROUNDS = 25;
    const jobIds: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const worker = new Worker(queueName, handler(`idle-${round}`), {
        connection: connection(),
        prefix,
        concurrency: 4,
        stallTimeout: STALL_TIMEOUT,
        scheduler: false,
      });
      await worker.waitUntilReady();
      // idle: its blocking read (with the claim queued behind it) is parked in Redis
      await waitUntil(async () => {
        const clients = String(await redis.sendCommand(['CLIENT', 'LIST']));
        return clients.split('\n').some((line) => line.includes(`name=streamjobs:worker:${queueName}:${worker.consumer}:blocking `) && line.includes('flags=b'));
      }, { message: 'the idle worker to block' });
      // a job arrives as the worker closes, just before or up to a few ms after: its last claim may or may not take it
      const arrives = async () => {
        await new Promise((resolve) => setTimeout(resolve, round % 5));
        return queue.add('arrives', { round });
      };
      const [{ id }] = await Promise.all([round % 5 === 0 ? queue.add('arrives', { round }) : arrives(), worker.close()]);
      jobIds.push(id);
      const pending = await redis.sendCommand(['XPENDING', `${prefix}:{${queueName}}:lane:2`, 'workers']);
      expect((pending as unknown as unknown[])[0]).toBe(0);
      expect(await redis.exists(`${prefix}:{${queueName}}:wake:${worker.consumer}`)).toBe(0);
    }
    // what the closed workers did not run, another runs at once (stallTimeout is 60 s: no reclaim helps)
    const other = open.track(new Worker(queueName, handler('other'), { connection: connection(), prefix, concurrency: 4, stallTimeout: STALL_TIMEOUT, scheduler: false }));
    await waitUntil(async () => (await queue.counts()).completed === ROUNDS, { timeoutMs: PROMPT_MS, message: 'every job completed' });
    for (const id of jobIds) expect(ranBy.get(id)).toHaveLength(1);
    const byTheirClosingWorker = jobIds.filter((id, round) => ranBy.get(id)![0] === `idle-${round}`).length;
    console.log(`closing while a job arrives: ${byTheirClosingWorker} of ${ROUNDS} jobs were taken by the closing worker's last claim and run by it; the others waited for the next worker`);
    await other.close();
  });
});
