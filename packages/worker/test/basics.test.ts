import { afterAll, describe, expect, it } from '@jest/globals';
import { Queue } from '@streamjobs/core';
import { Worker } from '@streamjobs/worker';
import { OpenResources, connection, nextEvent, testPrefix } from '@streamjobs/testing';

const open = new OpenResources();
afterAll(() => open.closeAll());

describe('a queue and a worker', () => {
  it('runs an added job and stores its result', async () => {
    const prefix = testPrefix();
    const queue = open.track(new Queue('basics', { connection: connection(), prefix }));
    const worker = open.track(
      new Worker('basics', async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), { connection: connection(), prefix }),
    );
    const added = await queue.add('double', { n: 21 });
    expect(added.state).toBe('waiting');
    const done = await queue.waitFor(added.id, { timeoutMs: 10_000 });
    expect(done.state).toBe('completed');
    expect(done.result).toEqual({ doubled: 42 });
    expect(await queue.counts()).toMatchObject({ waiting: 0, active: 0, completed: 1 });
    await worker.close();
  });
});
