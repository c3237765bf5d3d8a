import { CONSUMER_GROUP } from '../keys.js';
import { toRecord, type JobRecord } from '../job/codec.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('get-job', import.meta.url);

export interface StoredJob {
  /** The job hash, with `state` "active" and `owner` (the worker's consumer) while it runs. */
  record: JobRecord;
  /** The checkpoint's `state` field (JSON), if one was saved. */
  checkpoint: string | undefined;
}

/** Reads a job, or undefined when there is none. */
export async function readJob(ctx: QueueContext, jobId: string): Promise<StoredJob | undefined> {
  const [flat, checkpoint, owner] = await script.run<[unknown[], string | null, string | null]>(
    ctx.connection,
    [ctx.keys.job(jobId), ctx.keys.checkpoint(jobId)],
    [ctx.keys.base, CONSUMER_GROUP],
  );
  if (flat.length === 0) return undefined;
  const record = toRecord(flat);
  if (owner) {
    record.state = 'active';
    record.owner = owner;
  }
  return { record, checkpoint: checkpoint ?? undefined };
}
