/**
 * Job states. `waiting` jobs sit in a tier stream; `active` ones have been
 * delivered to a worker; `delayed` ones wait in the delayed set for their due
 * time (first run or retry). The last three are final.
 */
export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'canceled';

export const FINAL_STATES: readonly JobState[] = ['completed', 'failed', 'canceled'];

export type BackoffOptions =
  | { type: 'fixed'; delay: number; jitter?: number }
  | { type: 'exponential'; delay: number; jitter?: number; maxDelay?: number };

/**
 * What to keep of finished jobs: `true` removes at once, `false` keeps all,
 * a number keeps the newest N, `{ age, count }` keeps those younger than
 * `age` ms and at most `count`.
 */
export type RetentionOptions = boolean | number | { age?: number; count?: number };

export interface JobOptions {
  /** Tier name or index (0 is the highest). Default: the queue's `defaultPriority`. */
  priority?: string | number;
  /** Milliseconds from now before the job may start. */
  delay?: number;
  /** Absolute time before which the job may not start. Exclusive with `delay`. */
  runAt?: Date | number;
  /** Your id for the job: adding an existing id returns that job and writes nothing. */
  jobId?: string;
  /** Total attempts, first run included. Default 1. */
  attempts?: number;
  /** Wait between failed attempts. Default: none (retry at once). */
  backoff?: BackoffOptions | number;
  /** Milliseconds an attempt may run before its signal aborts and it fails. */
  timeout?: number;
  /** Retention of the job once completed. Default: the queue's (keep all). */
  removeOnComplete?: RetentionOptions;
  /** Retention of the job once failed (it stays in the dead-letter set while kept). */
  removeOnFail?: RetentionOptions;
}

/** Options as stored with a job: validated, defaults applied, tier resolved. */
export interface StoredJobOptions {
  attempts: number;
  backoff?: Exclude<BackoffOptions, number>;
  timeout?: number;
  removeOnComplete?: RetentionOptions;
  removeOnFail?: RetentionOptions;
}

/** A job as seen by `getJob`, `add` and event listeners. */
export interface Job<Data = unknown, Result = unknown> {
  id: string;
  name: string;
  data: Data;
  state: JobState;
  /** Tier name. */
  priority: string;
  /** Tier index, 0 the highest. */
  tier: number;
  /** Number of the current (or last) attempt, from 1. */
  attempt: number;
  /** Attempts that ended in an error so far. */
  attemptsMade: number;
  /** Times a worker died or stalled while running this job. */
  stalls: number;
  opts: StoredJobOptions;
  createdAt: number;
  /** When a delayed job or a retry becomes due. */
  dueAt?: number;
  startedAt?: number;
  finishedAt?: number;
  progress?: unknown;
  result?: Result;
  /** Why and by whom the job was canceled, when it was and they were given. */
  cancelReason?: string;
  canceledBy?: string;
  /** Last error message, and its stack. */
  error?: string;
  stack?: string;
  /** Last saved checkpoint state (see `ctx.checkpoint`), or null. */
  checkpoint: unknown;
  /** For a run of a repeat schedule: the schedule, and the occurrence's nominal time. */
  scheduleId?: string;
  scheduledFor?: number;
}

/** A job as handed to a handler. */
export interface ActiveJob<Data = unknown> {
  id: string;
  name: string;
  data: Data;
  priority: string;
  tier: number;
  attempt: number;
  attemptsMade: number;
  checkpoint: unknown;
  opts: StoredJobOptions;
  createdAt: number;
  /** When this attempt started (Redis server time, ms). */
  startedAt: number;
  /** For a run of a repeat schedule: the schedule, the nominal time, and how late it started (ms). */
  scheduleId?: string;
  scheduledFor?: number;
  lateMs?: number;
}
