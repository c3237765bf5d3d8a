// What the real bin says when it cannot do what was asked: Redis unreachable
// or the URL wrong (exit 1, quickly, password hidden), an unknown queue or job
// (exit 1, nothing created), a wrong command line (exit 2, with the usage);
// and where it finds Redis when not told.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, QueueKeys, RedisConnection } from '@streamjobs/core';
import { OpenResources, connection, freePort, redisUrl, testPrefix } from '@streamjobs/testing';
import { cliFor, runCli, type CliRun } from './support/cli.js';

const open = new OpenResources();
const prefix = testPrefix('cli');
const cli = cliFor(redisUrl(), prefix);
let closedPort: number;

beforeAll(async () => {
  await open.track(new Queue('known', { connection: connection(), prefix })).add('x', {}, { jobId: 'x' });
  closedPort = await freePort();
});
afterAll(() => open.closeAll());

/** Exit code 1 with one line on stderr and nothing else: no stack. */
function expectFailure(run: CliRun, message: RegExp): void {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
  expect(run.stderr.trim()).toMatch(message);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
}

describe('Redis unreachable', () => {
  it('fails with the URL and the reason, within the connect timeout', async () => {
    const url = `redis://127.0.0.1:${closedPort}`;
    const run = await runCli(['stats', 'known', '--redis', url, '--json']);
    expectFailure(run, new RegExp(`^streamjobs stats: cannot reach Redis at ${url} within 2000 ms: .*ECONNREFUSED`));
    expect(run.elapsedMs).toBeLessThan(15_000); // 2 s to connect, the rest is starting node
  });

  it('hides the password of the URL, and takes --timeout', async () => {
    const run = await runCli(['queues', '--redis', `redis://ops:s3cret@127.0.0.1:${closedPort}`, '--timeout', '300']);
    expectFailure(run, /^streamjobs queues: cannot reach Redis at redis:\/\/ops:\*\*\*@127\.0\.0\.1:\d+ within 300 ms/);
    expect(run.stderr).not.toContain('s3cret');
  });

  it('says when the URL is not one', async () => {
    expectFailure(await runCli(['queues', '--redis', 'not a url']), /^streamjobs queues: invalid Redis URL not a url: /);
  });
});

describe('where Redis is', () => {
  it('is $REDIS_URL without --redis', async () => {
    const env = { REDIS_URL: redisUrl() };
    const listed = await runCli(['queues', '--prefix', prefix, '--json'], env);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'known', waiting: 1 })]);
    const elsewhere = await runCli(['queues', '--prefix', prefix], { REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    expectFailure(elsewhere, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${closedPort} `));
  });
});

describe('unknown names', () => {
  it('names the queues there are, and creates nothing', async () => {
    const commands = [['stats', 'nope'], ['jobs', 'nope'], ['job', 'nope', 'x'], ['cancel', 'nope', 'x'], ['retry', 'nope', '--all'],
      ['schedules', 'nope'], ['pause', 'nope'], ['resume', 'nope']];
    const runs = await Promise.all(commands.map((args) => cli.run(...args)));
    runs.forEach((run, index) =>
      expectFailure(run, new RegExp(`^streamjobs ${commands[index]![0]}: queue "nope" not found under prefix "${prefix}"; queues there: known$`)),
    );
    const redis = open.track(RedisConnection.create(connection()));
    const keys = new QueueKeys(prefix, 'nope');
    expect(await redis.call(['EXISTS', keys.meta, keys.paused, ...keys.lanes(4), keys.events, keys.scheduleIds])).toBe(0);

    const nothing = cliFor(redisUrl(), testPrefix('empty'));
    expect((await nothing.text('queues')).trim()).toMatch(/^no queues under prefix "empty-[0-9a-f]+"$/);
    expectFailure(await nothing.run('stats', 'nope'), /: queue "nope" not found: there are no queues under prefix "empty-[0-9a-f]+"$/);
  });

  it('says when a job does not exist', async () => {
    expectFailure(await cli.run('job', 'known', 'nope'), /^streamjobs job: job "nope" not found in queue "known" /);
  });
});

describe('the command line', () => {
  it.each([
    [[], /^Usage: streamjobs <command>/],
    [['bogus'], /^streamjobs: unknown command "bogus"/],
    [['stats'], /^streamjobs stats: missing <queue>\nUsage: streamjobs stats <queue>/],
    [['stats', 'known', 'extra'], /^streamjobs stats: unexpected argument: extra/],
    [['jobs', 'known', '--state', 'done'], /^streamjobs jobs: --state must be one of waiting, active, delayed, completed, failed, canceled/],
    [['jobs', 'known', '--count', '0'], /^streamjobs jobs: --count must be a whole number from 1 to 1000/],
    [['queues', '--all'], /^streamjobs: --all does not apply to "queues"/],
    [['queues', '--frobnicate'], /^streamjobs: Unknown option '--frobnicate'/],
    [['queues', '--timeout', 'soon'], /^streamjobs queues: --timeout must be a whole number of ms/],
    [['retry', 'known'], /^streamjobs retry: give the ids of the jobs to retry, or --all/],
    [['retry', 'known', 'x', '--all'], /^streamjobs retry: give the ids of the jobs to retry, or --all/],
    [['cancel', 'known'], /^streamjobs cancel: missing <id>/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const run = await runCli([...args, '--redis', redisUrl(), '--prefix', prefix]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(message);
  });

  it('is checked before connecting', async () => {
    const run = await runCli(['jobs', 'known', '--state', 'done', '--redis', `redis://127.0.0.1:${closedPort}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^streamjobs jobs: --state must be one of/);
  });

  it('prints help on --help', async () => {
    const [all, jobs] = await Promise.all([runCli(['--help']), runCli(['jobs', '--help'])]);
    expect(all.code).toBe(0);
    for (const command of ['queues', 'stats', 'jobs', 'job', 'cancel', 'retry', 'schedules', 'pause', 'resume']) {
      expect(all.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    }
    expect(jobs.code).toBe(0);
    expect(jobs.stdout).toMatch(/^Usage: streamjobs jobs <queue> \[options\]/);
    expect(jobs.stdout).toMatch(/--state <state> +waiting \| active/);
  });
});
