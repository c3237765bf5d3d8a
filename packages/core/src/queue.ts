import { nanoid } from 'nanoid';
import { RedisConnection, type ConnectionOptions } from './connection.js';
import { ClosedError, InvalidOptionsError, JobNotFoundError, WaitTimeoutError } from './errors.js';
import { EventInterest, lastEventId, readEvents, recentFinalEvent, type QueueEvent } from './events.js';
import { isQueuePaused, pauseQueue, resumeQueue } from './inspect.js';
import { JobWaiter } from './job-waiter.js';
import { decodeJob, jobFromFinalEvent, toRecord } from './job/codec.js';
import {
  assertOptionKeys,
  validateDefaultJobOptions,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_TIERS,
  positiveDuration,
  positiveInteger,
  resolveJobOptions,
  resolveTier,
  validateJobId,
  validateJobName,
  validateTiers,
} from './job/options.js';
import { fromJson, toJson } from './job/serialize.js';
import { FINAL_STATES, type Job, type JobOptions } from './job/types.js';
import { QueueKeys } from './keys.js';
import { resolveLogger, type Logger } from './logger.js';
import { addJobs, type EncodedJob } from './scripts/add.js';
import { cancelJobs, type CancelOptions } from './scripts/cancel.js';
import type { QueueContext } from './scripts/context.js';
import { countJobs, type JobCounts } from './scripts/counts.js';
import { readJob } from './scripts/get-job.js';
import { initQueue } from './scripts/init.js';
import { retryDead } from './scripts/retry-dead.js';
import { upsertSchedule } from './scripts/upsert-schedule.js';
import { removeSchedule } from './scripts/unschedule.js';
import { pauseSchedule } from './scripts/pause-schedule.js';
import { normalizeSpec, type ScheduleSpec } from './schedule/spec.js';
import { nextOccurrence } from './schedule/occurrences.js';
import { firstOccurrence } from './schedule/plan.js';
import { decodeSchedule, type ScheduleInfo, type ScheduleTemplate, type StoredTemplate } from './schedule/record.js';
import { encodeTemplate, validateScheduleId } from './schedule/template.js';
import { loadTracing, tracingEnabled, type JobTracing } from './tracing.js';

export const DEFAULT_PREFIX = 'sj';
export const DEFAULT_MAX_EVENTS = 10_000;

export interface QueueOptions {
  /** node-redis client options (`{ url }`), or a client you own. */
  connection: ConnectionOptions;
  /** Start of every key name. Default `sj`. */
  prefix?: string;
  /**
   * Priority tiers, highest first. Default critical, high, normal, low. Fixed
   * when the queue is first used; every process must then agree.
   */
  tiers?: string[];
  /** Tier of jobs added without `priority`. Default `normal`, else the middle tier. */
  defaultPriority?: string | number;
  /** Options every job starts from. */
  defaultJobOptions?: Omit<JobOptions, 'jobId' | 'delay' | 'runAt'>;
  /** Largest accepted `data`, as JSON bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Approximate length the events stream is capped at. Default 10,000. */
  maxEvents?: number;
  /** How long a call waits for Redis before rejecting with `ConnectionError`. Default 5 s. */
  connectTimeout?: number;
  logger?: Logger;
  /**
   * Carry the caller's OpenTelemetry trace context in each job added, for the
   * worker's span to link to. Needs `@opentelemetry/api` installed. Default false.
   */
  tracing?: boolean;
}

export interface BulkJob<Data = unknown> {
  name: string;
  data: Data;
  opts?: JobOptions;
}

const CANCEL_OPTION_KEYS = new Set(['reason', 'by']);

const QUEUE_OPTION_KEYS = new Set([
  'connection',
  'prefix',
  'tiers',
  'defaultPriority',
  'defaultJobOptions',
  'maxPayloadBytes',
  'maxEvents',
  'connectTimeout',
  'logger',
  'tracing',
]);

/**
 * Adds jobs to a queue and looks at them. Any number of `Queue` objects in any
 * number of processes may address the same queue; they share nothing but Redis.
 * Every write is one Lua script, so a job is stored whole or not at all.
 */
export class Queue {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly logger: Logger;
  private readonly connection: RedisConnection;
  private readonly wantedTiers: string[] | undefined;
  private tiers: readonly string[];
  private readonly defaultPriority: string | number | undefined;
  private readonly defaultJobOptions: JobOptions;
  private readonly maxPayloadBytes: number;
  private readonly maxEvents: number;
  private readonly waiter: JobWaiter;
  private readonly eventInterest: EventInterest;
  /** Set when tracing is on: the OpenTelemetry API, loading. */
  private readonly tracing: Promise<JobTracing> | undefined;
  private initialised: Promise<void> | undefined;
  private closed = false;

  constructor(name: string, options: QueueOptions) {
    assertOptionKeys(options, QUEUE_OPTION_KEYS, 'Queue');
    this.name = name;
    this.keys = new QueueKeys(options.prefix ?? DEFAULT_PREFIX, name);
    this.wantedTiers = options.tiers === undefined ? undefined : validateTiers(options.tiers);
    this.tiers = this.wantedTiers ?? DEFAULT_TIERS;
    this.defaultPriority = options.defaultPriority;
    this.defaultJobOptions = validateDefaultJobOptions(options.defaultJobOptions);
    this.maxPayloadBytes =
      options.maxPayloadBytes === undefined
        ? DEFAULT_MAX_PAYLOAD_BYTES
        : positiveInteger('maxPayloadBytes', options.maxPayloadBytes);
    this.maxEvents = options.maxEvents === undefined ? DEFAULT_MAX_EVENTS : positiveInteger('maxEvents', options.maxEvents);
    // Fail now, not at the first add, on bad defaults.
    resolveJobOptions(this.defaultJobOptions, {}, this.tiers, this.defaultTier());
    if (options.connection === undefined) throw new InvalidOptionsError('connection', 'is required');
    const tracing = tracingEnabled(options.tracing);
    this.logger = resolveLogger(options.logger, 'streamjobs:queue');
    const connectTimeout =
      options.connectTimeout === undefined ? undefined : positiveInteger('connectTimeout', options.connectTimeout);
    this.connection = RedisConnection.shared(options.connection, connectTimeout);
    this.eventInterest = new EventInterest(this.connection, this.keys.listeners);
    this.waiter = new JobWaiter(this.connection, this.keys.events, this.eventInterest, this.logger);
    if (tracing) {
      this.tracing = loadTracing();
      this.tracing.catch(() => undefined); // a missing package is reported by the first add
    }
  }

  /**
   * Adds a job. With `jobId`, adding an existing id writes nothing and
   * returns the existing job. Rejects with a typed error, before anything is
   * written, on invalid options or data.
   */
  async add<Data>(name: string, data: Data, opts?: JobOptions): Promise<Job<Data>> {
    const [job] = await this.addBulk([{ name, data, ...(opts ? { opts } : {}) }]);
    return job!;
  }

  /** Adds many jobs in one atomic call: all are validated before any is written. */
  async addBulk<Data>(jobs: readonly BulkJob<Data>[]): Promise<Job<Data>[]> {
    this.assertOpen();
    if (!Array.isArray(jobs)) throw new InvalidOptionsError('jobs', 'must be an array');
    await this.learnTiers();
    const trace = this.tracing && (await this.tracing).capture();
    const encoded = this.encodeAll(jobs, trace); // everything is checked before the first write
    await this.init();
    if (encoded.length === 0) return [];
    const replies = await addJobs(this.context(), encoded);
    return replies.map((reply, index) => {
      const job = encoded[index]!;
      if (!reply.created) return decodeJob<Data>(job.id, reply.record, this.tiers);
      return decodeJob<Data>(
        job.id,
        {
          name: job.name,
          data: job.dataJson,
          opts: job.optsJson,
          tier: String(job.tier),
          state: reply.state,
          createdAt: String(reply.createdAt),
          attemptsMade: '0',
          stalls: '0',
          ...(reply.dueAt ? { dueAt: String(reply.dueAt) } : {}),
        },
        this.tiers,
      );
    });
  }

  /** The job, or null when it does not exist (never added, or removed by retention). */
  async getJob<Data = unknown, Result = unknown>(id: string): Promise<Job<Data, Result> | null> {
    this.assertOpen();
    validateJobId(id);
    await this.init();
    const stored = await readJob(this.context(), id);
    if (!stored) return null;
    const job = decodeJob<Data, Result>(id, stored.record, this.tiers);
    job.checkpoint = fromJson(stored.checkpoint) ?? null;
    return job;
  }

  /** Jobs per state (and waiting jobs per tier), in one consistent snapshot. */
  async counts(): Promise<JobCounts> {
    this.assertOpen();
    await this.init();
    return countJobs(this.context());
  }

  /**
   * Resolves once the job is completed, failed or canceled, with the job as
   * stored then (only `id`, `state` and `error` when retention removed it at
   * once). Rejects with `WaitTimeoutError` after `timeoutMs` (default 30 s).
   */
  async waitFor<Data = unknown, Result = unknown>(id: string, options: { timeoutMs?: number } = {}): Promise<Job<Data, Result>> {
    this.assertOpen();
    validateJobId(id);
    const timeoutMs = options.timeoutMs === undefined ? 30_000 : positiveDuration('timeoutMs', options.timeoutMs);
    await this.init();
    const { event, cancel } = await this.waiter.register(id, timeoutMs);
    const job = await this.getJob<Data, Result>(id);
    if (!job || FINAL_STATES.includes(job.state)) cancel();
    if (!job) {
      const finished = await recentFinalEvent(this.connection, this.keys.events, id);
      if (!finished) throw new JobNotFoundError(id);
      return jobFromFinalEvent<Data, Result>(id, finished);
    }
    if (FINAL_STATES.includes(job.state)) return job;
    const final = await event;
    if (!final) throw new WaitTimeoutError(id, timeoutMs);
    return (await this.getJob<Data, Result>(id)) ?? { ...jobFromFinalEvent<Data, Result>(id, final), name: job.name, data: job.data };
  }

  /**
   * Cancels a job in any state, from any process: a waiting or delayed job
   * never starts; a running one's signal aborts wherever it runs, and its late
   * outcome is discarded. Resolves true when the job was canceled by this
   * call, false when it was already final (or does not exist). With an array
   * of ids, resolves with one such answer per id, in order.
   */
  async cancel(id: string, options?: CancelOptions): Promise<boolean>;
  async cancel(ids: readonly string[], options?: CancelOptions): Promise<boolean[]>;
  async cancel(idOrIds: string | readonly string[], options: CancelOptions = {}): Promise<boolean | boolean[]> {
    this.assertOpen();
    const ids = typeof idOrIds === 'string' ? [idOrIds] : idOrIds;
    if (!Array.isArray(ids)) throw new InvalidOptionsError('ids', 'must be a job id or an array of job ids');
    ids.forEach((id) => validateJobId(id));
    assertOptionKeys(options, CANCEL_OPTION_KEYS, 'cancel');
    for (const key of ['reason', 'by'] as const) {
      if (options[key] !== undefined && typeof options[key] !== 'string') {
        throw new InvalidOptionsError(key, 'must be a string');
      }
    }
    await this.init();
    const canceled = await cancelJobs(this.context(), ids, options);
    return typeof idOrIds === 'string' ? canceled[0]! : canceled;
  }

  /**
   * Defines a repeat schedule, or changes it (upsert by id). Every occurrence
   * becomes one job, id `<schedule id>@<nominal ms>`, whose handler sees
   * `job.scheduledFor`. Defining the same schedule again (every process of a
   * deploy may do so at start-up) changes nothing; a changed spec or template
   * takes effect from now. Throws `InvalidOptionsError` on a bad spec, cron
   * expression, time zone or template, before anything is written.
   */
  async schedule<Data>(id: string, spec: ScheduleSpec, template: ScheduleTemplate<Data>): Promise<ScheduleInfo> {
    this.assertOpen();
    validateScheduleId(id);
    const normalized = normalizeSpec(spec);
    await this.learnTiers();
    const templateJson = JSON.stringify(this.encodeTemplate(template)); // all checks before the first write
    await this.init();
    const now = await this.serverTime();
    await upsertSchedule(this.context(), id, {
      specJson: JSON.stringify(normalized),
      templateJson,
      first: firstOccurrence(normalized, now),
      now,
    });
    return (await this.getSchedule(id))!;
  }

  /**
   * Removes a schedule: no further occurrence runs, and occurrences held back
   * by `overlap: 'buffer'` are canceled. With `cancelRunning`, its recent
   * occurrences that are waiting or running are canceled too. Resolves false
   * when there was no such schedule.
   */
  async unschedule(id: string, options: { cancelRunning?: boolean; reason?: string } = {}): Promise<boolean> {
    this.assertOpen();
    validateScheduleId(id);
    await this.init();
    const removed = await removeSchedule(this.context(), id);
    if (!removed) return false;
    const toCancel = options.cancelRunning ? [...removed.heldBack, ...removed.recent] : removed.heldBack;
    const reason = options.reason ?? `schedule ${id} removed`;
    for (let i = 0; i < toCancel.length; i += 500) {
      await cancelJobs(this.context(), toCancel.slice(i, i + 500), { reason, by: 'unschedule' });
    }
    return true;
  }

  /** Pauses a schedule: nothing runs until `resumeSchedule`. Resolves false if unknown or already paused. */
  async pauseSchedule(id: string): Promise<boolean> {
    this.assertOpen();
    validateScheduleId(id);
    await this.init();
    return (await pauseSchedule(this.context(), id, { pause: true })) === 'changed';
  }

  /** Resumes a paused schedule from now: occurrences due while paused do not run. */
  async resumeSchedule(id: string): Promise<boolean> {
    this.assertOpen();
    validateScheduleId(id);
    for (;;) {
      const info = await this.getSchedule(id);
      if (!info || !info.paused) return false;
      const now = await this.serverTime();
      const next = nextOccurrence(info.spec, info.anchor, now);
      const reply = await pauseSchedule(this.context(), id, { pause: false, next, version: info.version });
      if (reply !== 'conflict') return reply === 'changed';
    }
  }

  /** One schedule, or null. */
  async getSchedule(id: string): Promise<ScheduleInfo | null> {
    this.assertOpen();
    validateScheduleId(id);
    await this.init();
    const flat = await this.connection.call<unknown[]>(['HGETALL', this.keys.schedule(id)]);
    return flat.length === 0 ? null : decodeSchedule(id, toRecord(flat));
  }

  /** Every schedule of the queue, with its spec, next and last run, and counters. */
  async schedules(): Promise<ScheduleInfo[]> {
    this.assertOpen();
    await this.init();
    const ids = (await this.connection.call<unknown[]>(['SMEMBERS', this.keys.scheduleIds])).map(String).sort();
    const found = await Promise.all(ids.map((id) => this.getSchedule(id)));
    return found.filter((info): info is ScheduleInfo => info !== null);
  }

  /** Dead-lettered jobs (failed for good, or unreadable entries), oldest first. */
  async deadLetters(options: { offset?: number; count?: number } = {}): Promise<Job[]> {
    this.assertOpen();
    await this.init();
    const offset = options.offset ?? 0;
    const ids = await this.connection.call<string[]>([
      'ZRANGE',
      this.keys.dead,
      offset,
      offset + (options.count ?? 100) - 1,
    ]);
    const jobs = await Promise.all(ids.map((id) => this.getJob(String(id))));
    return jobs.filter((job): job is Job => job !== null);
  }

  /**
   * Runs a dead-lettered job again with fresh attempts. Returns false when the
   * job is not dead-lettered; throws for an unreadable entry (nothing to run).
   */
  async retryDead(id: string): Promise<boolean> {
    this.assertOpen();
    validateJobId(id);
    await this.init();
    const reply = await retryDead(this.context(), id);
    if (reply === 'unreadable') {
      throw new InvalidOptionsError('id', `${id} is an unreadable stream entry, not a job: there is nothing to retry`);
    }
    return reply === 'requeued';
  }

  /**
   * Pauses the queue: no worker starts a new job until `resume()`. Running
   * jobs finish, and delayed jobs still become due (and wait). Resolves false
   * when it was paused already.
   */
  async pause(): Promise<boolean> {
    this.assertOpen();
    await this.init();
    return pauseQueue(this.connection, this.keys);
  }

  /** Lets workers start jobs again. Resolves false when the queue was not paused. */
  async resume(): Promise<boolean> {
    this.assertOpen();
    return resumeQueue(this.connection, this.keys);
  }

  async isPaused(): Promise<boolean> {
    this.assertOpen();
    return isQueuePaused(this.connection, this.keys);
  }

  /**
   * Events after `afterId` (default: from the oldest retained), at most `count`.
   * `job:completed` events are written only while some process reads events
   * (this, `lastEventId` or `waitFor` within the last five minutes): the
   * first read starts them.
   */
  async readEvents(afterId = '0-0', count = 100, blockMs?: number): Promise<QueueEvent[]> {
    this.assertOpen();
    await this.eventInterest.renew();
    return readEvents(this.connection, this.keys.events, afterId, count, blockMs);
  }

  /** Id of the newest event: read from there to see only what comes next. */
  async lastEventId(): Promise<string> {
    this.assertOpen();
    await this.eventInterest.renew();
    return lastEventId(this.connection, this.keys.events);
  }

  /** Tier names in force, highest first (after the queue is first used). */
  async getTiers(): Promise<readonly string[]> {
    await this.init();
    return this.tiers;
  }

  /** Closes the queue's connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.waiter.close();
    this.connection.close();
  }

  /**
   * Before the first write, the tiers the queue already uses (read, not
   * written), so options can be checked against them without creating keys.
   */
  private async learnTiers(): Promise<void> {
    if (this.initialised || this.wantedTiers) return;
    const stored = await this.connection.call<string | null>(['HGET', this.keys.meta, 'tiers']);
    if (stored) this.tiers = JSON.parse(stored) as string[];
  }

  private init(): Promise<void> {
    this.initialised ??= initQueue(this.connection, this.keys, this.wantedTiers).then(
      (tiers) => {
        this.tiers = tiers;
      },
      (err: unknown) => {
        this.initialised = undefined;
        throw err;
      },
    );
    return this.initialised;
  }

  private context(): QueueContext {
    return { connection: this.connection, keys: this.keys, tiers: this.tiers, maxEvents: this.maxEvents };
  }

  private defaultTier(): number {
    if (this.defaultPriority !== undefined) return resolveTier(this.defaultPriority, this.tiers, 'defaultPriority');
    const normal = this.tiers.indexOf('normal');
    return normal >= 0 ? normal : Math.floor((this.tiers.length - 1) / 2);
  }

  private encodeAll<Data>(jobs: readonly BulkJob<Data>[], trace: string | undefined): EncodedJob[] {
    const defaultTier = this.defaultTier();
    return jobs.map((job, index) => {
      if (typeof job !== 'object' || job === null) throw new InvalidOptionsError(`jobs[${index}]`, 'must be an object');
      const resolved = resolveJobOptions(job.opts, this.defaultJobOptions, this.tiers, defaultTier);
      const encoded: EncodedJob = {
        id: resolved.jobId ?? nanoid(),
        idIsNew: resolved.jobId === undefined,
        name: validateJobName(job.name),
        dataJson: toJson('job data', job.data, this.maxPayloadBytes),
        optsJson: JSON.stringify(resolved.stored),
        tier: resolved.tier,
        delay: resolved.delay,
      };
      if (resolved.runAt !== undefined) encoded.runAt = resolved.runAt;
      if (trace !== undefined) encoded.trace = trace;
      return encoded;
    });
  }

  private encodeTemplate(template: unknown): StoredTemplate {
    return encodeTemplate(template, (opts) => resolveJobOptions(opts, this.defaultJobOptions, this.tiers, this.defaultTier()), this.maxPayloadBytes);
  }

  /** Redis server time (ms): schedules use one clock, whatever the callers' clocks say. */
  private async serverTime(): Promise<number> {
    // on a cluster: the clock of the queue's node, which its scripts read
    const [seconds, micros] = await this.connection.call<string[]>(['TIME'], this.keys.meta);
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`Queue "${this.name}"`);
  }
}
