import { CONSUMER_GROUP } from '../keys.js';
import { toRecord, type JobRecord } from '../job/codec.js';
import type { QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('fetch', import.meta.url);

/** A job claimed and started for a worker, with where its entry lives. */
export interface FetchedJob {
  entryId: string;
  tier: number;
  id: string;
  record: JobRecord;
  /** The job's checkpoint hash: `state` and `step:<name>` fields, as saved by earlier attempts. */
  saved: JobRecord;
}

export type FetchReply =
  | { jobs: FetchedJob[] }
  /** Nothing was waiting: block on the tier streams after these ids. */
  | { jobs: []; lastIds: string[] };

/** Claims and starts up to `count` jobs for `consumer`, highest tier first. */
export async function fetchJobs(ctx: QueueContext, consumer: string, count: number): Promise<FetchReply> {
  const [found, payload] = await script.run<[number, unknown[]]>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), [
    ctx.keys.base,
    CONSUMER_GROUP,
    consumer,
    count,
    ctx.maxEvents,
  ]);
  if (Number(found) === 0) return { jobs: [], lastIds: payload.map(String) };
  return {
    jobs: (payload as unknown[][]).map((job) => {
      return {
        entryId: String(job[0]),
        tier: Number(job[1]),
        id: String(job[2]),
        saved: toRecord(job[3] as unknown[]),
        record: toRecord(job, 4),
      };
    }),
  };
}
