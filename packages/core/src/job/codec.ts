import { fromJson } from './serialize.js';
import type { QueueEvent } from '../events.js';
import type { ActiveJob, Job, JobState, StoredJobOptions } from './types.js';

/** A job hash as Redis returns it: field name to string value. */
export type JobRecord = Record<string, string>;

/** Turns a flat `[field, value, ...]` reply (HGETALL) into a record. */
export function toRecord(flat: readonly unknown[], offset = 0): JobRecord {
  const record: JobRecord = {};
  for (let i = offset; i + 1 < flat.length; i += 2) record[String(flat[i])] = String(flat[i + 1]);
  return record;
}

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined || value === '' ? undefined : Number(value);
}

/** Decodes a stored job. `tiers` maps the tier index to its name. */
export function decodeJob<Data = unknown, Result = unknown>(
  id: string,
  record: JobRecord,
  tiers: readonly string[],
): Job<Data, Result> {
  const tier = Number(record.tier ?? 0);
  const attemptsMade = Number(record.attemptsMade ?? 0);
  const state = (record.state ?? 'waiting') as JobState;
  const job: Job<Data, Result> = {
    id,
    name: record.name ?? '',
    data: fromJson(record.data) as Data,
    state,
    priority: tiers[tier] ?? String(tier),
    tier,
    // attemptsMade counts failed attempts, so a failed job's last attempt is the last counted one
    attempt: state === 'failed' ? Math.max(1, attemptsMade) : attemptsMade + 1,
    attemptsMade,
    stalls: Number(record.stalls ?? 0),
    opts: (fromJson(record.opts) ?? { attempts: 1 }) as StoredJobOptions,
    createdAt: Number(record.createdAt ?? 0),
    checkpoint: null, // lives in the job's checkpoint hash; readers fill it in
  };
  const optional = {
    dueAt: optionalNumber(record.dueAt),
    startedAt: optionalNumber(record.startedAt),
    scheduleId: record.scheduleId,
    scheduledFor: optionalNumber(record.scheduledFor),
    finishedAt: optionalNumber(record.finishedAt),
    progress: fromJson(record.progress),
    result: fromJson(record.result) as Result | undefined,
    cancelReason: record.cancelReason,
    canceledBy: record.canceledBy || undefined,
    error: record.error,
    stack: record.stack || undefined,
  };
  for (const [key, value] of Object.entries(optional)) {
    if (value !== undefined) (job as unknown as Record<string, unknown>)[key] = value;
  }
  return job;
}

/** The view of a job a handler gets. */
export function toActiveJob<Data>(job: Job<Data>): ActiveJob<Data> {
  const startedAt = job.startedAt ?? Date.now();
  const schedule =
    job.scheduledFor === undefined
      ? {}
      : { scheduleId: job.scheduleId!, scheduledFor: job.scheduledFor, lateMs: Math.max(0, startedAt - job.scheduledFor) };
  return {
    ...schedule,
    startedAt,
    id: job.id,
    name: job.name,
    data: job.data,
    priority: job.priority,
    tier: job.tier,
    attempt: job.attemptsMade + 1,
    attemptsMade: job.attemptsMade,
    checkpoint: job.checkpoint,
    opts: job.opts,
    createdAt: job.createdAt,
  };
}

/** What `waitFor` knows of a job its retention removed: the outcome from its final event. */
export function jobFromFinalEvent<Data, Result>(id: string, event: QueueEvent): Job<Data, Result> {
  const state = event.name === 'job:completed' ? 'completed' : event.name === 'job:canceled' ? 'canceled' : 'failed';
  const job: Job<Data, Result> = {
    id,
    name: '',
    data: undefined as Data,
    state,
    priority: '',
    tier: -1,
    attempt: 0,
    attemptsMade: 0,
    stalls: 0,
    opts: { attempts: 1 },
    createdAt: 0,
    checkpoint: null,
  };
  if (event.fields.error !== undefined) job.error = event.fields.error;
  return job;
}
