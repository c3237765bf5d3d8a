import { toRecord, type JobRecord } from '../job/codec.js';
import type { JobState } from '../job/types.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('add', import.meta.url);

/** One job ready to store: validated and serialised. */
export interface EncodedJob {
  id: string;
  name: string;
  dataJson: string;
  optsJson: string;
  tier: number;
  runAt?: number;
  delay: number;
  /** The producer's trace context (JSON carrier), when tracing is on and there is one. */
  trace?: string;
}

export type AddReply =
  | { created: true; createdAt: number; state: JobState; dueAt?: number }
  | { created: false; record: JobRecord };

/** The stored `spec` field (see `decodeJob`) up to createdAt, which the script appends with Redis's time. */
function specHead(job: EncodedJob): string {
  return `[${JSON.stringify(job.name)},${job.dataJson},${job.optsJson}`;
}

/** Stores jobs in one atomic call; existing ids are returned untouched. */
export async function addJobs(ctx: QueueContext, jobs: readonly EncodedJob[]): Promise<AddReply[]> {
  // the trace argument is sent only when a job has one: untraced adds stay as they were
  const traced = jobs.some((job) => job.trace !== undefined);
  const args: (string | number)[] = [ctx.keys.base, jobs.length, traced ? 6 : 5];
  for (const job of jobs) {
    args.push(job.id, specHead(job), job.tier, job.runAt ?? -1, job.delay);
    if (traced) args.push(job.trace ?? '');
  }
  const replies = await script.run<unknown[][]>(ctx.connection, [ctx.keys.delayed], args);
  return replies.map((reply): AddReply => {
    if (Number(reply[0]) === 0) return { created: false, record: toRecord(reply, 1) };
    const dueAt = Number(reply[3]);
    return {
      created: true,
      createdAt: Number(reply[1]),
      state: reply[2] as JobState,
      ...(dueAt > 0 ? { dueAt } : {}),
    };
  });
}
