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

type ImmutablePart = [name: string, data: unknown, opts: StoredJobOptions, createdAt: number];

/**
 * A job's name, data, options and creation time. They are stored together in
 * one field, `spec`, the JSON text `[name, data, opts, createdAt]`, written
 * once when the job is made: a worker's claim reads and returns one field
 * instead of four. Hashes stored before `spec` existed keep the four fields.
 */
function immutablePart(record: JobRecord): ImmutablePart {
  if (record.spec) {
    const [name, data, opts, createdAt] = JSON.parse(record.spec) as ImmutablePart;
    return [name, data, opts ?? { attempts: 1 }, createdAt ?? 0];
  }
  return [
    record.name ?? '',
    fromJson(record.data),
    (fromJson(record.opts) ?? { attempts: 1 }) as StoredJobOptions,
    Number(record.createdAt ?? 0),
  ];
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
  const [name, data, opts, createdAt] = immutablePart(record);
  const job: Job<Data, Result> = {
    id,
    name,
    data: data as Data,
    state,
    priority: tiers[tier] ?? String(tier),
    tier,
    // attemptsMade counts failed attempts, so a failed job's last attempt is the last counted one
    attempt: state === 'failed' ? Math.max(1, attemptsMade) : attemptsMade + 1,
    attemptsMade,
    stalls: Number(record.stalls ?? 0),
    opts,
    createdAt,
    checkpoint: null, // lives in the job's checkpoint hash; readers fill it in
  };
  // optional fields are present only when stored: no key holds undefined
  const optional = job as unknown as Record<string, unknown>;
  if (record.dueAt) optional.dueAt = Number(record.dueAt);
  if (record.startedAt) optional.startedAt = Number(record.startedAt);
  if (record.scheduleId !== undefined) optional.scheduleId = record.scheduleId;
  if (record.scheduledFor) optional.scheduledFor = Number(record.scheduledFor);
  if (record.finishedAt) optional.finishedAt = Number(record.finishedAt);
  if (record.progress) optional.progress = fromJson(record.progress);
  if (record.result) optional.result = fromJson(record.result);
  if (record.cancelReason !== undefined) optional.cancelReason = record.cancelReason;
  if (record.canceledBy) optional.canceledBy = record.canceledBy;
  if (record.error !== undefined) optional.error = record.error;
  if (record.stack) optional.stack = record.stack;
  return job;
}

/** The view of a job a handler gets. */
export function toActiveJob<Data>(job: Job<Data>): ActiveJob<Data> {
  const startedAt = job.startedAt ?? Date.now();
  const active: ActiveJob<Data> = {
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
  if (job.scheduledFor !== undefined) {
    active.scheduleId = job.scheduleId!;
    active.scheduledFor = job.scheduledFor;
    active.lateMs = Math.max(0, startedAt - job.scheduledFor);
  }
  return active;
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
