/**
 * The HTTP API example as its README tells it: the API process adds jobs
 * (no worker needed), rejects bad input with the library's error code, cancels
 * on DELETE; then a separate worker process runs what waits, highest priority
 * first, and the API shows each job's progress and result.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import type { Job } from '@streamjobs/core';
import { OpenResources, spawnScript, testPrefix, waitUntil, type FixtureProcess } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

const script = (name: string) => fileURLToPath(new URL(`./${name}.ts`, import.meta.url));

function start(name: string, env: NodeJS.ProcessEnv): FixtureProcess {
  const proc = spawnScript(script(name), { env });
  open.track({ close: () => proc.kill('SIGKILL') });
  return proc;
}

describe('examples/http-api', () => {
  it('adds jobs over HTTP that a separate worker process runs, highest priority first', async () => {
    const env = { STREAMJOBS_PREFIX: testPrefix('http-api'), PORT: '0' };
    const server = start('server', env);
    const base = /^listening on (\S+)$/.exec(await server.waitForLine(/^listening on /))![1]!;
    const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const add = async (body: unknown, headers?: Record<string, string>) => {
      const { status, body: job } = await call('POST', '/jobs', body, headers);
      expect(status).toBe(201);
      return job as Job;
    };

    // Bad input: a 400 saying why, and nothing added.
    expect(await call('POST', '/jobs', { pages: 1, priority: 'urgent' })).toMatchObject({ status: 400, body: { code: 'ERR_INVALID_OPTIONS' } });
    expect(await call('POST', '/jobs', { pages: 1, delay: -5 })).toMatchObject({ status: 400, body: { code: 'ERR_INVALID_OPTIONS' } });
    expect((await call('POST', '/jobs', { pages: 0 })).status).toBe(400);
    expect((await call('POST', '/jobs', 'not json')).status).toBe(400);
    expect((await call('GET', '/jobs/no-such-job')).status).toBe(404);

    // Jobs wait while no worker runs: three low ones, then a critical one.
    const lows = [await add({ pages: 2, priority: 'low' }), await add({ pages: 2, priority: 'low' }), await add({ pages: 2, priority: 'low' })];
    const critical = await add({ pages: 2, priority: 'critical' });
    for (const job of [...lows, critical]) expect((await call('GET', `/jobs/${job.id}`)).body.state).toBe('waiting');

    // The same Idempotency-Key twice is one job.
    const once = await add({ pages: 1 }, { 'idempotency-key': 'report-42' });
    expect(once.id).toBe('report-42');
    expect((await add({ pages: 1 }, { 'idempotency-key': 'report-42' })).createdAt).toBe(once.createdAt);

    // A delayed job, canceled before it is due: it never runs.
    const later = await add({ pages: 1, delay: 60_000 });
    expect(later.state).toBe('delayed');
    expect(await call('DELETE', `/jobs/${later.id}`)).toEqual({ status: 200, body: { canceled: true } });
    expect(await call('DELETE', `/jobs/${later.id}`)).toEqual({ status: 200, body: { canceled: false } });
    expect((await call('GET', `/jobs/${later.id}`)).body).toMatchObject({ state: 'canceled', canceledBy: 'api' });

    // One worker process, one job at a time: the critical job starts first.
    const worker = start('worker', { ...env, WORKER_CONCURRENCY: '1' });
    const ids = [critical.id, ...lows.map((job) => job.id), once.id];
    const done = await waitUntil(
      async () => {
        const jobs = await Promise.all(ids.map(async (id) => (await call('GET', `/jobs/${id}`)).body as Job));
        return jobs.every((job) => job.state === 'completed') ? jobs : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100, message: 'the jobs completed' },
    );
    const [doneCritical, ...doneLows] = done;
    for (const low of doneLows.slice(0, 3)) expect(doneCritical!.startedAt!).toBeLessThan(low.startedAt!);
    expect(doneCritical).toMatchObject({ progress: { page: 2, of: 2 }, result: { pages: 2, renderedBy: worker.pid } });
    expect(worker.lines.filter((line) => line.startsWith('started ')).slice(0, 1)).toEqual([`started ${critical.id} (critical)`]);
    expect(worker.lines.some((line) => line.includes(later.id))).toBe(false);

    // Both processes stop cleanly on SIGTERM.
    await Promise.all([server.kill('SIGTERM'), worker.kill('SIGTERM')]);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});
