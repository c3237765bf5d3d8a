/**
 * Least privilege (issue 7): the library runs as a Redis ACL user that may
 * touch only keys and channels under its prefix and send only the commands it
 * needs, with a password. The user is made with the exact `ACL SETUSER` line
 * README.md gives (read from the README, with the test's prefix and password),
 * so the documented line is the tested one:
 * - every command the library's sources send (Lua scripts and direct calls,
 *   found by reading the sources) is granted by that line;
 * - a Queue, a Worker and a Scheduler do everything as that user (priorities,
 *   delays, cancel, retries with checkpoints and steps, dead letters, schedules,
 *   pause, hand-back on close, events) and Redis denies none of their commands;
 * - the user reaches no key or channel outside its prefix, and cannot run
 *   admin commands; a wrong password is a ConnectionError.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { ConnectionError, Queue, RedisConnection, toRecord, UnrecoverableError, type ActiveJob } from '@streamjobs/core';
import { Scheduler } from '@streamjobs/scheduler';
import { Worker, type Handler, type JobContext } from '@streamjobs/worker';
import { OpenResources, nextEvent, startRedisServer, testPrefix, waitUntil, type RedisServerProcess } from '@streamjobs/testing';

const ROOT = new URL('../../../', import.meta.url);
const USER = 'streamjobs';
const PASSWORD = `pw-${testPrefix('secret')}`;
const QUEUE = 'acl';

const open = new OpenResources();
let server: RedisServerProcess;
let admin: RedisConnection;
let prefix: string;
let asApp: { url: string; username: string; password: string };

beforeAll(async () => {
  server = await startRedisServer();
  open.track({ close: () => server.stop() });
  const setup = RedisConnection.create({ url: server.url });
  await setup.call(['ACL', 'SETUSER', 'admin', 'on', `>${PASSWORD}-admin`, '~*', '&*', '+@all']);
  // Without credentials nothing works: a connection (or a duplicate of one) that lost them fails.
  await setup.call(['ACL', 'SETUSER', 'default', 'off']);
  setup.close();
  admin = open.track(RedisConnection.create({ url: server.url, username: 'admin', password: `${PASSWORD}-admin` }));
  prefix = testPrefix('acl');
  await admin.call(readmeAclLine(prefix, PASSWORD));
  asApp = { url: server.url, username: USER, password: PASSWORD };
});
afterAll(() => open.closeAll());

/** README's `ACL SETUSER` line, as arguments, for `prefix` and `password` instead of `sj` and `CHANGE-ME`. */
function readmeAclLine(keyPrefix: string, password: string): string[] {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const lines = readme.split('\n').filter((line) => line.startsWith(`ACL SETUSER ${USER} `));
  expect(lines).toHaveLength(1);
  const args = lines[0]!.trim().split(/\s+/);
  const replaced = { '~sj:*': `~${keyPrefix}:*`, '&sj:*': `&${keyPrefix}:*`, '>CHANGE-ME': `>${password}` };
  for (const [from, to] of Object.entries(replaced)) {
    expect(args).toContain(from);
    args[args.indexOf(from)] = to;
  }
  return args;
}

/**
 * Sent only by the CLI's `streamjobs queues` (inspect.ts `listQueues`), an
 * operator's tool: SCAN is not limited by key patterns, so the application's
 * user does not get it (docs/security.md).
 */
const OPERATOR_ONLY = new Set(['SCAN']);

/**
 * Every command the library sends: `redis.call` in the Lua scripts, direct
 * `call([...])` in the TypeScript sources (`CMD|sub` for container commands),
 * and what node-redis sends for us (connection names, subscriptions).
 */
function commandsInSources(): Set<string> {
  // and the cancel script's publish command, passed to it: PUBLISH on a single
  // node (SPUBLISH on a cluster, see the README's note)
  const found = new Set(['CLIENT|SETNAME', 'SUBSCRIBE', 'PUBLISH']);
  const lua = /redis\.call(?:\(|,)\s*'([A-Za-z]+)'(?:\s*,\s*'([A-Za-z]+)')?/g;
  const ts = /\.call(?:<[^>]*>)?\(\[\s*'([A-Z]+)'(?:\s*,\s*'([A-Z]+)')?/g;
  for (const pkg of ['core', 'worker', 'scheduler']) {
    const dir = new URL(`packages/${pkg}/src/`, ROOT);
    for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
      const pattern = file.endsWith('.lua') ? lua : file.endsWith('.ts') ? ts : undefined;
      if (!pattern) continue;
      for (const [, command, sub] of readFileSync(new URL(file, dir), 'utf8').matchAll(pattern)) {
        const name = command!.toUpperCase();
        found.add(['XGROUP', 'XINFO', 'CLIENT'].includes(name) ? `${name}|${sub!.toUpperCase()}` : name);
      }
    }
  }
  return found;
}

describe('the README ACL line', () => {
  it('grants every command the library sends, on keys and channels under the prefix', async () => {
    const commands = [...commandsInSources()].filter((command) => !OPERATOR_ONLY.has(command)).sort();
    // the scan must see what we know is there, or it proves nothing
    expect(commands).toEqual(expect.arrayContaining(['EVALSHA', 'EVAL', 'XREADGROUP', 'XAUTOCLAIM', 'XGROUP|CREATE', 'XREAD', 'PUBLISH']));
    expect(commands.length).toBeGreaterThan(40);
    const refused: string[] = [];
    for (const command of commands) {
      const [info] = await admin.call<unknown[][]>(['COMMAND', 'INFO', command.toLowerCase()]);
      const words = command.split('|');
      const argCount = Math.abs(Number(info![1])) - words.length;
      const args = Array.from({ length: argCount }, () => `${prefix}:{${QUEUE}}:k`);
      const reply = await admin.call(['ACL', 'DRYRUN', USER, ...words, ...args]);
      if (reply !== 'OK') refused.push(`${command}: ${String(reply)}`);
    }
    expect(refused).toEqual([]);
  });
});

describe('running as the ACL user', () => {
  it('a queue, a worker and a scheduler do everything, and Redis denies none of their commands', async () => {
    await admin.call(['ACL', 'LOG', 'RESET']);
    const queue = open.track(new Queue(QUEUE, { connection: asApp, prefix }));
    open.track(new Scheduler({ connection: asApp, prefix, queues: [QUEUE] }));
    const started: string[] = [];
    let stepRuns = 0;
    let failDoomed = true;
    const handler: Handler = async (job, ctx) => {
      started.push(job.name);
      if (job.name === 'resumable') return resumable(job, ctx, () => ++stepRuns);
      if (job.name === 'doomed' && failDoomed) throw new UnrecoverableError('no');
      if (job.name === 'blocker' || (job.name === 'slow' && job.checkpoint === null)) {
        if (job.name === 'slow') await ctx.checkpoint('started');
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      }
      return job.name;
    };
    const options = { connection: asApp, prefix, scheduler: false, concurrency: 3, stallTimeout: 1_000, closeTimeout: 100 } as const;
    const first = open.track(new Worker(QUEUE, handler, options));
    const errors: Error[] = [];
    first.on('error', (err) => errors.push(err));

    // priorities: added before the worker could take any, started highest tier first
    const ranked = await queue.addBulk([
      { name: 'low', data: null, opts: { priority: 'low' } },
      { name: 'critical', data: null, opts: { priority: 'critical' } },
      { name: 'normal', data: null },
    ]);
    for (const job of ranked) expect((await queue.waitFor(job.id)).state).toBe('completed');
    expect(started).toEqual(['critical', 'normal', 'low']);

    // a delayed job, promoted by the scheduler
    const delayed = await queue.add('delayed', null, { delay: 300 });
    expect(await queue.waitFor(delayed.id)).toMatchObject({ state: 'completed', result: 'delayed' });

    // cancel a running job: the notice reaches the worker over pub/sub
    const blocker = await queue.add('blocker', null);
    await waitUntil(async () => (await queue.getJob(blocker.id))?.state === 'active', { message: 'blocker active' });
    const canceled = nextEvent(first, 'canceled');
    expect(await queue.cancel(blocker.id, { reason: 'test', by: 'acl' })).toBe(true);
    await canceled;
    expect((await queue.getJob(blocker.id))!.state).toBe('canceled');

    // a retry resumes from the checkpoint, a step runs once, progress is stored
    const resumed = await queue.add('resumable', null, { attempts: 2 });
    expect(await queue.waitFor(resumed.id)).toMatchObject({ state: 'completed', result: { at: 1, counted: 1 }, progress: 50 });
    expect(stepRuns).toBe(1);

    // a dead letter, run again
    const doomed = await queue.add('doomed', null);
    expect((await queue.waitFor(doomed.id)).state).toBe('failed');
    expect((await queue.deadLetters()).map((job) => job.id)).toEqual([doomed.id]);
    failDoomed = false;
    expect(await queue.retryDead(doomed.id)).toBe(true);
    await waitUntil(async () => (await queue.getJob(doomed.id))?.state === 'completed', { message: 'doomed job run again' });

    // a schedule: two runs, then paused, resumed and removed
    await queue.schedule('tick', { every: 200, limit: 2 }, { name: 'tick' });
    await waitUntil(async () => (await queue.counts()).completed >= 8, { message: 'both ticks completed' });
    expect(await queue.pauseSchedule('tick')).toBe(true);
    expect(await queue.resumeSchedule('tick')).toBe(true);
    expect((await queue.schedules()).map((info) => [info.id, info.runs])).toEqual([['tick', 2]]);
    expect(await queue.unschedule('tick')).toBe(true);
    expect(await queue.pause()).toBe(true);
    expect(await queue.resume()).toBe(true);

    // hand-back on close: another worker resumes the job at once
    const slow = await queue.add('slow', null);
    await waitUntil(async () => (await queue.getJob(slow.id))?.checkpoint === 'started', { message: 'slow job checkpointed' });
    await first.close();
    const second = open.track(new Worker(QUEUE, handler, options));
    second.on('error', (err) => errors.push(err));
    expect(await queue.waitFor(slow.id)).toMatchObject({ state: 'completed', result: 'slow' });

    const events = (await queue.readEvents('0-0', 1_000)).map((event) => event.name);
    expect(events).toEqual(expect.arrayContaining(['job:completed', 'job:failed', 'job:retrying', 'job:canceled', 'job:handed-back', 'job:retried']));
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0, canceled: 1, completed: 9 });
    await second.close();
    await queue.close();

    expect(errors).toEqual([]);
    expect(await deniedCommands()).toEqual([]);
  });
});

/** First attempt: a step, progress and a checkpoint, then a failure; the retry returns what it resumed from. */
async function resumable(job: ActiveJob, ctx: JobContext, count: () => number): Promise<unknown> {
  const counted = await ctx.step('count', count);
  await ctx.progress(50);
  if (job.checkpoint === null) {
    await ctx.checkpoint({ at: 1 });
    throw new Error('first attempt fails');
  }
  return { ...(job.checkpoint as object), counted };
}

/** What Redis refused our user since the last ACL LOG RESET: `reason object`. */
async function deniedCommands(): Promise<string[]> {
  const entries = await admin.call<unknown[][]>(['ACL', 'LOG']);
  return entries
    .map((entry) => toRecord(entry))
    .filter((entry) => entry.username === USER)
    .map((entry) => `${entry.reason} ${entry.object}`);
}

describe('what the ACL user cannot do', () => {
  it('reaches no key or channel outside its prefix, and no admin command', async () => {
    const app = open.track(RedisConnection.create(asApp));
    await admin.call(['SET', 'other:secret', 'kept']);
    const attempts: (string | number)[][] = [
      ['GET', 'other:secret'],
      ['SET', 'other:secret', 'overwritten'],
      ['DEL', 'other:secret'],
      ['EVAL', "return redis.call('GET', 'other:secret')", 0],
      ['EVAL', "return redis.call('SET', KEYS[1], 'x')", 1, 'other:secret'],
      ['PUBLISH', 'other:channel', 'hello'],
      ['KEYS', '*'],
      ['SCAN', 0],
      ['FLUSHALL'],
      ['CONFIG', 'GET', 'requirepass'],
      ['ACL', 'LIST'],
      ['SHUTDOWN', 'NOSAVE'],
    ];
    for (const command of attempts) {
      const error = await app.call(command).then(
        () => new Error(`${command.join(' ')} was allowed`),
        (err: Error) => err,
      );
      expect(error.message).toMatch(/NOPERM|can't access/);
    }
    const subscriber = open.track(RedisConnection.create(asApp));
    await expect(subscriber.subscribe('other:channel', () => undefined)).rejects.toThrow(/NOPERM/);
    await expect(app.call(['GET', `${prefix}:{${QUEUE}}:anything`])).resolves.toBeNull();

    // a queue under another prefix is refused at its first write, and writes nothing
    const outsider = open.track(new Queue(QUEUE, { connection: asApp, prefix: 'other' }));
    await expect(outsider.add('job', {})).rejects.toThrow(/NOPERM/);
    expect(await admin.call(['KEYS', 'other:*'])).toEqual(['other:secret']);
    expect(await admin.call(['GET', 'other:secret'])).toBe('kept');
  });

  it('with a wrong password, calls reject with ConnectionError', async () => {
    const queue = open.track(new Queue(QUEUE, { connection: { ...asApp, password: 'wrong' }, prefix, connectTimeout: 1_000 }));
    const error = await queue.add('job', {}).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/WRONGPASS/);
  });
});
