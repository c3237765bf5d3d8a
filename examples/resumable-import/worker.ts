/**
 * The import worker: copies a CSV file's rows into a directory, batch by
 * batch, saving a checkpoint after each. Kill it at any moment (even with
 * SIGKILL) and start it again, or start another: the job is taken over after
 * `stallTimeout` and resumes from the last checkpoint, not from row 0.
 *
 * Env: STALL_TIMEOUT_MS (default 30,000: how long a dead worker's job waits
 * before another takes it), BATCH_PAUSE_MS (default 200: a pause between
 * batches, as an import that spares its database would make; it also leaves
 * you time to kill it midway).
 *
 * Prints `ready (pid <pid>)`, `counted <job> <rows>` (once per job, whatever happens),
 * `resumed <job> at row <n>`, `checkpoint <job> <rows done>`, `imported <job> <rows>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from '@streamjobs/worker';
import { connection, prefix } from '../redis.js';
import { countRows, readRows, upsertBatch } from './rows.js';

export interface ImportJob {
  /** The CSV file to import (a header line, then one row per line). */
  file: string;
  /** The directory that receives the rows. */
  into: string;
}

const BATCH = 20;
const pauseMs = Number(process.env.BATCH_PAUSE_MS || 200);

const worker = new Worker<ImportJob>(
  'imports',
  async (job, ctx) => {
    const { file, into } = job.data;
    // A step runs once per job: a later attempt gets its saved result.
    const total = await ctx.step('count-rows', async () => {
      const rows = await countRows(file);
      console.log(`counted ${job.id} ${rows}`);
      return rows;
    });
    // Where the last attempt got to (no checkpoint on the first attempt).
    let { offset } = (job.checkpoint as { offset: number } | null) ?? { offset: 0 };
    if (offset > 0) console.log(`resumed ${job.id} at row ${offset}`);
    while (offset < total) {
      ctx.signal.throwIfAborted(); // timed out, canceled, or handed back on close
      const rows = await readRows(file, offset, BATCH);
      await upsertBatch(into, offset, rows);
      offset += rows.length;
      await ctx.checkpoint({ offset }); // also a heartbeat
      await ctx.progress({ rows: offset, of: total });
      console.log(`checkpoint ${job.id} ${offset}`);
      await sleep(pauseMs, undefined, { signal: ctx.signal });
    }
    console.log(`imported ${job.id} ${offset}`);
    return { imported: offset };
  },
  { connection, prefix, concurrency: 2, stallTimeout: Number(process.env.STALL_TIMEOUT_MS || 30_000) },
);
worker.on('reclaimed', ({ requeued }) => console.log(`took over ${requeued} job(s) of a dead worker`));

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void worker.close());
await worker.waitUntilReady();
console.log(`ready (pid ${process.pid})`);
