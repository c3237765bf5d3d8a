/**
 * Cancellation across processes (semantics 4, issue 3), with real worker
 * processes (packages/testing/src/fixtures/worker-process.ts) and real Redis:
 * (a) `queue.cancel(id, { reason, by })` here aborts the signal of the job
 *     running in the fixture process, with a JobCanceledError carrying both;
 *     the job ends `canceled`, its late outcome discarded and not retried;
 * (b) of eight jobs running in two processes, the four canceled ones abort (in
 *     the process running each) and the other four complete untouched;
 * (c) the worker's subscriber connection is killed in the same transaction as
 *     the cancel, before its notice is published, so the notice is lost: the
 *     heartbeat backstop still aborts the signal within one heartbeat interval;
 * (d) a handler there that ignores its signal and returns later: the job stays
 *     `canceled`, its result is discarded (and said so), it is not retried.
 *
 * The fixture records each abort in `<recordKey>:aborts` (job id ->
 * `ms|reason class|reason|by`, `ms` from its own clock, the same machine's as
 * ours, to the microsecond) and prints `aborted <id>`.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { CONSUMER_GROUP, DEFAULT_MAX_EVENTS, LuaScript, Queue, type QueueEvent } from '@streamjobs/core';
import {
  OpenResources,
  connection,
  isClusterUrl,
  nodeFor,
  rawClient,
  redisUrl,
  spawnFixture,
  testPrefix,
  waitUntil,
  type FixtureJobData,
  type FixtureProcess,
  type WorkerFixtureConfig,
} from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

type RawClient = Awaited<ReturnType<typeof rawClient>>;

/**
 * A heartbeat interval no test here lives long enough to reach: an abort seen
 * in (a) and (b) can only have come through the cancel notice.
 */
const NO_HEARTBEAT = { stallTimeout: 300_000, heartbeatInterval: 120_000 };
/** Cancel-to-abort bound through the notice: milliseconds on loopback; generous for two noisy cores. */
const NOTICE_BOUND_MS = 2_000;

interface Setup {
  queueName: string;
  recordKey: string;
  queue: Queue;
  redis: RawClient;
  spawnWorker(overrides?: Partial<WorkerFixtureConfig>): FixtureProcess;
}

async function setUp(label: string): Promise<Setup> {
  const prefix = testPrefix(label);
  const queueName = label;
  const recordKey = `${prefix}:records`;
  const redis = await rawClient();
  open.track({ close: () => redis.destroy() });
  const queue = open.track(new Queue(queueName, { connection: connection(), prefix }));
  return {
    queueName,
    recordKey,
    queue,
    redis,
    spawnWorker(overrides = {}) {
      const config: WorkerFixtureConfig = {
        url: redisUrl(),
        prefix,
        queue: queueName,
        recordKey,
        concurrency: 1,
        scheduler: false,
        ...NO_HEARTBEAT,
        ...overrides,
      };
      const proc = spawnFixture('worker-process', config);
      open.track({ close: () => proc.kill('SIGKILL') });
      return proc;
    },
  };
}

interface AbortRecord {
  at: number;
  kind: string;
  reason: string;
  by: string;
}

async function abortsOf(redis: RawClient, recordKey: string): Promise<Map<string, AbortRecord>> {
  const raw = await redis.hGetAll(`${recordKey}:aborts`);
  return new Map(
    Object.entries(raw).map(([id, value]) => {
      const [at, kind, reason, by] = String(value).split('|');
      return [id, { at: Number(at), kind: kind!, reason: reason!, by: by! }];
    }),
  );
}

async function abortOf(redis: RawClient, recordKey: string, id: string): Promise<AbortRecord> {
  const record = (await abortsOf(redis, recordKey)).get(id);
  if (!record) throw new Error(`no abort recorded for ${id}`);
  return record;
}

/** Which process (pid) started which job, from `<recordKey>:order`. */
async function startedBy(redis: RawClient, recordKey: string): Promise<Map<string, number>> {
  const order = await redis.lRange(`${recordKey}:order`, 0, -1);
  return new Map(order.map((line) => [line.split('|')[0]!, Number(line.split('|')[1])]));
}

async function eventsOf(queue: Queue, id: string): Promise<QueueEvent[]> {
  return (await queue.readEvents('0-0', 10_000)).filter((event) => event.jobId === id);
}

/** Epoch ms with µs digits: comparable with the fixture's abort times (same machine clock). */
const now = () => performance.timeOrigin + performance.now();

const lineFor = (word: string, id: string) => new RegExp(`^${word} ${id.replace(/[^\w-]/g, '\\$&')}$`);

describe('cancel across processes', () => {
  it('(a) aborts the signal of a job running in another process, with the reason and who canceled; the job ends canceled', async () => {
    const s = await setUp('xcancel-a');
    const worker = s.spawnWorker();
    await worker.waitForLine(/^ready /, 60_000);

    const data: FixtureJobData = { waitForAbort: true };
    // attempts 3: were the canceled attempt's outcome taken for a failure, it would be retried
    const job = await s.queue.add('long', data, { jobId: 'job-a', attempts: 3 });
    await worker.waitForLine(lineFor('active', job.id));
    expect((await s.queue.getJob(job.id))?.state).toBe('active');

    const before = now();
    await expect(s.queue.cancel(job.id, { reason: 'customer changed their mind', by: 'support:alice' })).resolves.toBe(true);
    await worker.waitForLine(lineFor('aborted', job.id), 30_000);

    const abort = await abortOf(s.redis, s.recordKey, job.id);
    expect({ kind: abort.kind, reason: abort.reason, by: abort.by }).toEqual({
      kind: 'JobCanceledError',
      reason: 'customer changed their mind',
      by: 'support:alice',
    });
    expect(abort.at - before).toBeGreaterThan(0);
    expect(abort.at - before).toBeLessThan(NOTICE_BOUND_MS);

    const final = await s.queue.waitFor(job.id, { timeoutMs: 30_000 });
    expect(final).toMatchObject({
      state: 'canceled',
      cancelReason: 'customer changed their mind',
      canceledBy: 'support:alice',
    });
    // the handler's late outcome is discarded, and said so; nothing retries the job
    // ('job:discarded' is written by finish.lua but missing from QueueEventName)
    await waitUntil(async () => (await eventsOf(s.queue, job.id)).some((event) => (event.name as string) === 'job:discarded'), {
      timeoutMs: 30_000,
      message: 'job:discarded event',
    });
    const events = await eventsOf(s.queue, job.id);
    expect(events.map((event) => event.name)).toEqual(['job:canceled', 'job:discarded']);
    expect(events[0]!.fields).toMatchObject({ reason: 'customer changed their mind', by: 'support:alice', from: 'active' });
    expect(events[1]!.fields).toMatchObject({ outcome: 'canceled' }); // the handler rethrew its signal's reason
    expect((await s.queue.getJob(job.id))?.state).toBe('canceled');
    expect(await s.queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, canceled: 1 });
    expect(await s.redis.hGet(`${s.recordKey}:starts`, job.id)).toBe('1');
    expect(await s.redis.hGet(`${s.recordKey}:done`, job.id)).toBeNull();
    // already final: a second cancel changes nothing
    await expect(s.queue.cancel(job.id, { reason: 'again' })).resolves.toBe(false);
    expect((await s.queue.getJob(job.id))?.cancelReason).toBe('customer changed their mind');
  });

  it('(b) of jobs running in two processes, aborts exactly the canceled ones, each in its own process', async () => {
    const s = await setUp('xcancel-b');
    const PER_PROCESS = 4;
    const workers = [s.spawnWorker({ concurrency: PER_PROCESS }), s.spawnWorker({ concurrency: PER_PROCESS })];
    await Promise.all(workers.map((worker) => worker.waitForLine(/^ready /, 60_000)));

    // Each job waits for its signal, at most RUN_MS, then completes: long
    // enough to be canceled while running, short enough to let the
    // uncanceled ones finish by themselves.
    const RUN_MS = 6_000;
    const data: FixtureJobData = { waitForAbort: true, sleepMs: RUN_MS };
    const jobs = await s.queue.addBulk(
      Array.from({ length: 2 * PER_PROCESS }, (_, i) => ({ name: 'long', data, opts: { jobId: `job-b${i}` } })),
    );
    const ids = jobs.map((job) => job.id);
    // both processes full: all eight running, four in each
    const runner = await waitUntil(
      async () => {
        const started = await startedBy(s.redis, s.recordKey);
        return started.size === ids.length ? started : null;
      },
      { timeoutMs: 30_000, message: 'all jobs running' },
    );
    const pids = workers.map((worker) => worker.pid);
    for (const pid of pids) expect([...runner.values()].filter((p) => p === pid)).toHaveLength(PER_PROCESS);

    // cancel two of each process's four
    const toCancel = pids.flatMap((pid) => ids.filter((id) => runner.get(id) === pid).slice(0, 2));
    const untouched = ids.filter((id) => !toCancel.includes(id));
    const before = now();
    await expect(s.queue.cancel(toCancel, { reason: 'batch recalled', by: 'ops' })).resolves.toEqual([true, true, true, true]);

    // each abort happens in the process that runs the job
    for (const id of toCancel) {
      const worker = workers[pids.indexOf(runner.get(id)!)]!;
      await worker.waitForLine(lineFor('aborted', id), 30_000);
    }
    const finals = await Promise.all(ids.map((id) => s.queue.waitFor(id, { timeoutMs: 60_000 })));
    const stateOf = new Map(finals.map((job) => [job.id, job.state]));
    for (const id of toCancel) expect([id, stateOf.get(id)]).toEqual([id, 'canceled']);
    for (const id of untouched) expect([id, stateOf.get(id)]).toEqual([id, 'completed']);

    const aborts = await abortsOf(s.redis, s.recordKey);
    expect([...aborts.keys()].sort()).toEqual([...toCancel].sort());
    for (const id of toCancel) {
      const abort = aborts.get(id)!;
      expect({ id, kind: abort.kind, reason: abort.reason, by: abort.by }).toEqual({
        id,
        kind: 'JobCanceledError',
        reason: 'batch recalled',
        by: 'ops',
      });
      expect(abort.at - before).toBeGreaterThan(0);
      expect(abort.at - before).toBeLessThan(NOTICE_BOUND_MS);
    }
    // no process printed an abort of a job it did not run, or of an untouched one
    for (const [index, worker] of workers.entries()) {
      const printed = worker.lines.filter((line) => line.startsWith('aborted ')).map((line) => line.slice('aborted '.length));
      expect(printed.sort()).toEqual(toCancel.filter((id) => runner.get(id) === pids[index]).sort());
    }
    const done = await s.redis.hGetAll(`${s.recordKey}:done`);
    expect(Object.keys(done).sort()).toEqual([...untouched].sort());
    const starts = await s.redis.hGetAll(`${s.recordKey}:starts`);
    expect(Object.values(starts).every((count) => count === '1')).toBe(true);
    expect(await s.queue.counts()).toMatchObject({ active: 0, completed: 4, canceled: 4 });
  });

  it('(c) aborts within one heartbeat interval when the cancel notice is lost with the killed subscriber connection', async () => {
    const s = await setUp('xcancel-c');
    const HEARTBEAT_INTERVAL = 1_000;
    const worker = s.spawnWorker({ stallTimeout: 3_000, heartbeatInterval: HEARTBEAT_INTERVAL });
    await worker.waitForLine(/^ready /, 60_000);
    // the worker process's one shared notice connection, which carries its cancel subscription
    const subscriberName = `streamjobs:notices:${worker.pid}`;
    // on a cluster: the queue's node, which holds the (sharded) subscription
    const node = await nodeFor(s.redis, s.queue.keys.base);
    const subscribed = (client: { sub: number; ssub?: number }) => client.sub + (client.ssub ?? 0) === 1;
    // On a cluster the subscriber's other connections (slot discovery,
    // commands) carry the same name and may sit on the same node: the one
    // wanted is the subscribed one.
    const subscriber = async (seen: number[]) =>
      (await node.clientList()).find((client) => client.name === subscriberName && subscribed(client) && !seen.includes(client.id));

    // The cancel script itself, sent inside a transaction right after the
    // kill: the notice it publishes finds the subscriber already dead.
    const cancelScript = LuaScript.fromFile('cancel', new URL('../../core/src/scripts/cancel.ts', import.meta.url).href);
    const killThenCancel = (clientId: number, jobId: string, reason: string) =>
      node
        .multi()
        .addCommand(['CLIENT', 'KILL', 'ID', String(clientId)])
        .addCommand([
          'EVAL',
          cancelScript.source,
          '1',
          s.queue.keys.delayed,
          s.queue.keys.base,
          CONSUMER_GROUP,
          reason,
          'chaos-test',
          String(DEFAULT_MAX_EVENTS),
          isClusterUrl(redisUrl()) ? 'SPUBLISH' : 'PUBLISH',
          jobId,
        ])
        .exec();

    // Two rounds: the second one kills the connection the worker reconnected
    // (and re-subscribed) after the first.
    const seenSubscriberIds: number[] = [];
    for (const round of [1, 2]) {
      const job = await s.queue.add('long', { waitForAbort: true } satisfies FixtureJobData, { jobId: `job-c${round}` });
      await worker.waitForLine(lineFor('active', job.id));
      // the subscriber is there and subscribed: the notice would have reached it
      const sub = await waitUntil(
        async () => (await subscriber(seenSubscriberIds)) ?? null,
        { timeoutMs: 30_000, message: `a subscribed ${subscriberName}` },
      );
      seenSubscriberIds.push(sub.id);

      const before = now();
      const replies = await killThenCancel(sub.id, job.id, `round ${round}`);
      // one client killed, then the job canceled (from `active`: its notice was published, to no one)
      expect(replies.map((reply) => (Array.isArray(reply) ? reply.map(Number) : Number(reply)))).toEqual([1, [1]]);
      await worker.waitForLine(lineFor('aborted', job.id), 30_000);

      const abort = await abortOf(s.redis, s.recordKey, job.id);
      expect({ kind: abort.kind, reason: abort.reason, by: abort.by }).toEqual({
        kind: 'JobCanceledError',
        reason: `round ${round}`,
        by: 'chaos-test',
      });
      // The heartbeat runs every interval ±10% and reads the canceled flag:
      // the abort comes at most 1.1 intervals after the cancel, plus the
      // heartbeat's round trip and scheduling noise on a loaded machine. (Each
      // round starts just after a heartbeat, the worker's start or the last
      // round's abort, so this is close to the worst case: ~1 s is typical,
      // and a backstop needing a second round would take ~2 s and fail. With
      // a 20 s interval the same rounds abort after ~20 s: it is the
      // heartbeat, not a notice, that aborts here.)
      const latency = abort.at - before;
      expect(latency).toBeGreaterThan(0);
      expect(latency).toBeLessThanOrEqual(HEARTBEAT_INTERVAL * 1.1 + 700);
      expect(await s.queue.waitFor(job.id, { timeoutMs: 30_000 })).toMatchObject({ state: 'canceled', cancelReason: `round ${round}` });
    }

    // The worker re-subscribed on a new connection, and notices flow again.
    const resubscribed = await waitUntil(async () => (await subscriber(seenSubscriberIds)) ?? null, {
      timeoutMs: 30_000,
      message: `a re-subscribed ${subscriberName}`,
    });
    expect(seenSubscriberIds).not.toContain(resubscribed.id);
    const last = await s.queue.add('long', { waitForAbort: true } satisfies FixtureJobData, { jobId: 'job-c3' });
    await worker.waitForLine(lineFor('active', last.id));
    await expect(s.queue.cancel(last.id, { reason: 'after reconnect' })).resolves.toBe(true);
    await worker.waitForLine(lineFor('aborted', last.id), 30_000);
    expect((await abortOf(s.redis, s.recordKey, last.id)).reason).toBe('after reconnect');
  });

  it('(d) a handler in another process that ignores its signal and returns later: the job stays canceled, its result is discarded', async () => {
    const s = await setUp('xcancel-d');
    const worker = s.spawnWorker();
    await worker.waitForLine(/^ready /, 60_000);
    const data: FixtureJobData = { ignoreSignal: true, sleepMs: 1_500 };
    const job = await s.queue.add('stubborn', data, { jobId: 'job-d', attempts: 3 });
    await worker.waitForLine(lineFor('active', job.id));

    await expect(s.queue.cancel(job.id, { reason: 'too late', by: 'ops' })).resolves.toBe(true);
    await worker.waitForLine(lineFor('aborted', job.id), 30_000);
    expect(await abortOf(s.redis, s.recordKey, job.id)).toMatchObject({ kind: 'JobCanceledError', reason: 'too late', by: 'ops' });
    // the handler runs on regardless, returns its result, and the worker reports that outcome as discarded
    await waitUntil(async () => (await eventsOf(s.queue, job.id)).some((event) => (event.name as string) === 'job:discarded'), {
      timeoutMs: 30_000,
      message: 'job:discarded event',
    });
    expect(await s.redis.hGet(`${s.recordKey}:done`, job.id)).toBe('1');
    const events = await eventsOf(s.queue, job.id);
    expect(events.map((event) => event.name)).toEqual(['job:canceled', 'job:discarded']);
    expect(events[1]!.fields).toMatchObject({ outcome: 'completed' });
    const final = await s.queue.getJob(job.id);
    expect(final).toMatchObject({ state: 'canceled', cancelReason: 'too late', canceledBy: 'ops' });
    expect(final?.result).toBeUndefined();
    expect(await s.queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 0, canceled: 1 });
    expect(await s.redis.hGet(`${s.recordKey}:starts`, job.id)).toBe('1');
  });
});
