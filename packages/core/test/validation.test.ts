// Bad input gets a typed error at the call, before anything is written; and
// nothing is ever silently dropped (unreadable entries are dead-lettered).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  InvalidOptionsError,
  PayloadTooLargeError,
  Queue,
  SerializationError,
  StreamJobsError,
  type BulkJob,
  type JobOptions,
} from '@streamjobs/core';
import { Scheduler } from '@streamjobs/scheduler';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
let raw: Awaited<ReturnType<typeof rawClient>>;

beforeAll(async () => {
  raw = await rawClient();
});
afterAll(async () => {
  await open.closeAll();
  raw.destroy();
});

const QUEUE = 'validation';

/** Every key whose name starts with `prefix`. */
async function keysUnder(prefix: string): Promise<string[]> {
  return ((await raw.sendCommand(['KEYS', `${prefix}*`])) as unknown[]).map(String).sort();
}

function freshQueue(options: Record<string, unknown> = {}): { queue: Queue; prefix: string } {
  const prefix = testPrefix('val');
  const queue = open.track(new Queue(QUEUE, { connection: connection(), prefix, ...options }));
  return { queue, prefix };
}

type ErrorClass = new (...args: any[]) => StreamJobsError;

/** Asserts `promise` rejects with a `type` (a StreamJobsError with a code) matching `props`. */
async function expectRejects(promise: Promise<unknown>, type: ErrorClass, props: Record<string, unknown> = {}) {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(type);
  expect(caught).toBeInstanceOf(StreamJobsError);
  expect(typeof (caught as StreamJobsError).code).toBe('string');
  expect(caught).toMatchObject(props);
  return caught as StreamJobsError;
}

/**
 * Asserts constructing throws InvalidOptionsError (for `option` when given).
 * Whatever gets constructed anyway is closed, so a missing check cannot leave
 * a running worker behind.
 */
function expectConstructorThrows(construct: () => { close(): Promise<unknown> }, option?: string): void {
  let caught: unknown;
  try {
    open.track(construct());
  } catch (err) {
    caught = err;
  }
  if (caught === undefined) {
    throw new Error(`expected InvalidOptionsError${option ? ` for "${option}"` : ''}, but the options were accepted`);
  }
  expect(caught).toBeInstanceOf(InvalidOptionsError);
  expect((caught as InvalidOptionsError).code).toBe('ERR_INVALID_OPTIONS');
  if (option !== undefined) expect((caught as InvalidOptionsError).option).toBe(option);
}

describe('the key check itself', () => {
  it('sees the keys a good first call writes', async () => {
    const { queue, prefix } = freshQueue();
    expect(await keysUnder(prefix)).toEqual([]);
    await queue.add('ok', { a: 1 });
    const keys = await keysUnder(prefix);
    expect(keys).toContain(`${prefix}:{${QUEUE}}:lane:2`);
    expect(keys.filter((key) => key.includes(':job:'))).toHaveLength(1);
  });
});

describe('invalid job options: InvalidOptionsError, nothing written', () => {
  const cases: [string, unknown, string][] = [
    ['an unknown key', { priorty: 'high' }, 'priorty'],
    ['a misspelt key among good ones', { attempts: 2, retries: 3 }, 'retries'],
    ['an unknown tier name', { priority: 'urgent' }, 'priority'],
    ['a tier index past the last', { priority: 4 }, 'priority'],
    ['a negative tier index', { priority: -1 }, 'priority'],
    ['a fractional tier index', { priority: 0.5 }, 'priority'],
    ['a negative delay', { delay: -1 }, 'delay'],
    ['a NaN delay', { delay: Number.NaN }, 'delay'],
    ['delay and runAt together', { delay: 1_000, runAt: new Date(Date.now() + 5_000) }, 'delay'],
    ['an invalid Date', { runAt: new Date('nope') }, 'runAt'],
    ['a string runAt', { runAt: 'tomorrow' }, 'runAt'],
    ['0 attempts', { attempts: 0 }, 'attempts'],
    ['1.5 attempts', { attempts: 1.5 }, 'attempts'],
    ["'3' attempts", { attempts: '3' }, 'attempts'],
    ['a bad backoff type', { attempts: 3, backoff: { type: 'linear', delay: 100 } }, 'backoff.type'],
    ['a negative backoff delay', { attempts: 3, backoff: { type: 'fixed', delay: -100 } }, 'backoff.delay'],
    ['a NaN backoff delay', { attempts: 3, backoff: { type: 'exponential', delay: Number.NaN } }, 'backoff.delay'],
    ['a jitter over 1', { attempts: 3, backoff: { type: 'fixed', delay: 100, jitter: 2 } }, 'backoff.jitter'],
    ['a negative jitter', { attempts: 3, backoff: { type: 'fixed', delay: 100, jitter: -1 } }, 'backoff.jitter'],
    ['a zero timeout', { timeout: 0 }, 'timeout'],
    ['a fractional timeout', { timeout: 10.5 }, 'timeout'],
    ['a string timeout', { timeout: '10s' }, 'timeout'],
    ['a negative retention count', { removeOnComplete: -1 }, 'removeOnComplete'],
    ['a string retention', { removeOnFail: 'always' }, 'removeOnFail'],
    ['a bad retention age', { removeOnComplete: { age: -5 } }, 'removeOnComplete.age'],
    ['an empty jobId', { jobId: '' }, 'jobId'],
    ['a jobId over 512 characters', { jobId: 'j'.repeat(513) }, 'jobId'],
    ['a numeric jobId', { jobId: 7 }, 'jobId'],
    ['options that are not an object', 'high', 'opts'],
  ];
  it.each(cases)('%s', async (_label, opts, option) => {
    const { queue, prefix } = freshQueue();
    await expectRejects(queue.add('job', { a: 1 }, opts as JobOptions), InvalidOptionsError, {
      option,
      code: 'ERR_INVALID_OPTIONS',
    });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  const names: [string, unknown][] = [
    ['an empty name', ''],
    ['a name over 512 characters', 'n'.repeat(513)],
    ['a numeric name', 42],
    ['no name', undefined],
  ];
  it.each(names)('a bad job name: %s', async (_label, name) => {
    const { queue, prefix } = freshQueue();
    await expectRejects(queue.add(name as string, { a: 1 }), InvalidOptionsError, { option: 'name' });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('a priority the queue does not have (custom tiers)', async () => {
    const { queue, prefix } = freshQueue({ tiers: ['fast', 'slow'] });
    await expectRejects(queue.add('job', {}, { priority: 'critical' }), InvalidOptionsError, { option: 'priority' });
    await expectRejects(queue.add('job', {}, { priority: 2 }), InvalidOptionsError, { option: 'priority' });
    expect(await keysUnder(prefix)).toEqual([]);
  });
});

describe('data that is not JSON-serialisable: SerializationError, nothing written', () => {
  const cycle: Record<string, unknown> = { name: 'loop' };
  cycle.self = cycle;
  const cases: [string, unknown][] = [
    ['a function', () => 'hi'],
    ['a nested function', { callback: () => 'hi' }],
    ['a symbol', Symbol('s')],
    ['a bigint', 12n],
    ['a nested bigint', { big: [1, 2n] }],
    ['NaN', Number.NaN],
    ['a nested NaN', { score: Number.NaN }],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a nested -Infinity', [Number.NEGATIVE_INFINITY]],
    ['a cycle', cycle],
    ['a Map', new Map([['k', 'v']])],
    ['a nested Set', { tags: new Set(['a']) }],
    ['undefined at the top level', undefined],
  ];
  it.each(cases)('%s', async (_label, data) => {
    const { queue, prefix } = freshQueue();
    await expectRejects(queue.add('job', data), SerializationError, { code: 'ERR_NOT_SERIALIZABLE' });
    expect(await keysUnder(prefix)).toEqual([]);
  });
});

describe('payloads over maxPayloadBytes: PayloadTooLargeError, nothing written', () => {
  it('over a configured limit', async () => {
    const { queue, prefix } = freshQueue({ maxPayloadBytes: 100 });
    const error = await expectRejects(queue.add('job', { text: 'x'.repeat(200) }), PayloadTooLargeError, {
      code: 'ERR_PAYLOAD_TOO_LARGE',
      limit: 100,
    });
    expect((error as PayloadTooLargeError).size).toBe(JSON.stringify({ text: 'x'.repeat(200) }).length);
    expect(await keysUnder(prefix)).toEqual([]);
    // At the limit it is accepted.
    await queue.add('job', 'x'.repeat(98));
    expect((await keysUnder(prefix)).length).toBeGreaterThan(0);
  });

  it('over the default limit of 1 MiB', async () => {
    const { queue, prefix } = freshQueue();
    await expectRejects(queue.add('job', 'x'.repeat(1024 * 1024)), PayloadTooLargeError, { limit: 1024 * 1024 });
    expect(await keysUnder(prefix)).toEqual([]);
  });
});

describe('addBulk is all or nothing', () => {
  const good = (n: number): BulkJob => ({ name: 'good', data: { n } });
  const cases: [string, unknown[], ErrorClass][] = [
    ['bad options last', [good(1), good(2), { name: 'bad', data: {}, opts: { attempts: 0 } }], InvalidOptionsError],
    ['bad data in the middle', [good(1), { name: 'bad', data: { f: () => 1 } }, good(3)], SerializationError],
    ['a bad name', [good(1), { name: '', data: {} }], InvalidOptionsError],
    ['a job that is not an object', [good(1), null], InvalidOptionsError],
    ['a payload too large', [good(1), { name: 'big', data: 'x'.repeat(2_000) }], PayloadTooLargeError],
  ];
  it.each(cases)('%s: nothing written', async (_label, jobs, type) => {
    const { queue, prefix } = freshQueue({ maxPayloadBytes: 1_000 });
    await expectRejects(queue.addBulk(jobs as BulkJob[]), type);
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('rejects a non-array', async () => {
    const { queue, prefix } = freshQueue();
    await expectRejects(queue.addBulk('jobs' as never), InvalidOptionsError, { option: 'jobs' });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('on a queue in use: a bad job among good ones changes no key', async () => {
    const { queue, prefix } = freshQueue();
    await queue.addBulk([good(1), good(2)]);
    const before = await dump(prefix);
    await expectRejects(
      queue.addBulk([good(3), good(4), { name: 'bad', data: {}, opts: { priority: 'nope' } }]),
      InvalidOptionsError,
      { option: 'priority' },
    );
    expect(await dump(prefix)).toEqual(before);
  });
});

/** Names, types and contents (hashes, stream entries, set members) of every key under `prefix`. */
async function dump(prefix: string): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const key of await keysUnder(prefix)) {
    const type = String(await raw.sendCommand(['TYPE', key]));
    if (type === 'hash') result[key] = await raw.sendCommand(['HGETALL', key]);
    else if (type === 'stream') result[key] = await raw.sendCommand(['XRANGE', key, '-', '+']);
    else if (type === 'zset') result[key] = await raw.sendCommand(['ZRANGE', key, '0', '-1', 'WITHSCORES']);
    else if (type === 'string') result[key] = await raw.sendCommand(['GET', key]);
    else result[key] = type;
  }
  return result;
}

describe('adding an existing jobId', () => {
  it('returns the existing job and writes nothing', async () => {
    const { queue, prefix } = freshQueue();
    const first = await queue.add('original', { v: 1 }, { jobId: 'welcome:42', priority: 'high', attempts: 2 });
    expect(first).toMatchObject({ id: 'welcome:42', state: 'waiting', priority: 'high', data: { v: 1 } });
    const jobKey = `${prefix}:{${QUEUE}}:job:welcome:42`;
    const hashBefore = await raw.sendCommand(['HGETALL', jobKey]);
    const laneBefore = await raw.sendCommand(['XLEN', `${prefix}:{${QUEUE}}:lane:1`]);
    const before = await dump(prefix);

    const again = await queue.add('other', { v: 2 }, { jobId: 'welcome:42', priority: 'low', delay: 60_000, attempts: 5 });
    expect(again).toMatchObject({
      id: 'welcome:42',
      name: 'original',
      data: { v: 1 },
      state: 'waiting',
      priority: 'high',
      createdAt: first.createdAt,
    });
    expect(again.opts.attempts).toBe(2);
    expect(await raw.sendCommand(['HGETALL', jobKey])).toEqual(hashBefore);
    expect(await raw.sendCommand(['XLEN', `${prefix}:{${QUEUE}}:lane:1`])).toBe(laneBefore);
    expect(laneBefore).toBe(1);
    expect(await dump(prefix)).toEqual(before);
    expect(await queue.counts()).toMatchObject({ waiting: 1, delayed: 0 });
  });

  it('twice within one addBulk makes one job', async () => {
    const { queue, prefix } = freshQueue();
    const jobs = await queue.addBulk([
      { name: 'a', data: 1, opts: { jobId: 'same' } },
      { name: 'b', data: 2, opts: { jobId: 'same', priority: 'critical' } },
    ]);
    expect(jobs.map((job) => [job.id, job.name, job.data, job.priority])).toEqual([
      ['same', 'a', 1, 'normal'],
      ['same', 'a', 1, 'normal'],
    ]);
    expect(await raw.sendCommand(['XLEN', `${prefix}:{${QUEUE}}:lane:2`])).toBe(1);
    expect(await raw.sendCommand(['XLEN', `${prefix}:{${QUEUE}}:lane:0`])).toBe(0);
  });
});

describe('ids and options of the Queue readers', () => {
  it('a job or schedule id that is not a string, and a waitFor timeout no timer can wait, are refused before Redis is asked', async () => {
    const prefix = testPrefix('val');
    const queue = open.track(new Queue(QUEUE, { connection: connection(), prefix }));
    for (const id of [Symbol('id'), 42, '', null, undefined, { id: 'x' }]) {
      await expectRejects(queue.getJob(id as never), InvalidOptionsError, { option: 'jobId' });
      await expectRejects(queue.waitFor(id as never, { timeoutMs: 1_000 }), InvalidOptionsError, { option: 'jobId' });
      await expectRejects(queue.retryDead(id as never), InvalidOptionsError, { option: 'jobId' });
      await expectRejects(queue.getSchedule(id as never), InvalidOptionsError, { option: 'id' });
    }
    // Node fires a timer longer than 2^31 - 1 ms after 1 ms: waitFor would time out at once
    for (const timeoutMs of [2 ** 31, 0, -1, Number.NaN, '5s']) {
      await expectRejects(queue.waitFor('some-job', { timeoutMs: timeoutMs as never }), InvalidOptionsError, { option: 'timeoutMs' });
    }
    expect(await keysUnder(prefix)).toEqual([]);
    // a well-formed id of no job is just not there
    expect(await queue.getJob('no-such-job')).toBeNull();
    expect(await queue.getSchedule('no-such-schedule')).toBeNull();
  });
});

describe('invalid constructor options throw InvalidOptionsError', () => {
  const conn = () => connection();

  it('Queue', () => {
    const make = (name: string, options: Record<string, unknown>) => () => new Queue(name, options as never);
    const base = { connection: conn() };
    expectConstructorThrows(make(QUEUE, { ...base, prefx: 'x' }), 'prefx');
    expectConstructorThrows(make(QUEUE, null as never), 'options');
    expectConstructorThrows(make(QUEUE, {}), 'connection');
    expectConstructorThrows(make('', base), 'queue name');
    expectConstructorThrows(make('a{b', base), 'queue name');
    expectConstructorThrows(make('a}b', base), 'queue name');
    expectConstructorThrows(make('{tag}', base), 'queue name');
    expectConstructorThrows(make('q'.repeat(201), base), 'queue name');
    expectConstructorThrows(make(42 as never, base), 'queue name');
    expectConstructorThrows(make(QUEUE, { ...base, prefix: 'p{' }), 'prefix');
    expectConstructorThrows(make(QUEUE, { ...base, prefix: '}p' }), 'prefix');
    expectConstructorThrows(make(QUEUE, { ...base, prefix: '' }), 'prefix');
    expectConstructorThrows(make(QUEUE, { ...base, tiers: [] }), 'tiers');
    expectConstructorThrows(make(QUEUE, { ...base, tiers: ['a', 'a'] }), 'tiers');
    expectConstructorThrows(make(QUEUE, { ...base, tiers: 'a,b' }), 'tiers');
    expectConstructorThrows(make(QUEUE, { ...base, defaultPriority: 'urgent' }), 'defaultPriority');
    expectConstructorThrows(make(QUEUE, { ...base, defaultPriority: 9 }), 'defaultPriority');
    expectConstructorThrows(make(QUEUE, { ...base, tiers: ['a', 'b'], defaultPriority: 'normal' }), 'defaultPriority');
    expectConstructorThrows(make(QUEUE, { ...base, defaultJobOptions: { attempts: 0 } }), 'attempts');
    expectConstructorThrows(make(QUEUE, { ...base, defaultJobOptions: { retries: 1 } }), 'retries');
    expectConstructorThrows(make(QUEUE, { ...base, defaultJobOptions: 'fast' }), 'defaultJobOptions');
    expectConstructorThrows(make(QUEUE, { ...base, maxPayloadBytes: 0 }), 'maxPayloadBytes');
    expectConstructorThrows(make(QUEUE, { ...base, maxPayloadBytes: -1 }), 'maxPayloadBytes');
    expectConstructorThrows(make(QUEUE, { ...base, maxPayloadBytes: 1.5 }), 'maxPayloadBytes');
    expectConstructorThrows(make(QUEUE, { ...base, maxPayloadBytes: '1mb' }), 'maxPayloadBytes');
    expectConstructorThrows(make(QUEUE, { ...base, maxEvents: 0 }), 'maxEvents');
  });

  // defaultJobOptions is typed without jobId, delay and runAt: a default jobId
  // would make every add after the first return the first job and drop its data.
  it.each([[{ jobId: 'same-for-all' }], [{ delay: 1_000 }], [{ runAt: 1_900_000_000_000 }]])(
    'Queue: per-job option %j is refused as a queue default',
    (defaults) => {
      expectConstructorThrows(() => new Queue(QUEUE, { connection: conn(), defaultJobOptions: defaults as never }));
    },
  );

  it('Queue, Worker and Scheduler: a logger without the level methods is refused; a console-like one is taken', () => {
    const options = { connection: conn(), prefix: testPrefix('val') };
    for (const logger of ['debug', null, {}, { warn: () => undefined }, console.log]) {
      expectConstructorThrows(() => new Queue(QUEUE, { ...options, logger: logger as never }), 'logger');
      expectConstructorThrows(() => new Worker(QUEUE, async () => undefined, { ...options, scheduler: false, logger: logger as never }), 'logger');
      expectConstructorThrows(() => new Scheduler({ ...options, queues: [QUEUE], logger: logger as never }), 'logger');
    }
    const consoleLike = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
    open.track(new Queue(QUEUE, { ...options, logger: consoleLike as never }));
  });

  it('Queue: connectTimeout', () => {
    const make = (connectTimeout: unknown) => () => new Queue(QUEUE, { connection: conn(), connectTimeout } as never);
    expectConstructorThrows(make(-1), 'connectTimeout');
    expectConstructorThrows(make('5s'), 'connectTimeout');
  });

  it('Worker', async () => {
    const prefix = testPrefix('val');
    const handler = async () => undefined;
    const make = (options: Record<string, unknown>, name = QUEUE, h: unknown = handler) => () =>
      new Worker(name, h as never, { connection: conn(), prefix, scheduler: false, ...options } as never);
    expectConstructorThrows(make({}, QUEUE, 'not a function'), 'handler');
    expectConstructorThrows(make({ concurency: 2 }), 'concurency');
    expectConstructorThrows(make({ connection: undefined }), 'connection');
    expectConstructorThrows(() => new Worker(QUEUE, handler, null as never), 'options');
    expectConstructorThrows(make({}, 'a{b'), 'queue name');
    expectConstructorThrows(make({}, ''), 'queue name');
    expectConstructorThrows(make({ prefix: 'x}' }), 'prefix');
    expectConstructorThrows(make({ concurrency: 0 }), 'concurrency');
    expectConstructorThrows(make({ concurrency: 1.5 }), 'concurrency');
    expectConstructorThrows(make({ concurrency: '2' }), 'concurrency');
    expectConstructorThrows(make({ stallTimeout: 0 }), 'stallTimeout');
    expectConstructorThrows(make({ stallTimeout: 1_000, heartbeatInterval: 1_000 }), 'heartbeatInterval');
    expectConstructorThrows(make({ heartbeatInterval: -1 }), 'heartbeatInterval');
    expectConstructorThrows(make({ maxStalls: -1 }), 'maxStalls');
    expectConstructorThrows(make({ maxStalls: 1.5 }), 'maxStalls');
    expectConstructorThrows(make({ closeTimeout: -5 }), 'closeTimeout');
    expectConstructorThrows(make({ blockTimeout: 0 }), 'blockTimeout');
    // Node fires a timer longer than 2^31 - 1 ms after 1 ms: a close would abort at once, a heartbeat spin
    for (const option of ['stallTimeout', 'heartbeatInterval', 'closeTimeout', 'blockTimeout']) {
      expectConstructorThrows(make({ [option]: 2 ** 31 }), option);
    }
    expectConstructorThrows(make({ scheduler: { lockTtl: 2 ** 31 } }), 'lockTtl');
    expectConstructorThrows(make({ maxResultBytes: 0 }), 'maxResultBytes');
    expectConstructorThrows(make({ maxEvents: Number.NaN }), 'maxEvents');
    expectConstructorThrows(make({ tiers: ['a', 'a'] }), 'tiers');
    expectConstructorThrows(make({ scheduler: { lockTtl: 0 } }), 'lockTtl');
    expectConstructorThrows(make({ scheduler: { pollInterval: -1 } }), 'pollInterval');
    // No worker got far enough to touch Redis.
    await new Promise((resolve) => setImmediate(resolve));
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('Scheduler', async () => {
    const prefix = testPrefix('val');
    const make = (options: Record<string, unknown>) => () =>
      new Scheduler({ connection: conn(), queues: [QUEUE], prefix, ...options } as never);
    expectConstructorThrows(make({ queue: QUEUE }), 'queue');
    expectConstructorThrows(make({ queues: [] }), 'queues');
    expectConstructorThrows(make({ queues: QUEUE }), 'queues');
    expectConstructorThrows(make({ queues: undefined }), 'queues');
    expectConstructorThrows(make({ queues: ['a{b}'] }), 'queue name');
    expectConstructorThrows(make({ prefix: '{p' }), 'prefix');
    expectConstructorThrows(make({ connection: undefined }), 'connection');
    expectConstructorThrows(make({ lockTtl: 0 }), 'lockTtl');
    expectConstructorThrows(make({ lockTtl: 1.5 }), 'lockTtl');
    expectConstructorThrows(make({ pollInterval: 0 }), 'pollInterval');
    expectConstructorThrows(make({ lockTtl: 2 ** 31 }), 'lockTtl');
    expectConstructorThrows(make({ pollInterval: 2 ** 31 }), 'pollInterval');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('Worker and Scheduler: connectTimeout', () => {
    const options = { connection: conn(), prefix: testPrefix('val'), connectTimeout: -1 };
    expectConstructorThrows(() => new Worker(QUEUE, async () => undefined, { ...options, scheduler: false }), 'connectTimeout');
    expectConstructorThrows(() => new Worker(QUEUE, async () => undefined, { ...options, connectTimeout: 'soon' as never }), 'connectTimeout');
    expectConstructorThrows(() => new Scheduler({ ...options, queues: [QUEUE] }), 'connectTimeout');
  });
});

describe('tiers every process must agree on', () => {
  it('a Queue with other tiers than the queue was created with is refused and writes nothing', async () => {
    const { queue, prefix } = freshQueue({ tiers: ['a', 'b'] });
    await queue.add('first', {}, { priority: 'b' });
    const before = await dump(prefix);
    const other = open.track(new Queue(QUEUE, { connection: connection(), prefix, tiers: ['c', 'd'] }));
    await expectRejects(other.add('second', {}), InvalidOptionsError, { option: 'tiers' });
    // A Queue that states no tiers adopts the stored ones.
    const adopting = open.track(new Queue(QUEUE, { connection: connection(), prefix }));
    await expectRejects(adopting.add('third', {}, { priority: 'critical' }), InvalidOptionsError, { option: 'priority' });
    expect(await dump(prefix)).toEqual(before);
    expect(await adopting.getTiers()).toEqual(['a', 'b']);
  });

  it("a Worker with other tiers than the queue's reports InvalidOptionsError (event and waitUntilReady), runs nothing, writes nothing", async () => {
    const { queue, prefix } = freshQueue({ tiers: ['a', 'b'] });
    await queue.add('first', {}, { priority: 'a' });
    const before = await dump(prefix);
    let ran = 0;
    const worker = open.track(
      new Worker(QUEUE, async () => void ran++, { connection: connection(), prefix, scheduler: false, tiers: ['c', 'd'] }),
    );
    // Nobody awaits waitUntilReady() here: the failure must surface as an
    // 'error' event, not as an unhandled rejection that kills the process.
    const [error] = await nextEvent<[Error]>(worker, 'error', { timeoutMs: 5_000 });
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).option).toBe('tiers');
    await expectRejects(worker.waitUntilReady(), InvalidOptionsError, { option: 'tiers' });
    expect(ran).toBe(0);
    expect(await dump(prefix)).toEqual(before);
  });
});

describe('unreadable stream entries are dead-lettered, and the worker carries on', () => {
  it('an entry with garbage fields, and one naming a missing job', async () => {
    const { queue, prefix } = freshQueue();
    await queue.getTiers(); // creates the lanes and the consumer group
    const lane = (tier: number) => `${prefix}:{${QUEUE}}:lane:${tier}`;
    const ran: string[] = [];
    const errors: Error[] = [];
    const worker = open.track(
      new Worker(
        QUEUE,
        async (job) => {
          ran.push(job.name);
          return 'done';
        },
        { connection: connection(), prefix, scheduler: false },
      ),
    );
    worker.on('error', (err) => errors.push(err));
    await worker.waitUntilReady();

    // Garbage before a good job in the same tier, and in a higher tier.
    const garbageId = String(await raw.sendCommand(['XADD', lane(2), '*', 'foo', 'bar']));
    const ghostId = String(await raw.sendCommand(['XADD', lane(0), '*', 'j', 'ghost-job']));
    const good = await queue.add('good', { n: 1 });
    const done = await queue.waitFor(good.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('completed');
    expect(done.result).toBe('done');

    const dead = await waitUntil(
      async () => {
        const jobs = await queue.deadLetters();
        return jobs.length === 2 ? jobs : undefined;
      },
      { timeoutMs: 10_000, message: 'two dead letters' },
    );
    const byId = new Map(dead.map((job) => [job.id, job]));
    const garbage = byId.get(`dead:2:${garbageId}`);
    const ghost = byId.get(`dead:0:${ghostId}`);
    expect(garbage).toMatchObject({ state: 'failed' });
    expect(garbage!.error).toMatch(/no job id/);
    expect(ghost).toMatchObject({ state: 'failed' });
    expect(ghost!.error).toMatch(/ghost-job.*missing/);

    // Another good job after the dead letters still runs.
    const next = await queue.add('next', { n: 2 });
    expect((await queue.waitFor(next.id, { timeoutMs: 20_000 })).state).toBe('completed');
    expect(ran).toEqual(['good', 'next']);

    // The entries left their streams; the counts and events say what happened.
    expect(await raw.sendCommand(['XLEN', lane(0)])).toBe(0);
    expect(await raw.sendCommand(['XLEN', lane(2)])).toBe(0);
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, failed: 2, completed: 2 });
    const events = await queue.readEvents('0-0', 1_000);
    const deadLettered = events.filter((event) => event.name === 'job:dead-lettered');
    expect(deadLettered.map((event) => event.jobId).sort()).toEqual([...byId.keys()].sort());
    for (const event of deadLettered) expect(event.fields.reason).toBeTruthy();

    // There is no job to retry behind an unreadable entry.
    await expectRejects(queue.retryDead(`dead:2:${garbageId}`), InvalidOptionsError);
    expect(errors).toEqual([]);
    await worker.close();
  });

  it('entries written before any worker started are dead-lettered, and the good jobs around them run', async () => {
    const { queue, prefix } = freshQueue();
    await queue.getTiers();
    const lane = `${prefix}:{${QUEUE}}:lane:2`;
    const first = await queue.add('first', {});
    await raw.sendCommand(['XADD', lane, '*', 'j', 'nobody']);
    await raw.sendCommand(['XADD', lane, '*', 'x', '1', 'y', '2']);
    const last = await queue.add('last', {});
    const ran: string[] = [];
    const worker = open.track(
      new Worker(QUEUE, async (job) => void ran.push(job.name), { connection: connection(), prefix, scheduler: false }),
    );
    expect((await queue.waitFor(last.id, { timeoutMs: 20_000 })).state).toBe('completed');
    expect((await queue.getJob(first.id))!.state).toBe('completed');
    expect(ran).toEqual(['first', 'last']);
    const dead = await queue.deadLetters();
    expect(dead).toHaveLength(2);
    expect(dead.every((job) => job.state === 'failed' && typeof job.error === 'string' && job.error.length > 0)).toBe(true);
    await worker.close();
  });
});
