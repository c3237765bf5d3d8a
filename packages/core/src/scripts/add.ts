import { toRecord, type JobRecord } from '../job/codec.js';
import type { JobState } from '../job/types.js';
import { publishCommand, type QueueContext } from './context.js';
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
  /** The id was made for this job just now (random): no stored job has it, so it is not looked up. */
  idIsNew?: boolean;
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
  let fresh = '';
  for (const job of jobs) fresh += job.idIsNew ? '1' : '0';
  const args: (string | number)[] = [ctx.keys.base, jobs.length, traced ? 6 : 5, fresh, publishCommand(ctx)];
  for (const job of jobs) {
    args.push(job.id, specHead(job), job.tier, job.runAt ?? -1, job.delay);
    if (traced) args.push(job.trace ?? '');
  }
  const [createdAt, ...replies] = await script.run<[number, ...(number | unknown[])[]]>(ctx.connection, [ctx.keys.delayed], args);
  return replies.map((reply): AddReply => {
    if (Array.isArray(reply)) return { created: false, record: toRecord(reply) };
    const dueAt = Number(reply);
    return dueAt > 0
      ? { created: true, createdAt: Number(createdAt), state: 'delayed', dueAt }
      : { created: true, createdAt: Number(createdAt), state: 'waiting' };
  });
}
