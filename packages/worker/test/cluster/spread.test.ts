// Runs only in the jest project `cluster` (a 3-master Redis Cluster): queues
// spread over the masters, each queue's keys stay on one, and all of them work.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue, RedisConnection, listQueues, routingKey } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, isClusterUrl, nodeFor, rawClient, redisUrl, testPrefix, waitUntil, type RawClient } from '@streamjobs/testing';

const open = new OpenResources();
let raw: RawClient;
beforeAll(async () => {
  raw = await rawClient();
  open.track({ close: () => raw.destroy() });
});
afterAll(() => open.closeAll());

/** `host:port` of the master serving `key`, as the node itself reports it. */
async function masterOf(key: string): Promise<string> {
  const node = await nodeFor(raw, key);
  const info = String(await node.sendCommand(['INFO', 'server']));
  return `port ${/tcp_port:(\d+)/.exec(info)![1]}`;
}

describe('queues on a Redis Cluster', () => {
  it('runs against a cluster', () => {
    expect(isClusterUrl(redisUrl())).toBe(true);
  });

  it('six queues land on more than one master, each queue on one, and every one of them runs its jobs', async () => {
    const prefix = testPrefix('spread');
    const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    const queues = names.map((name) => open.track(new Queue(name, { connection: connection(), prefix })));
    const done = new Map<string, string>();
    for (const name of names) {
      const worker = new Worker(name, async (job) => `${name} ran ${String(job.data)}`, { connection: connection(), prefix, scheduler: false });
      worker.on('completed', (job, result) => done.set(job.id, String(result)));
      open.track(worker);
    }
    const jobs = await Promise.all(queues.map((queue) => queue.add('work', queue.name, { jobId: `job-${queue.name}` })));
    await waitUntil(() => done.size === names.length, { message: 'one job done per queue' });
    for (const job of jobs) expect(done.get(job.id)).toBe(`${String(job.data)} ran ${String(job.data)}`);

    const masters = new Map<string, string>();
    for (const queue of queues) {
      // every key the queue wrote sits on the master that owns its hash tag's slot
      const home = await masterOf(queue.keys.meta);
      const keys = await (await nodeFor(raw, queue.keys.meta)).keys(`${queue.keys.base}*`);
      expect(keys).toEqual(expect.arrayContaining([queue.keys.meta, queue.keys.lane(2), queue.keys.job(`job-${queue.name}`)]));
      masters.set(queue.name, home);
    }
    expect(new Set(masters.values()).size).toBeGreaterThan(1);

    // listing the queues (the CLI's `streamjobs queues`) scans every master, not the one it first reaches
    const conn = open.track(RedisConnection.create(connection()));
    expect(await listQueues(conn, prefix)).toEqual([...names].sort());
  });

  it('routes each command by its first key: scripts, stream reads and subcommands', () => {
    expect(routingKey(['EVALSHA', 'sha', '2', 'p:{q}:delayed', 'p:{q}:meta', 'arg'])).toBe('p:{q}:delayed');
    expect(routingKey(['EVAL', 'return 1', '0'])).toBeUndefined();
    expect(routingKey(['XREAD', 'COUNT', '1', 'BLOCK', '5', 'STREAMS', 'p:{q}:lane:0', 'p:{q}:lane:1', '0', '0'])).toBe('p:{q}:lane:0');
    expect(routingKey(['XINFO', 'GROUPS', 'p:{q}:lane:0'])).toBe('p:{q}:lane:0');
    expect(routingKey(['HGETALL', 'p:{q}:job:1'])).toBe('p:{q}:job:1');
    expect(routingKey(['TIME'])).toBeUndefined();
  });

  it('a cluster connection reaches the slot owner with every kind of command', async () => {
    const prefix = testPrefix('route');
    const queue = open.track(new Queue('routing', { connection: connection(), prefix }));
    await queue.add('one', {});
    const conn = open.track(RedisConnection.create(connection()));
    expect(conn.isCluster).toBe(true);
    const lane = queue.keys.lane(2);
    expect(Number(await conn.call(['XLEN', lane]))).toBe(1);
    expect(await conn.call(['XINFO', 'GROUPS', lane])).toHaveLength(1);
    expect(await conn.call(['XREAD', 'COUNT', 1, 'STREAMS', lane, '0-0'])).toHaveLength(1);
    expect(await conn.call(['EVAL', "return redis.call('EXISTS', KEYS[1])", 1, queue.keys.meta])).toBe(1);
  });
});
