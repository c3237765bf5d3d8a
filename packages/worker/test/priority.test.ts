// Strict priority across tiers, FIFO within a tier, and no pre-claiming.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, type BulkJob } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, nodeFor, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
let raw: Awaited<ReturnType<typeof rawClient>>;
beforeAll(async () => {
  raw = await rawClient();
});
afterAll(async () => {
  await open.closeAll();
  raw.destroy();
});

const QUEUE = 'priority';
const TIERS = ['critical', 'high', 'normal', 'low'];

/** Entries delivered to a worker and not yet acknowledged, over all tiers. */
async function pendingEntries(prefix: string): Promise<number> {
  const summaries = await Promise.all(
    TIERS.map(async (_, tier) => {
      const lane = `${prefix}:{${QUEUE}}:lane:${tier}`;
      return (await nodeFor(raw, lane)).sendCommand(['XPENDING', lane, 'workers']);
    }),
  );
  return summaries.reduce<number>((sum, summary) => sum + Number((summary as unknown as unknown[])[0]), 0);
}

function setUp() {
  const prefix = testPrefix('prio');
  const queue = open.track(new Queue(QUEUE, { connection: connection(), prefix }));
  return { prefix, queue };
}

describe('priority', () => {
  it('a critical job added while the worker is busy starts next; 1,000 low jobs start in add order', async () => {
    const { prefix, queue } = setUp();
    const lows = await queue.addBulk(
      Array.from({ length: 1_000 }, (_, i): BulkJob => ({ name: 'low', data: { i }, opts: { priority: 'low' } })),
    );
    const starts: string[] = [];
    const pendingWhileRunning: number[] = [];
    const added: Record<string, string> = {};
    let completed = 0;
    const worker = open.track(
      new Worker(
        QUEUE,
        async (job) => {
          starts.push(job.id);
          // Concurrency 1: the running job is the only entry this worker holds.
          pendingWhileRunning.push(await pendingEntries(prefix));
          if (job.name !== 'low') return;
          const { i } = job.data as { i: number };
          if (i === 10) {
            added.critical1 = (await queue.add('critical', {}, { priority: 'critical' })).id;
          } else if (i === 500) {
            // A high job first, then a critical one: the critical one still goes first.
            added.high = (await queue.add('high', {}, { priority: 'high' })).id;
            added.critical2 = (await queue.add('critical', {}, { priority: 0 })).id;
          }
        },
        { connection: connection(), prefix, concurrency: 1, scheduler: false },
      ),
    );
    const errors: Error[] = [];
    worker.on('error', (err) => errors.push(err));
    worker.on('completed', () => void completed++);
    await waitUntil(() => completed === 1_003, { timeoutMs: 90_000, intervalMs: 50, message: '1,003 completed jobs' });

    const lowIds = lows.map((job) => job.id);
    const expected = [
      ...lowIds.slice(0, 11),
      added.critical1,
      ...lowIds.slice(11, 501),
      added.critical2,
      added.high,
      ...lowIds.slice(501),
    ];
    // The critical job is the very next start after the low job it was added during.
    expect(starts.indexOf(added.critical1!)).toBe(starts.indexOf(lowIds[10]!) + 1);
    expect(starts.indexOf(added.critical2!)).toBe(starts.indexOf(lowIds[500]!) + 1);
    expect(starts.filter((id) => lowIds.includes(id))).toEqual(lowIds);
    expect(starts).toEqual(expected);
    expect(new Set(pendingWhileRunning)).toEqual(new Set([1]));
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1_003 });
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('with jobs waiting in all four tiers, a concurrency-1 worker starts them tier by tier, each in add order', async () => {
    const { prefix, queue } = setUp();
    // Interleave the tiers in the add order, so only priority can sort them.
    const order = ['low', 'normal', 'critical', 'high', 'normal', 'low', 'high', 'critical'];
    const jobs: BulkJob[] = [];
    for (let round = 0; round < 5; round++) {
      for (const priority of order) jobs.push({ name: priority, data: { round }, opts: { priority } });
    }
    const added = await queue.addBulk(jobs);
    expect(await queue.counts()).toMatchObject({ waiting: 40, waitingByTier: { critical: 10, high: 10, normal: 10, low: 10 } });

    const starts: { id: string; priority: string }[] = [];
    const worker = open.track(
      new Worker(
        QUEUE,
        async (job) => {
          starts.push({ id: job.id, priority: job.priority });
        },
        { connection: connection(), prefix, concurrency: 1, scheduler: false },
      ),
    );
    await waitUntil(async () => (await queue.counts()).completed === 40, { timeoutMs: 30_000, message: '40 completed jobs' });
    const expected = TIERS.flatMap((tier) => added.filter((job) => job.priority === tier).map((job) => job.id));
    expect(starts.map((start) => start.id)).toEqual(expected);
    expect(starts.map((start) => start.priority)).toEqual(TIERS.flatMap((tier) => Array(10).fill(tier)));
    await worker.close();
  });

  it('at concurrency 4, a critical job added while every slot is busy is the next job started', async () => {
    const { prefix, queue } = setUp();
    const lows = await queue.addBulk(
      Array.from({ length: 200 }, (_, i): BulkJob => ({ name: 'low', data: { i }, opts: { priority: 'low' } })),
    );
    const starts: string[] = [];
    let criticalId: string | undefined;
    let pendingAtAdd = -1;
    let maxPending = 0;
    let completed = 0;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const worker = open.track(
      new Worker(
        QUEUE,
        async (job) => {
          const n = starts.push(job.id);
          maxPending = Math.max(maxPending, await pendingEntries(prefix));
          if (n > 4) return;
          // The first four jobs hold every slot until the critical job is added,
          // so no fetch can be in flight when it arrives.
          if (n === 4) {
            pendingAtAdd = await pendingEntries(prefix);
            criticalId = (await queue.add('critical', {}, { priority: 'critical' })).id;
            openGate();
          }
          await gate;
        },
        { connection: connection(), prefix, concurrency: 4, scheduler: false },
      ),
    );
    worker.on('completed', () => void completed++);
    await waitUntil(() => completed === 201, { timeoutMs: 60_000, message: '201 completed jobs' });
    expect(pendingAtAdd).toBe(4);
    expect(starts.indexOf(criticalId!)).toBe(4);
    // Never more entries claimed than slots.
    expect(maxPending).toBeLessThanOrEqual(4);
    // Within the tier, start order is add order.
    expect(starts.filter((id) => id !== criticalId)).toEqual(lows.map((job) => job.id));
    await worker.close();
  });
});
