/**
 * Key injection (issue 7): names and ids with `{`, `}`, `:`, spaces, `*`,
 * newlines, unicode or at their longest either get an InvalidOptionsError
 * before anything is written, or stay inside their queue's own
 * `prefix:{queue}:` namespace, checked on the actual keys in Redis (SCAN):
 * - queue names and prefixes that would move the hash tag are refused;
 * - queues with look-alike names and prefixes, run by real workers, with job
 *   and schedule ids that look like other keys' suffixes, paths or globs, each
 *   write only keys their own QueueKeys names, all in their own hash slot, and
 *   see only their own jobs;
 * - names and ids with a lone UTF-16 surrogate (sent as U+FFFD, so two of
 *   them would share keys) are refused;
 * - ids the library names itself cannot be taken: a job id in the namespace
 *   of dead-lettered entries (`dead:…`), which a garbage entry would overwrite;
 *   a schedule id that is another schedule's buffer or recent list
 *   (`x:buffer`, `x:recent`), which that schedule's removal would delete.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InvalidOptionsError, Queue, QueueKeys, type Job } from '@streamjobs/core';
import { Scheduler } from '@streamjobs/scheduler';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, rawClient, testPrefix, waitUntil } from '@streamjobs/testing';
import { expectInvalid } from './support/expect-invalid.js';

const open = new OpenResources();
let raw: Awaited<ReturnType<typeof rawClient>>;
beforeAll(async () => {
  raw = await rawClient();
});
afterAll(async () => {
  await open.closeAll();
  raw.destroy();
});

/** Every key whose name starts with `root` (which has no glob characters). */
async function keysUnder(root: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await raw.sendCommand(['SCAN', cursor, 'MATCH', `${root}*`, 'COUNT', '1000'])) as [string, string[]];
    cursor = String(next);
    keys.push(...batch.map(String));
  } while (cursor !== '0');
  return keys.sort();
}

/** The part of `key` Redis Cluster hashes: the first non-empty `{…}`, else the whole key. */
function hashTag(key: string): string {
  const start = key.indexOf('{');
  const end = start < 0 ? -1 : key.indexOf('}', start + 1);
  return end > start + 1 ? key.slice(start + 1, end) : key;
}

describe('names that would move the hash tag', () => {
  const badNames = ['{', '}', 'a}:x', 'x{y}', '}{', '{a}', 'a{', ''];
  it.each(badNames)('queue name %j: refused by Queue, Worker and Scheduler, nothing written', async (name) => {
    const prefix = testPrefix('inj');
    const options = { connection: connection(), prefix };
    expectInvalid(() => new Queue(name, options), 'queue name');
    expectInvalid(() => new Worker(name, async () => undefined, { ...options, scheduler: false }), 'queue name');
    expectInvalid(() => new Scheduler({ ...options, queues: ['ok', name] }), 'queue name');
    expectInvalid(() => new Queue('ok', { ...options, prefix: name && `${prefix}${name}` }), 'prefix');
    await new Promise((resolve) => setImmediate(resolve));
    expect(await keysUnder(prefix)).toEqual([]);
  });

  // Redis gets a lone surrogate as U+FFFD: "\ud800" and "\udbff" would be one queue, one job, one schedule
  it('names and ids with a lone surrogate are refused, nothing written', async () => {
    const prefix = testPrefix('inj');
    const options = { connection: connection(), prefix };
    for (const bad of ['\ud800', 'a\udbffb', '\udfff🙂']) {
      expectInvalid(() => new Queue(bad, options), 'queue name');
      expectInvalid(() => new Queue('ok', { ...options, prefix: `${prefix}${bad}` }), 'prefix');
      const queue = open.track(new Queue('ok', options));
      await expect(queue.add('job', {}, { jobId: bad })).rejects.toMatchObject({ option: 'jobId' });
      await expect(queue.schedule(bad, { every: 1_000 }, { name: 'tick' })).rejects.toMatchObject({ option: 'id' });
      await expect(queue.cancel(bad)).rejects.toMatchObject({ option: 'jobId' });
    }
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it('names and prefixes over 200 characters are refused', () => {
    expectInvalid(() => new Queue('q'.repeat(201), { connection: connection() }), 'queue name');
    expectInvalid(() => new Queue('q', { connection: connection(), prefix: 'p'.repeat(201) }), 'prefix');
  });
});

/** Job ids that look like other keys, paths, globs, separators, or are at their longest. */
const TRICKY_JOB_IDS = [
  'x:checkpoint', 'checkpoint:x', 'job:x', 'lane:0', 'meta', 'events', 'schedule:tick', 'schedules:due',
  '../', '../../other', '}', '{other}', '}:{x}:', '*', '?', '[a]', ' ', 'a b', '\n', 'tab\tand\r\n',
  'ü🙂', '\u0000nul', 'x@1700000000000', 'x'.repeat(512), '🙂'.repeat(256),
];
const TRICKY_SCHEDULE_IDS = ['a:b', 'a b', '*', '../x', 'ü🙂', 'recent', 's'.repeat(256)];

describe('queues with look-alike names, run by workers, keep to their own keys', () => {
  it('every key is one its own queue names, in its own hash slot; each queue sees only its own jobs', async () => {
    const root = testPrefix('inj');
    // [prefix, queue name]: several pairs make one string if the separators are dropped
    const queues: [string, string][] = [
      [root, 'a'], [root, 'a:b'], [`${root}:a`, 'b'], [`${root}:a:`, 'b'], [root, 'a b'], [root, 'a*'], [root, '*'],
      [root, 'a\nb'], [root, 'ü🙂'], [root, 'q'.repeat(200)], [`${root} sp`, 'a'], [`${root}*`, 'a'], [`${root}\n`, 'a'],
      [root, ':'], [root, '::'], [root, '..'], [root, 'a:lane:0'], [root, 'job:a'],
    ];
    const setups = queues.map(([prefix, name]) => {
      const options = { connection: connection(), prefix };
      const queue = open.track(new Queue(name, options));
      const worker = open.track(
        new Worker(
          name,
          async (job, ctx) => {
            await ctx.checkpoint({ at: job.id });
            await ctx.step('once', () => 1);
            return { queue: name, prefix, id: job.id };
          },
          { ...options, concurrency: 8 },
        ),
      );
      const errors: Error[] = [];
      worker.on('error', (err) => errors.push(err));
      return { prefix, name, queue, worker, errors, keys: new QueueKeys(prefix, name) };
    });

    for (const { queue, name, prefix } of setups) {
      await queue.addBulk(TRICKY_JOB_IDS.map((id) => ({ name: 'tricky', data: { queue: name, prefix, id }, opts: { jobId: id } })));
      await queue.add('delayed', { queue: name, prefix }, { jobId: 'later', delay: 100 });
      for (const id of TRICKY_SCHEDULE_IDS) await queue.schedule(id, { every: 100, limit: 1 }, { name: 'tick', data: { queue: name } });
    }
    const jobsPerQueue = TRICKY_JOB_IDS.length + 1 + TRICKY_SCHEDULE_IDS.length;
    for (const { queue, name } of setups) {
      await waitUntil(async () => (await queue.counts()).completed === jobsPerQueue, {
        message: `all ${jobsPerQueue} jobs of queue ${JSON.stringify(name)} completed`,
        timeoutMs: 60_000,
      });
    }
    for (const { worker, errors } of setups) {
      await worker.close();
      expect(errors).toEqual([]);
    }

    // Each queue's jobs are its own, with their own data and checkpoints.
    for (const { queue, name, prefix } of setups) {
      for (const id of TRICKY_JOB_IDS) {
        const job = (await queue.getJob(id)) as Job;
        expect(job).toMatchObject({ id, state: 'completed', data: { queue: name, prefix, id }, result: { queue: name, prefix, id } });
        expect(job.checkpoint).toEqual({ at: id });
      }
      expect((await queue.schedules()).map((info) => info.id).sort()).toEqual([...TRICKY_SCHEDULE_IDS].sort());
    }

    // Every key under the root belongs to exactly one queue, is one its QueueKeys names, and hashes to its name.
    const allKeys = await keysUnder(root);
    expect(allKeys.length).toBeGreaterThan(setups.length * jobsPerQueue);
    const strays: string[] = [];
    for (const key of allKeys) {
      const owners = setups.filter((setup) => key.startsWith(setup.keys.base));
      if (owners.length !== 1 || !isNamedBy(owners[0]!.keys, key) || hashTag(key) !== owners[0]!.name) {
        strays.push(`${JSON.stringify(key)} (owners: ${owners.map((owner) => JSON.stringify(owner.keys.base)).join(', ')})`);
      }
    }
    expect(strays).toEqual([]);
  });
});

/** Whether `key` is one `keys` builds: a fixed key, or a job, checkpoint or schedule key (with its lists). */
function isNamedBy(keys: QueueKeys, key: string): boolean {
  // every getter of QueueKeys names one fixed key (meta, delayed, events, leader, ...)
  const getters = Object.entries(Object.getOwnPropertyDescriptors(QueueKeys.prototype)).filter(([, d]) => d.get);
  const fixed = [...getters.map(([name]) => (keys as unknown as Record<string, string>)[name]), ...keys.lanes(4)];
  if (fixed.includes(key)) return true;
  const rest = key.slice(keys.base.length);
  const jobId = /^(?:job|checkpoint):(.*)$/s.exec(rest)?.[1];
  if (jobId !== undefined) return TRICKY_JOB_IDS.includes(jobId) || jobId === 'later' || isOccurrence(jobId);
  const scheduleId = /^schedule:(.*?)(?::recent|:buffer)?$/s.exec(rest)?.[1];
  return scheduleId !== undefined && TRICKY_SCHEDULE_IDS.includes(scheduleId);
}

/** `<schedule id>@<nominal ms>`: the job of one occurrence of a schedule we defined. */
function isOccurrence(jobId: string): boolean {
  const at = jobId.lastIndexOf('@');
  return TRICKY_SCHEDULE_IDS.includes(jobId.slice(0, at)) && /^\d+$/.test(jobId.slice(at + 1));
}

describe('ids the library names itself cannot be taken', () => {
  it('a job id in the dead-letter namespace is refused, so an unreadable entry cannot overwrite a job', async () => {
    const prefix = testPrefix('inj');
    const queue = open.track(new Queue('dl', { connection: connection(), prefix }));
    for (const jobId of ['dead:0:1-1', 'dead:', 'dead:2:9999999999999-0']) {
      await expect(queue.add('job', {}, { jobId })).rejects.toMatchObject({ option: 'jobId', code: 'ERR_INVALID_OPTIONS' });
    }
    await expect(queue.addBulk([{ name: 'ok', data: 1 }, { name: 'x', data: 2, opts: { jobId: 'dead:0:1-1' } }])).rejects.toBeInstanceOf(
      InvalidOptionsError,
    );
    expect(await keysUnder(prefix)).toEqual([]);
    // ids that merely contain the word are fine
    await queue.add('job', {}, { jobId: 'undead:0:1-1' });
    await queue.add('job', {}, { jobId: 'x:dead:0:1-1' });
    expect((await queue.counts()).waiting).toBe(2);
    // looking a dead letter up by its id still works
    expect(await queue.cancel('dead:0:1-1')).toBe(false);
    expect(await queue.getJob('dead:0:1-1')).toBeNull();
  });

  it('a schedule id that is another schedule’s buffer or recent list is refused; removing one schedule leaves the others', async () => {
    const prefix = testPrefix('inj');
    const queue = open.track(new Queue('sched', { connection: connection(), prefix }));
    const template = { name: 'tick' };
    for (const id of ['x:recent', 'x:buffer', 'a:b:recent', ':buffer']) {
      await expect(queue.schedule(id, { every: 60_000 }, template)).rejects.toMatchObject({ option: 'id' });
    }
    expect(await keysUnder(prefix)).toEqual([]);
    for (const id of ['x', 'x:recently', 'x:buffered', 'recent', 'buffer', 'x:recent:y']) {
      await queue.schedule(id, { every: 60_000 }, template);
    }
    expect(await queue.unschedule('x')).toBe(true);
    expect((await queue.schedules()).map((info) => info.id)).toEqual(['buffer', 'recent', 'x:buffered', 'x:recent:y', 'x:recently']);
  });
});
