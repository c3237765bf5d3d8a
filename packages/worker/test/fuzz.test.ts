/**
 * Bad input at scale (issue 7), on a private redis-server so that its write
 * counter (`rdb_changes_since_last_save`) tells whether a call wrote anything:
 * - thousands of random option objects for Queue, Worker and Scheduler: each
 *   constructs (and a queue then adds, a worker starts and closes) or throws a
 *   StreamJobsError, never a TypeError or a Redis error; a throw writes nothing;
 * - thousands of random add / addBulk / cancel / schedule calls (random names,
 *   ids, options and payloads: deep, cyclic, BigInt, huge, functions, symbols,
 *   Dates...): each resolves or rejects with a StreamJobsError, and a
 *   rejection writes nothing;
 * - then workers run the accepted jobs while hand-written stream entries
 *   (garbage fields, no `j`, `j` of a missing job, binary, duplicates of real
 *   entries) are XADDed into the tier streams between more good jobs: every
 *   unreadable entry is dead-lettered, every accepted job runs exactly once
 *   with its data intact (or stays canceled or delayed, as it was told), and
 *   nothing is left unhandled;
 * - and, deterministically, the case the random entries once hit by chance: a
 *   copy of a job's entry under the same id in another tier's stream.
 * Inputs come from a seeded PRNG; the seed is in every test's name. Replay a
 * failure with FUZZ_SEED=<seed>.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import {
  ConnectionError,
  Queue,
  RedisConnection,
  StreamJobsError,
  type BulkJob,
  type Job,
  type JobOptions,
} from '@streamjobs/core';
import { Scheduler } from '@streamjobs/scheduler';
import { Worker } from '@streamjobs/worker';
import { OpenResources, startRedisServer, testPrefix, waitUntil, type RedisServerProcess } from '@streamjobs/testing';
import { Fuzz, TRICKY_STRINGS } from './support/fuzz-values.js';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const TIERS_B = ['fast', 'slow'];

const open = new OpenResources();
let server: RedisServerProcess;
let admin: RedisConnection;
let connection: { url: string };
const root = testPrefix('fuzz');
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => void unhandled.push(err);

beforeAll(async () => {
  server = await startRedisServer();
  open.track({ close: () => server.stop() });
  admin = open.track(RedisConnection.create({ url: server.url }));
  connection = { url: server.url };
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterAll(async () => {
  await open.closeAll();
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

/** Writes the server has counted since it started (all of them are ours). */
async function writeCount(): Promise<number> {
  const info = await admin.call<string>(['INFO', 'persistence']);
  return Number(/rdb_changes_since_last_save:(\d+)/.exec(info)![1]);
}

/** Describes an input briefly, for a failure message. */
function show(input: unknown): string {
  return inspect(input, { depth: 2, maxArrayLength: 5, maxStringLength: 60, breakLength: Infinity });
}

/**
 * Runs `call` on `input`; resolves with its value, or undefined when it threw
 * a StreamJobsError that is not a ConnectionError (Redis was up; unless a tiny
 * `connectTimeout` may run out) and wrote nothing. Anything else is recorded
 * in `failures`.
 */
async function attempt<T>(
  failures: string[],
  input: unknown,
  call: () => T | Promise<T>,
  { mayTimeOut = false } = {},
): Promise<{ value: T } | undefined> {
  const before = await writeCount();
  try {
    return { value: await call() };
  } catch (err) {
    if (!(err instanceof StreamJobsError) || (err instanceof ConnectionError && !mayTimeOut)) {
      failures.push(`${show(input)} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    } else if ((await writeCount()) !== before) {
      failures.push(`${show(input)} was rejected (${err.code}) but wrote to Redis`);
    }
    return undefined;
  }
}

/** Every error a worker or scheduler reports must be one of ours. */
function untyped(errors: unknown[]): string[] {
  return errors.filter((err) => !(err instanceof StreamJobsError)).map((err) => show(err));
}

class Inputs extends Fuzz {
  /** A prefix under the test's root, or anything. */
  prefix(): unknown {
    return this.chance(0.85) ? `${root}${this.chance(0.5) ? '' : this.string()}` : this.value(1);
  }

  queueName(): unknown {
    return this.chance(0.85) ? this.pick(['q', 'other', ...TRICKY_STRINGS]) : this.value(1);
  }

  /** The test server, or a connection value that is wrong (never one that reaches another Redis). */
  connection(): unknown {
    if (this.chance(0.9)) return connection;
    return this.pick([null, 5, server.url, [], true, { url: 5 }, { url: 'http://127.0.0.1/' }, { url: server.url, socket: 'tls' }]);
  }

  tiers(): unknown {
    return this.pick([['critical', 'high', 'normal', 'low'], TIERS_B, ['only'], ['a', 'a'], [], ['x', ''], Array.from({ length: 17 }, (_, i) => `t${i}`)]);
  }

  priority(): unknown {
    return this.chance(0.5) ? this.pick(['critical', 'high', 'normal', 'low', ...TIERS_B]) : this.int(5) - 1;
  }

  retention(): unknown {
    return this.pick([true, false, 0, 10, -1, { age: 60_000 }, { count: 5 }, { age: -1 }, {}, { size: 1 }]);
  }

  jobOptions(): unknown {
    return this.options({
      priority: () => this.priority(),
      delay: () => this.pick([0, 50, 300, 1e9, -5, Number.NaN]),
      runAt: () => this.pick([new Date(Date.now() + 200), new Date(Date.now() + 1e9), Date.now() - 1_000, new Date('nope'), -1]),
      jobId: () => (this.chance(0.5) ? `id-${this.int(400)}` : this.string()),
      attempts: () => this.pick([1, 3, 0, 1.5, 1e7]),
      backoff: () => this.pick([100, { type: 'fixed', delay: 10 }, { type: 'exponential', delay: 10, maxDelay: 50, jitter: 0.5 }, { type: 'linear' }]),
      timeout: () => this.pick([60_000, 2 ** 31 - 1, 2 ** 31, 0, -1, 1.5]),
      removeOnComplete: () => this.retention(),
      removeOnFail: () => this.retention(),
    });
  }

  queueOptions(): unknown {
    return this.options(
      {
        connection: () => this.connection(),
        prefix: () => this.prefix(),
        tiers: () => this.tiers(),
        defaultPriority: () => this.priority(),
        defaultJobOptions: () => this.jobOptions(),
        maxPayloadBytes: () => this.count(),
        maxEvents: () => this.count(),
        connectTimeout: () => this.ms(),
      },
      { presence: 0.3, required: ['connection'] },
    );
  }

  workerOptions(): unknown {
    return this.options(
      {
        connection: () => this.connection(),
        prefix: () => this.prefix(),
        concurrency: () => this.count(),
        stallTimeout: () => this.ms(),
        heartbeatInterval: () => this.ms(),
        maxStalls: () => this.count(),
        closeTimeout: () => this.ms(),
        tiers: () => this.tiers(),
        scheduler: () => this.pick([false, true, { lockTtl: 1_000, pollInterval: 50 }, { lockTtl: 0 }, { leader: true }, 'on']),
        maxResultBytes: () => this.count(),
        maxCheckpointBytes: () => this.count(),
        maxEvents: () => this.count(),
        blockTimeout: () => this.ms(),
        connectTimeout: () => this.ms(),
      },
      { presence: 0.2, required: ['connection'] },
    );
  }

  schedulerOptions(): unknown {
    return this.options(
      {
        connection: () => this.connection(),
        queues: () => (this.chance(0.7) ? Array.from({ length: this.int(3) + 1 }, () => this.queueName()) : this.value(1)),
        prefix: () => this.prefix(),
        lockTtl: () => this.ms(),
        pollInterval: () => this.ms(),
        connectTimeout: () => this.ms(),
      },
      { presence: 0.3, required: ['connection', 'queues'] },
    );
  }

  spec(): unknown {
    return this.options(
      {
        cron: () => this.pick(['*/5 * * * * *', '0 0 * * *', '0 0 30 2 *', '@daily', '* * *', '61 * * * *', 'x y z a b', '']),
        tz: () => this.pick(['UTC', 'Europe/Berlin', 'Mars/Olympus', '', 'utc']),
        every: () => this.pick([1_000, 60_000, 0, -1, 1.5]),
        startAt: () => this.pick([new Date(Date.now() + 1e9), new Date('nope'), 0, -1]),
        endAt: () => this.pick([new Date(Date.now() + 2e9), new Date(0), 'later']),
        limit: () => this.pick([1, 5, 0, 1.5]),
        catchUp: () => this.pick(['all', 'latest', 'none', 'some']),
        maxCatchUp: () => this.pick([0, 100, 10_001, -1]),
        overlap: () => this.pick(['allow', 'skip', 'buffer', 'never']),
      },
      { presence: 0.5 },
    );
  }

  template(): unknown {
    return this.options({ name: () => this.string(), data: () => this.data(), opts: () => this.jobOptions() }, { presence: 0.6, wrong: 0.1 });
  }
}

describe(`fuzz (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, () => {
  it('random constructor options: each constructs and works, or throws a StreamJobsError and writes nothing', async () => {
    const fuzz = new Inputs(SEED);
    const failures: string[] = [];
    const reported: unknown[] = [];
    const handler = async () => 'ok';
    let built = 0;
    for (let i = 0; i < 3_000; i++) {
      const kind = kindOf(i);
      if (kind === 'queue') {
        const [name, options] = [fuzz.queueName(), fuzz.queueOptions()];
        const made = await attempt(failures, { name, options }, () => new Queue(name as string, options as never));
        if (!made) continue;
        built++;
        const { connectTimeout } = options as { connectTimeout?: unknown };
        await attempt(failures, { name, options, add: true }, () => made.value.add('probe', { i }), {
          mayTimeOut: typeof connectTimeout === 'number' && connectTimeout < 100,
        });
        await made.value.close();
      } else if (kind === 'worker') {
        const [name, options] = [fuzz.queueName(), fuzz.workerOptions()];
        const made = await attempt(failures, { name, options }, () => new Worker(name as string, fuzz.chance(0.95) ? handler : (fuzz.value(0) as never), options as never));
        if (!made) continue;
        built++;
        made.value.on('error', (err) => reported.push(err));
        await made.value.close();
      } else {
        const options = fuzz.schedulerOptions();
        const made = await attempt(failures, { options }, () => new Scheduler(options as never));
        if (!made) continue;
        built++;
        made.value.on('error', (err) => reported.push(err));
        await made.value.close();
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(untyped(reported)).toEqual([]);
    expect(built).toBeGreaterThan(300); // the generator must produce good options too, or the run proves little
    expect(unhandled).toEqual([]);
  });

  it('random calls, then workers run every accepted job exactly once and dead-letter hand-written entries', async () => {
    const fuzz = new Inputs(SEED + 1);
    const failures: string[] = [];
    const prefix = `${root}:calls`;
    const queues: Queues = {
      a: open.track(new Queue('a', { connection, prefix })),
      b: open.track(new Queue('b', { connection, prefix, tiers: TIERS_B, maxPayloadBytes: 10_000 })),
    };
    const schedules = open.track(new Queue('schedules', { connection, prefix })); // no scheduler runs it
    for (const queue of [queues.a, queues.b, schedules]) await queue.getTiers(); // first use writes the meta and groups

    const expected = await randomCalls(fuzz, queues, schedules, failures);
    expect(failures.slice(0, 10)).toEqual([]);
    expect(expected.size).toBeGreaterThan(300);

    const ran = startWorkers(prefix, expected);
    const entries = await writeEntriesBetweenJobs(fuzz, queues, expected);
    const toRun = [...expected].filter(([, job]) => job.end === 'run').map(([key]) => key);
    await waitUntil(async () => toRun.every((key) => ran.runs.has(key)) && (await entriesHandled(queues, entries)), {
      message: `every accepted job run, every unreadable entry dead-lettered, nothing waiting (not run: ${toRun.filter((key) => !ran.runs.has(key)).slice(0, 5).join(', ')})`,
      timeoutMs: 45_000,
    });

    expect([...ran.runs.keys()].filter((key) => !expected.has(key))).toEqual([]);
    expect(ran.wrongData).toEqual([]);
    for (const [key, job] of expected) {
      const stored = await queues[job.queue].getJob(key.slice(2));
      const problem = outcomeProblem(job, stored?.state ?? 'removed by retention', ran.runs.get(key) ?? 0);
      if (problem) failures.push(`${key}: ${problem}`);
    }
    for (const which of QUEUE_NAMES) {
      // Beyond the unreadable entries, only copies of jobs that retention (of other jobs) removed are dead letters.
      const dead = await queues[which].deadLetters({ count: 10_000 });
      for (const { id } of dead) {
        if (entries[which].unreadable.has(id)) continue;
        const copyOf = entries[which].copies.get(id);
        if (copyOf === undefined || (await queues[which].getJob(copyOf)) !== null) failures.push(`unexpected dead letter ${which}/${id}`);
      }
      expect(dead.filter((job) => job.state !== 'failed' || !job.error)).toEqual([]);
      expect(await queues[which].counts()).toMatchObject({ waiting: 0, active: 0 });
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(ran.reported.map(show)).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});

describe('a hand-written entry with a real entry\'s id', () => {
  // Stream ids are per stream: the same id in another tier's stream is another entry.
  it('in another tier stream does not make the job run twice', async () => {
    const prefix = `${root}:same-id`;
    const queue = open.track(new Queue('same-id', { connection, prefix }));
    const job = await queue.add('real', { n: 1 }); // tier normal (2)
    const entryId = await admin.call<string>(['HGET', queue.keys.job(job.id), 'entry']);
    await admin.call(['XADD', queue.keys.lane(0), entryId, 'j', job.id]);
    let runs = 0;
    const worker = open.track(
      new Worker('same-id', async () => void runs++, { connection, prefix, concurrency: 2, scheduler: false }),
    );
    const errors: Error[] = [];
    worker.on('error', (err) => errors.push(err));
    expect((await queue.waitFor(job.id)).state).toBe('completed');
    await waitUntil(async () => (await queue.counts()).waiting === 0, { message: 'both entries read' });
    await worker.close();
    expect(runs).toBe(1);
    expect(errors).toEqual([]);
  });
});

const QUEUE_NAMES = ['a', 'b'] as const;
type QueueName = (typeof QUEUE_NAMES)[number];
type Queues = Record<QueueName, Queue>;

/**
 * Random add, addBulk and cancel calls on the two queues, and schedule calls
 * on a third, before any worker runs. Returns what each accepted job must end
 * as, by `queue/id`.
 */
async function randomCalls(fuzz: Inputs, queues: Queues, schedules: Queue, failures: string[]): Promise<Map<string, Expected>> {
  const expected = new Map<string, Expected>();
  const accept = (queue: QueueName, jobs: Job[]) => {
    for (const job of jobs) {
      if (expected.has(`${queue}/${job.id}`)) continue; // an existing id: the first job stands
      const far = job.state === 'delayed' && job.dueAt! > Date.now() + 10_000;
      expected.set(`${queue}/${job.id}`, { queue, data: JSON.stringify(job.data), end: far ? 'delayed' : 'run', dueAt: job.dueAt });
    }
  };
  for (let i = 0; i < 2_500; i++) {
    const which = fuzz.pick(QUEUE_NAMES);
    const queue = queues[which];
    const roll = fuzz.int(20);
    if (roll < 11) {
      const [name, data, opts] = [fuzz.chance(0.9) ? 'job' : fuzz.value(1), fuzz.data(), fuzz.chance(0.3) ? undefined : fuzz.jobOptions()];
      const added = await attempt(failures, { name, data, opts }, () => queue.add(name as string, data, opts as JobOptions));
      if (added) accept(which, [added.value]);
    } else if (roll < 15) {
      const jobs = fuzz.chance(0.9)
        ? Array.from({ length: fuzz.int(6) }, () => (fuzz.chance(0.95) ? { name: 'bulk', data: fuzz.data(), opts: fuzz.jobOptions() } : fuzz.value(1)))
        : fuzz.value(1);
      const added = await attempt(failures, { jobs }, () => queue.addBulk(jobs as BulkJob[]));
      if (added) accept(which, added.value);
    } else if (roll < 17) {
      const ids = fuzz.chance(0.7) ? `id-${fuzz.int(400)}` : fuzz.chance(0.5) ? [fuzz.string(), `id-${fuzz.int(400)}`] : fuzz.value(1);
      const options = fuzz.chance(0.8) ? undefined : fuzz.options({ reason: () => fuzz.string(), by: () => fuzz.string() });
      const canceled = await attempt(failures, { ids, options }, () => queue.cancel(ids as string, options as never));
      const answers = canceled ? [canceled.value].flat() : [];
      [ids].flat().forEach((id, index) => {
        const job = typeof id === 'string' ? expected.get(`${which}/${id}`) : undefined;
        if (answers[index] === true && job) job.end = 'canceled';
      });
    } else {
      const [id, spec, template] = [fuzz.chance(0.7) ? `s-${fuzz.int(50)}` : fuzz.string(), fuzz.spec(), fuzz.template()];
      await attempt(failures, { id, spec, template }, () => schedules.schedule(id as string, spec as never, template as never));
      const other = fuzz.chance(0.5) ? `s-${fuzz.int(50)}` : fuzz.value(1);
      const call = fuzz.pick(['unschedule', 'pauseSchedule', 'resumeSchedule'] as const);
      await attempt(failures, { call, other }, () => schedules[call](other as string));
    }
  }
  return expected;
}

/** Two workers per queue, counting the runs of each job and checking its data. */
function startWorkers(prefix: string, expected: Map<string, Expected>) {
  const ran = { runs: new Map<string, number>(), wrongData: [] as string[], reported: [] as unknown[] };
  for (const which of QUEUE_NAMES) {
    for (let n = 0; n < 2; n++) {
      const worker = open.track(
        new Worker(
          which,
          async (job) => {
            const key = `${which}/${job.id}`;
            ran.runs.set(key, (ran.runs.get(key) ?? 0) + 1);
            if (JSON.stringify(job.data) !== expected.get(key)?.data) ran.wrongData.push(key);
            return null;
          },
          { connection, prefix, concurrency: 20, tiers: which === 'b' ? TIERS_B : undefined },
        ),
      );
      worker.on('error', (err) => ran.reported.push(err));
    }
  }
  return ran;
}

/** Dead-letter ids (`dead:<tier>:<entry id>`) of the unreadable entries written, and of the copies of real entries. */
type WrittenEntries = Record<QueueName, { unreadable: Set<string>; copies: Map<string, string> }>;

/** Hand-written entries in random tier streams, with a good job added before every fourth. */
async function writeEntriesBetweenJobs(fuzz: Inputs, queues: Queues, expected: Map<string, Expected>): Promise<WrittenEntries> {
  const written: WrittenEntries = { a: { unreadable: new Set(), copies: new Map() }, b: { unreadable: new Set(), copies: new Map() } };
  const between: Record<QueueName, string[]> = { a: [], b: [] };
  for (let i = 0; i < 400; i++) {
    const which = fuzz.pick(QUEUE_NAMES);
    if (i % 4 === 0 || between[which].length === 0) {
      const jobId = `between-${i}`; // known before the add: a worker may run it before add() resolves
      expected.set(`${which}/${jobId}`, { queue: which, data: JSON.stringify({ i }), end: 'run' });
      await queues[which].add('between', { i }, { jobId });
      between[which].push(jobId);
    }
    const tier = fuzz.int((await queues[which].getTiers()).length);
    const entry = handWrittenEntry(fuzz, i, between[which]);
    const entryId = await admin.call<string>(['XADD', queues[which].keys.lane(tier), '*', ...entry.fields]);
    if (entry.copyOf === undefined) written[which].unreadable.add(`dead:${tier}:${entryId}`);
    else written[which].copies.set(`dead:${tier}:${entryId}`, entry.copyOf);
  }
  return written;
}

/** Whether every unreadable entry is dead-lettered and nothing waits or runs. */
async function entriesHandled(queues: Queues, written: WrittenEntries): Promise<boolean> {
  for (const which of QUEUE_NAMES) {
    const dead = new Set((await queues[which].deadLetters({ count: 10_000 })).map((job) => job.id));
    if (![...written[which].unreadable].every((id) => dead.has(id))) return false;
    const { waiting, active } = await queues[which].counts();
    if (waiting + active > 0) return false;
  }
  return true;
}

/** Mostly queues: a worker that constructs also connects, starts and closes, which costs far more. */
function kindOf(i: number): 'queue' | 'worker' | 'scheduler' {
  return i % 6 === 0 ? 'worker' : i % 6 === 1 ? 'scheduler' : 'queue';
}

interface Expected {
  queue: QueueName;
  data: string;
  /** `delayed`: due too far ahead to run during the test. */
  end: 'run' | 'delayed' | 'canceled';
  dueAt?: number | undefined;
}

/** What is wrong with how an accepted job ended (its state and how often it ran), if anything. */
function outcomeProblem(job: Expected, state: string, runs: number): string | undefined {
  const finished = ['completed', 'removed by retention'];
  const allowed =
    job.end === 'run' ? finished
    : job.end === 'canceled' ? ['canceled']
    : Date.now() < job.dueAt! ? ['delayed']
    : ['delayed', ...finished]; // a slow run reached its due time
  if (!allowed.includes(state)) return `${state}, expected ${allowed.join(' or ')}`;
  const expectedRuns = finished.includes(state) ? 1 : 0;
  return runs === expectedRuns ? undefined : `ran ${runs} times, expected ${expectedRuns}`;
}

/**
 * A stream entry as nobody but a bug or an intruder writes it: no `j`, `j` of
 * a job that does not exist (text, empty, binary), several `j`s, huge values;
 * or a copy of a real job's entry (`copyOf`), which must not make it run twice.
 */
function handWrittenEntry(fuzz: Fuzz, i: number, realIds: readonly string[]): { fields: (string | Buffer)[]; copyOf?: string } {
  const ghost = `ghost-${i}-${fuzz.string()}`;
  switch (fuzz.int(8)) {
    case 0: return { fields: ['foo', 'bar'] };
    case 1: return { fields: [`f${fuzz.string()}`, fuzz.string(), 'J', ghost] };
    case 2: return { fields: ['j', ghost] };
    case 3: return { fields: ['j', ''] };
    case 4: return { fields: ['j', Buffer.from([0xff, 0xfe, 0x00, i & 0xff]), Buffer.from([0x80]), Buffer.from([0xc3])] };
    case 5: return { fields: ['j', ghost, 'j', fuzz.pick(realIds)] };
    case 6: return { fields: ['j', ghost, 'payload', 'x'.repeat(100_000)] };
    default: {
      const copyOf = fuzz.pick(realIds);
      return { fields: ['j', copyOf], copyOf };
    }
  }
}
