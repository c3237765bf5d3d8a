import { CONSUMER_GROUP } from '../keys.js';
import { retentionArgs } from '../job/retention.js';
import { toRecord, type JobRecord } from '../job/codec.js';
import type { RetentionOptions } from '../job/types.js';
import { publishCommand, type QueueContext } from './context.js';
import { LuaScript } from './script.js';

const script = LuaScript.fromFile('settle', import.meta.url);

/** A running job as its worker knows it: what outcomes are recorded for. */
export interface HeldJob {
  id: string;
  tier: number;
  entryId: string;
  /** When the attempt started (ms, Redis time): recorded with its outcome. */
  startedAt: number;
  /** Set when the job is an occurrence of this schedule: its end may release a held-back one. */
  scheduleId?: string | undefined;
}

export type AttemptOutcome =
  | { outcome: 'completed'; resultJson: string; retention?: RetentionOptions }
  /** The handler canceled its own job. */
  | { outcome: 'canceled'; reason: string; by?: string }
  | {
      outcome: 'failed';
      error: string;
      stack: string;
      /** Epoch ms of the retry, 0 for at once, or undefined when this failure is final. */
      retryAt?: number;
      retention?: RetentionOptions;
    };

export type FinishReply = 'completed' | 'retrying' | 'failed' | 'canceled' | 'lost';

/** A job claimed and started for a worker, with where its entry lives. */
export interface FetchedJob {
  entryId: string;
  tier: number;
  id: string;
  record: JobRecord;
  /** The job's checkpoint hash: `state` and `step:<name>` fields, as saved by earlier attempts. */
  saved: JobRecord;
  /** When this attempt started (ms, Redis time). */
  startedAt: number;
  /** The schedule the job is an occurrence of, if any. */
  scheduleId: string | undefined;
}

export interface SettledOutcome {
  job: HeldJob;
  outcome: AttemptOutcome;
}

export interface SettleReply {
  /** Per outcome, in order: what was recorded. */
  replies: FinishReply[];
  /** Jobs claimed and started for the free slots. */
  jobs: FetchedJob[];
  /** Set when nothing was waiting: block on the tier streams after these ids. */
  lastIds?: string[];
  /** Set when the queue is paused: nothing was claimed. */
  paused?: true;
}

/** The checkpoint hash of a job that saved nothing yet (most jobs): one shared, frozen record. */
const NOTHING_SAVED: JobRecord = Object.freeze({}) as JobRecord;

/**
 * Records the outcomes of finished attempts and claims up to `fetchCount` new
 * jobs for `consumer`, highest tier first, in one call.
 */
export async function settle(
  ctx: QueueContext,
  consumer: string,
  outcomes: readonly SettledOutcome[],
  fetchCount: number,
  /** Claim nothing while this key exists (see `QueueKeys.wake`). */
  unlessExists?: string,
): Promise<SettleReply> {
  const flat: (string | number)[] = [];
  let scheduled: string[] | undefined;
  for (const { job, outcome } of outcomes) {
    encodeOutcome(flat, job, outcome);
    if (job.scheduleId !== undefined) (scheduled ??= []).push(job.id);
  }
  const encoded = JSON.stringify(flat);
  const args = [ctx.keys.base, CONSUMER_GROUP, consumer, fetchCount, ctx.maxEvents, encoded, publishCommand(ctx), scheduled ? JSON.stringify(scheduled) : ''];
  if (unlessExists !== undefined) args.push(unlessExists);
  const reply = JSON.parse(await script.run<string>(ctx.connection, ctx.keys.lanes(ctx.tiers.length), args)) as unknown[];
  const replies = reply.slice(0, outcomes.length).map(String) as FinishReply[];
  const now = Number(reply[outcomes.length]);
  if (reply.length === outcomes.length + 1) return { replies, jobs: [] };
  const found = Number(reply[outcomes.length + 1]);
  if (found === 2) return { replies, jobs: [], paused: true };
  const payload = reply[outcomes.length + 2] as unknown[];
  if (found === 0) return { replies, jobs: [], lastIds: payload.map(String) };
  const jobs: FetchedJob[] = [];
  const startedAt = String(now);
  for (let i = 0; i + 5 < payload.length; i += 6) {
    const checkpoint = payload[i + 1];
    const others = payload[i + 5];
    // one shape for every started job's record (a stored hash says "waiting": its pending entry makes it active)
    const record: JobRecord = {
      spec: payload[i + 2] as string,
      entry: payload[i + 3] as string,
      tier: payload[i + 4] as string,
      state: 'active',
      startedAt,
      owner: consumer,
    };
    if (Array.isArray(others)) {
      for (let f = 0; f + 1 < others.length; f += 2) {
        const name = String(others[f]);
        if (name !== 'startedAt' && name !== 'owner') record[name] = String(others[f + 1]); // this attempt's own
      }
    }
    jobs.push({
      entryId: record.entry!,
      tier: Number(record.tier),
      id: String(payload[i]),
      scheduleId: record.scheduleId,
      // an empty checkpoint hash comes as {}
      saved: Array.isArray(checkpoint) && checkpoint.length > 0 ? toRecord(checkpoint) : NOTHING_SAVED,
      record,
      startedAt: now,
    });
  }
  return { replies, jobs };
}

/** Appends one outcome as the settle script takes it: kind, job, then what the kind needs (see settle.lua). */
function encodeOutcome(flat: (string | number)[], job: HeldJob, outcome: AttemptOutcome): void {
  const startedAt = String(job.startedAt);
  switch (outcome.outcome) {
    case 'completed': {
      if (outcome.retention === undefined || outcome.retention === false) {
        flat.push('c', job.id, job.tier, job.entryId, startedAt, outcome.resultJson);
        return;
      }
      const [keepCount, keepAge] = retentionArgs(outcome.retention);
      flat.push('C', job.id, job.tier, job.entryId, startedAt, outcome.resultJson, keepCount, keepAge);
      return;
    }
    case 'canceled':
      flat.push('x', job.id, job.tier, job.entryId, startedAt, outcome.reason, outcome.by ?? '');
      return;
    case 'failed': {
      const [keepCount, keepAge] = retentionArgs(outcome.retention);
      flat.push('f', job.id, job.tier, job.entryId, startedAt, outcome.error, outcome.stack, outcome.retryAt ?? -1, keepCount, keepAge);
      return;
    }
  }
}

export type FetchReply =
  | { jobs: FetchedJob[] }
  /** Nothing was waiting: block on the tier streams after these ids. */
  | { jobs: []; lastIds: string[] }
  /** The queue is paused. */
  | { jobs: []; paused: true };

/** Claims and starts up to `count` jobs for `consumer`: a round with no outcome. */
export async function fetchJobs(ctx: QueueContext, consumer: string, count: number): Promise<FetchReply> {
  const { jobs, lastIds, paused } = await settle(ctx, consumer, [], count);
  if (paused) return { jobs: [], paused };
  return lastIds && jobs.length === 0 ? { jobs: [], lastIds } : { jobs };
}

/** Records one attempt's outcome if `consumer` still owns the job: a round that claims nothing. */
export async function finishJob(
  ctx: QueueContext,
  consumer: string,
  job: HeldJob,
  outcome: AttemptOutcome,
): Promise<FinishReply> {
  const { replies } = await settle(ctx, consumer, [{ job, outcome }], 0);
  return replies[0]!;
}
