/**
 * Connection faults with Redis itself up (semantics 1, 2, 4 and 8), on a
 * redis-server of this file's own (CLIENT PAUSE stops every client):
 *
 * - CLIENT KILL of every connection of a busy worker, again and again: it
 *   reconnects by itself and goes on; nothing is lost or run twice, and a job
 *   canceled right after a kill still has its signal aborted (the notice may
 *   be lost while the subscriber reconnects; the heartbeat is the backstop).
 * - CLIENT PAUSE longer than `stallTimeout` while jobs run: calls wait (no
 *   error), and afterwards nothing is lost; a job may run twice only if it was
 *   running during the pause, and then the worker that lost it says so with a
 *   `lost` event and its outcome is discarded.
 * - A claim whose reply is lost (Redis ran it, the connection dropped before
 *   the reply arrived): the worker hands those jobs back once it reconnects,
 *   so they run at once, without a stall counted, not after `stallTimeout`.
 *
 * docs/faults.md says what users see under each; these tests check it.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CONSUMER_GROUP, Queue, RedisConnection, type Job } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, startRedisServer, testPrefix, waitUntil, type RedisServerProcess } from '@streamjobs/testing';

const open = new OpenResources();
let server: RedisServerProcess;
let admin: RedisConnection;

beforeAll(async () => {
  server = await startRedisServer();
  open.track({ close: () => server.stop() });
  admin = RedisConnection.create({ url: server.url });
  open.track({ close: () => admin.close() });
});
afterAll(() => open.closeAll());

interface JobData {
  sleepMs: number;
}

/**
 * A worker on the fault server whose handler sleeps `data.sleepMs` (honouring
 * its signal) and counts its starts. Its connection options name it, so its
 * shared command and notice connections are its own (and named so in CLIENT LIST).
 */
function faultWorker(queueName: string, prefix: string, starts: Map<string, number>, options: { concurrency: number; stallTimeout: number }) {
  const worker = open.track(
    new Worker<JobData>(
      queueName,
      async (job, { signal }) => {
        starts.set(job.id, (starts.get(job.id) ?? 0) + 1);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, job.data.sleepMs);
          signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
        });
        return 'done';
      },
      { connection: { url: server.url, name: workerConnectionName(queueName) }, prefix, scheduler: false, ...options },
    ),
  );
  const seen = { errors: [] as Error[], lost: [] as string[], canceled: [] as string[] };
  worker.on('error', (err) => seen.errors.push(err));
  worker.on('lost', (job) => seen.lost.push(job.id));
  worker.on('canceled', (job) => seen.canceled.push(job.id));
  return { worker, seen };
}

/** The name a test's worker connection options give its shared connections. */
function workerConnectionName(queueName: string): string {
  return `test-worker:${queueName}`;
}

/**
 * Ids of the worker's connections in CLIENT LIST: its shared command and
 * notice connections (named by its connection options) and its blocking
 * reader (`streamjobs:worker:<queue>:<consumer>:blocking`).
 */
async function connectionsOf(worker: Worker): Promise<{ id: string; name: string }[]> {
  const list = await admin.call<string>(['CLIENT', 'LIST']);
  return list
    .split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((pair) => pair.split('=') as [string, string])))
    .filter((client) => client.name === workerConnectionName(worker.name) || client.name?.startsWith(`streamjobs:worker:${worker.name}:${worker.consumer}`))
    .map((client) => ({ id: client.id!, name: client.name! }));
}

/** A TCP proxy to a Redis that can swallow its replies, and cut every connection through it. */
class ReplySwallowingProxy {
  /** While set, what Redis sends back never reaches the clients. */
  swallowReplies = false;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(redisUrl: string): Promise<ReplySwallowingProxy> {
    const target = new URL(redisUrl);
    const server = createServer();
    const proxy = new ReplySwallowingProxy(server);
    server.on('connection', (client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        const end = () => {
          proxy.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        };
        socket.on('close', end);
        socket.on('error', end);
      }
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => {
        if (!proxy.swallowReplies) client.write(chunk);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function states(queue: Queue, ids: readonly string[]): Promise<Map<string, string>> {
  const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
  return new Map(ids.map((id, i) => [id, jobs[i]?.state ?? 'missing']));
}

describe('connection faults', () => {
  it('CLIENT KILL of all of a worker\'s connections, five times: it reconnects by itself, loses and doubles nothing, and cancel still reaches it', async () => {
    const prefix = testPrefix('kill');
    const queue = open.track(new Queue('kill', { connection: { url: server.url }, prefix }));
    const starts = new Map<string, number>();
    const { worker, seen } = faultWorker('kill', prefix, starts, { concurrency: 4, stallTimeout: 3_000 });
    await worker.waitUntilReady();
    // commands, cancel notices, and blocking reads (opened by the first wait for work)
    await waitUntil(async () => (await connectionsOf(worker)).length === 3, { message: 'the worker\'s three connections' });

    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      const added = await queue.addBulk(
        Array.from({ length: 40 }, (_, i) => ({ name: 'short', data: { sleepMs: 5 + (i % 4) * 10 }, opts: { jobId: `k${round}-${i}` } })),
      );
      ids.push(...added.map((job) => job.id));
      await waitUntil(() => worker.activeCount > 0, { message: 'jobs running before the kill' });
      const victims = await connectionsOf(worker);
      for (const { id } of victims) await admin.call(['CLIENT', 'KILL', 'ID', id]);
      // back by itself: the same three roles connected again, under new client ids
      await waitUntil(
        async () => {
          const now = await connectionsOf(worker);
          return now.length === 3 && now.every((c) => !victims.some((v) => v.id === c.id));
        },
        { message: 'the worker to reconnect all its connections' },
      );
    }

    // Cancel a running job right after a kill: its signal aborts all the same.
    const long = await queue.add('long', { sleepMs: 60_000 }, { jobId: 'long' });
    await waitUntil(async () => (await queue.getJob(long.id))?.state === 'active', { message: 'the long job to run' });
    for (const { id } of await connectionsOf(worker)) await admin.call(['CLIENT', 'KILL', 'ID', id]);
    expect(await queue.cancel(long.id)).toBe(true);
    await waitUntil(() => seen.canceled.includes(long.id), { timeoutMs: 15_000, message: 'the canceled job\'s signal to abort' });

    await waitUntil(async () => [...(await states(queue, ids)).values()].every((s) => s === 'completed'), {
      timeoutMs: 30_000,
      message: 'every job to complete',
    });
    expect([...starts].filter(([, count]) => count > 1)).toEqual([]);
    expect(ids.filter((id) => !starts.has(id))).toEqual([]);
    expect((await queue.getJob(long.id))?.state).toBe('canceled');
    const counts = await queue.counts();
    expect(counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: ids.length, canceled: 1 });
    // A `lost` event here means the reply to a recorded outcome was cut off: the job completed, once.
    console.log(
      `CLIENT KILL x6: ${seen.errors.length} error events (${[...new Set(seen.errors.map((e) => `${e.name}: ${e.message}`))].join(' | ')}); ` +
        `lost events: ${seen.lost.length}`,
    );
    // What users see: at most connection errors, and `lost` only for jobs whose outcome reply was cut off.
    expect(seen.errors.filter((err) => (err as { code?: string }).code !== 'ERR_CONNECTION')).toEqual([]);
    expect(seen.lost.filter((id) => (starts.get(id) ?? 0) !== 1)).toEqual([]);
  });

  it('CLIENT PAUSE longer than stallTimeout: calls wait, nothing is lost, and only jobs running during the pause may run twice (their first worker reports them lost)', async () => {
    const STALL_TIMEOUT = 2_000;
    const PAUSE_MS = 3_500;
    const prefix = testPrefix('pause');
    const queue = open.track(new Queue('pause', { connection: { url: server.url }, prefix }));
    const starts = new Map<string, number>();
    const a = faultWorker('pause', prefix, starts, { concurrency: 3, stallTimeout: STALL_TIMEOUT });
    const b = faultWorker('pause', prefix, starts, { concurrency: 3, stallTimeout: STALL_TIMEOUT });
    await Promise.all([a.worker.waitUntilReady(), b.worker.waitUntilReady()]);
    const completed: string[] = [];
    for (const { worker } of [a, b]) worker.on('completed', (job: Job) => completed.push(job.id));

    const longJobs = await queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'long', data: { sleepMs: 3_000 }, opts: { jobId: `long-${i}` } })));
    await waitUntil(() => a.worker.activeCount + b.worker.activeCount === 6, { message: 'six long jobs running' });
    const shortJobs = await queue.addBulk(Array.from({ length: 30 }, (_, i) => ({ name: 'short', data: { sleepMs: 10 }, opts: { jobId: `short-${i}` } })));
    const runningAtPause = new Set(longJobs.map((job) => job.id));

    const beforePause = Date.now();
    await admin.call(['CLIENT', 'PAUSE', PAUSE_MS, 'ALL']);
    // A call made during the pause waits for its end (which is at least PAUSE_MS after
    // `beforePause`), then succeeds: no error, no timeout.
    const late = await queue.add('short', { sleepMs: 10 }, { jobId: 'added-during-pause' });
    const addWaitedMs = Date.now() - beforePause;
    expect(late.state).toBe('waiting');
    expect(addWaitedMs).toBeGreaterThanOrEqual(PAUSE_MS - 20);

    const ids = [...longJobs, ...shortJobs, late].map((job) => job.id);
    await waitUntil(async () => [...(await states(queue, ids)).values()].every((s) => s === 'completed'), {
      timeoutMs: 30_000,
      message: 'every job to complete',
    });
    // the last outcomes are recorded and their events emitted
    await waitUntil(() => a.worker.activeCount + b.worker.activeCount === 0, { message: 'both workers idle' });

    const twice = [...starts].filter(([, count]) => count > 1).map(([id]) => id).sort();
    const lost = [...a.seen.lost, ...b.seen.lost].sort();
    console.log(`CLIENT PAUSE ${PAUSE_MS} ms > stallTimeout ${STALL_TIMEOUT} ms: add waited ${addWaitedMs} ms; ran twice: [${twice}]; lost events: [${lost}]; errors: ${a.seen.errors.length + b.seen.errors.length}`);
    expect(ids.filter((id) => !starts.has(id))).toEqual([]);
    expect([...starts.values()].every((count) => count <= 2)).toBe(true);
    expect(twice.filter((id) => !runningAtPause.has(id))).toEqual([]);
    // each rerun was announced by a `lost` event on the worker that lost it, and completed once
    expect(lost).toEqual(twice);
    expect(completed.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: ids.length });
    expect([...a.seen.errors, ...b.seen.errors]).toEqual([]);
  });

  it('a claim whose reply is lost: the worker hands its jobs back once it reconnects, so they run at once and no stall is counted', async () => {
    const STALL_TIMEOUT = 60_000; // far beyond the wait below: the stall reclaim cannot be what runs the jobs
    const proxy = open.track(await ReplySwallowingProxy.start(server.url));
    const prefix = testPrefix('lost-reply');
    const queue = open.track(new Queue('lost-reply', { connection: { url: server.url }, prefix }));
    const starts = new Map<string, number>();
    const worker = open.track(
      new Worker('lost-reply', async (job) => void starts.set(job.id, (starts.get(job.id) ?? 0) + 1), {
        connection: { url: proxy.url, name: workerConnectionName('lost-reply') },
        prefix,
        scheduler: false,
        concurrency: 10,
        stallTimeout: STALL_TIMEOUT,
      }),
    );
    worker.on('error', () => undefined); // connection errors while it reconnects
    await worker.waitUntilReady();
    // idle: its blocking read is open, with a claim queued behind it
    await waitUntil(async () => (await connectionsOf(worker)).length === 3, { message: 'the worker\'s three connections' });

    proxy.swallowReplies = true;
    const added = await queue.addBulk(Array.from({ length: 3 }, (_, i) => ({ name: 'quick', data: {}, opts: { jobId: `lost-${i}` } })));
    const ids = added.map((job) => job.id);
    // Redis ran the claim: the entries are pending for the worker, which never got the reply
    const lane = queue.keys.lane(2);
    await waitUntil(
      async () => {
        const [count, , , consumers] = await admin.call<[number, string, string, [string, string][] | null]>(['XPENDING', lane, CONSUMER_GROUP]);
        return Number(count) === 3 && consumers?.[0]?.[0] === worker.consumer;
      },
      { message: 'the three entries pending for the worker' },
    );
    expect(starts.size).toBe(0);
    proxy.swallowReplies = false;
    proxy.cutAll();

    await waitUntil(async () => [...(await states(queue, ids)).values()].every((state) => state === 'completed'), {
      timeoutMs: 20_000,
      message: 'the claimed jobs to complete well before the stall timeout',
    });
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    expect(jobs.map((job) => job?.stalls)).toEqual([0, 0, 0]);
    expect(ids.map((id) => starts.get(id))).toEqual([1, 1, 1]);
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 3 });
  });
});
