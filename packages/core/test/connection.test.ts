import { afterAll, describe, expect, it } from '@jest/globals';
import { ConnectionError, Queue, RedisConnection } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, freePort, rawClient, startRedisServer, testPrefix, waitUntil } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

describe('when Redis is unavailable', () => {
  it('rejects calls with a ConnectionError after connectTimeout instead of queueing them', async () => {
    const port = await freePort(); // nothing listens there
    const queue = open.track(new Queue('down', { connection: { url: `redis://127.0.0.1:${port}` }, connectTimeout: 300 }));
    const started = Date.now();
    const error = await queue.add('job', {}).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ERR_CONNECTION');
    expect((error as Error).message).toMatch(/not reachable within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('lets workers carry on after Redis restarts, losing and doubling nothing', async () => {
    // appendfsync always: every acknowledged write survives the kill
    const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
    open.track({ close: () => server.stop() });
    const connection = { url: server.url };
    const prefix = testPrefix();
    const queue = open.track(new Queue('restart', { connection, prefix, connectTimeout: 10_000 }));
    const runs = new Map<number, number>();
    const worker = open.track(
      new Worker(
        'restart',
        async (job) => {
          const n = (job.data as { n: number }).n;
          runs.set(n, (runs.get(n) ?? 0) + 1);
        },
        { connection, prefix, concurrency: 5, connectTimeout: 10_000 },
      ),
    );
    worker.on('error', () => undefined); // expected while Redis is down
    const first = await queue.addBulk(Array.from({ length: 100 }, (_, n) => ({ name: 'n', data: { n } })));
    await waitUntil(async () => (await queue.counts()).completed === 100, { message: '100 completed before restart' });

    await server.restart();
    const second = await queue.addBulk(Array.from({ length: 100 }, (_, i) => ({ name: 'n', data: { n: 100 + i } })));
    await waitUntil(async () => (await queue.counts()).completed === 200, {
      message: '200 completed after restart',
      timeoutMs: 60_000,
    });
    expect(first.length + second.length).toBe(200);
    expect(runs.size).toBe(200);
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
  });
});

describe('closing a connection', () => {
  it('while it is still connecting leaves no socket open (a leaked one keeps the process alive)', async () => {
    const name = `closing-${testPrefix()}`;
    const redis = await rawClient();
    open.track({ close: () => redis.destroy() });
    const closing = RedisConnection.create(connection(), 5_000, name);
    const call = closing.call(['PING']).catch((err: unknown) => err); // starts connecting
    closing.close();
    await call;
    await waitUntil(async () => !(await redis.sendCommand(['CLIENT', 'LIST'])).toString().includes(`name=${name} `), {
      message: `no client named ${name} left`,
      timeoutMs: 10_000,
    });
  });
});
